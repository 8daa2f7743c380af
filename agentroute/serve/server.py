"""``agentroute serve``: one loaded ``RoutedModel`` behind an OpenAI-compatible HTTP API (stdlib only).

``GET /v1/models`` lists the one served name (with the model's layer count and depth policy under
``"agentroute"``), ``GET /health`` answers once the model is loaded, ``POST /v1/chat/completions``
runs one ``generate`` per request (``request`` reads the body, ``openai_format`` writes the
answer), and ``POST /v1/completions`` decodes a prompt the client wrote (token ids or text) at
full depth with no grammar (``text_request``), as an engine would. Requests are served on
threads; ``generate`` runs them one at a time on the model.

A stream's headers go out with its first piece, so a request that ``generate`` refuses before
decoding (a bad message, tool schema or option: every ``AgentRouteError``) is a 400 with the
core's message even when streamed. A client that goes away mid-stream stops the decode: the next
write fails inside ``on_text``, which ends ``generate`` and drops its half-written cache.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from agentroute.errors import AgentRouteError
from agentroute.serve.openai_format import (
    EXTENSION,
    RequestError,
    chunk_body,
    completion_body,
    error_body,
    extension,
    openai_tool_calls,
    usage,
)
from agentroute.serve.request import MAX_BODY, ChatRequest, read_body, read_request
from agentroute.serve.text_request import TextRequest, read_text_request, text_choice_body
from agentroute.steps.records import GenerationResult

log = logging.getLogger(__name__)


class ModelServer(ThreadingHTTPServer):
    """The HTTP server; ``model`` is the RoutedModel, ``name`` the model id clients send."""

    daemon_threads = True

    def __init__(self, model, name: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.model = model
        self.name = name
        self.created = int(time.time())
        super().__init__((host, port), _Handler)

    @property
    def url(self) -> str:
        """The bound base URL, e.g. ``http://127.0.0.1:8000/v1`` (port 0 resolved)."""
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/v1"

    def models_body(self) -> dict[str, Any]:
        model = self.model
        ours = {"model": model.name, "n_layers": model.n_layers, "policy": model.policy.model_dump(mode="json")}
        entry = {"id": self.name, "object": "model", "created": self.created, "owned_by": "agentroute"}
        return {"object": "list", "data": [{**entry, "agentroute": ours}]}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "agentroute"
    server: ModelServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        log.info("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        path = urlsplit(self.path).path.rstrip("/")
        if path in ("/v1/models", "/models"):
            self._json(HTTPStatus.OK, self.server.models_body())
        elif path == "/health":
            self._json(HTTPStatus.OK, {"status": "ok"})
        else:
            self._json(HTTPStatus.NOT_FOUND, error_body(f"no route GET {path}; try /v1/models", kind="not_found"))

    def do_POST(self) -> None:  # noqa: N802
        path = urlsplit(self.path).path.rstrip("/")
        if path in ("/v1/completions", "/completions"):
            self._serve(read_text_request, self._complete_text)
            return
        if path not in ("/v1/chat/completions", "/chat/completions"):
            self._drain()
            self._json(
                HTTPStatus.NOT_FOUND, error_body(f"no route POST {path}; try /v1/chat/completions", None, "not_found")
            )
            return
        self._serve(read_request, self._complete)

    def _serve(self, read, complete) -> None:
        """``complete`` the request ``read`` from the body; every failure answered in OpenAI's error shape."""
        stream = _Stream(self)
        try:
            request = read(read_body(self._body()))
            if request.model not in (None, self.server.name):
                raise RequestError(
                    f"model {request.model!r} is not served here; this server serves {self.server.name!r}", "model", 404
                )
            complete(request, stream)
        except (BrokenPipeError, ConnectionResetError):
            log.info("client went away; decode stopped")
        except RequestError as exc:
            stream.fail(exc.status, error_body(str(exc), exc.param))
        except AgentRouteError as exc:  # messages, tools, options, step type, budget: the core's own words
            stream.fail(HTTPStatus.BAD_REQUEST, error_body(str(exc)))
        except Exception as exc:  # noqa: BLE001 (answered, not swallowed: the client sees it and it is logged)
            log.exception("request failed")
            failed = error_body(f"{type(exc).__name__}: {exc}", kind="server_error")
            stream.fail(HTTPStatus.INTERNAL_SERVER_ERROR, failed)

    def _complete(self, request: ChatRequest, stream: _Stream) -> None:
        model, name = self.server.model, self.server.name
        completion_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        on_text = None
        if request.stream:
            first = {"role": "assistant", "content": ""}

            def on_text(piece: str) -> None:
                nonlocal first
                delta = {**(first or {}), **({} if request.has_tools else {"content": piece})}
                first = None
                stream.send(chunk_body(completion_id, created, name, delta, ours={"raw": piece}))

        result = model.generate(request.messages, **request.kwargs, on_text=on_text)
        raw_text = _raw_text(model.tokenizer, result, request.kwargs.get("stop"))
        if not request.stream:
            body = completion_body(
                result, completion_id=completion_id, created=created, model=name, raw_text=raw_text,
                max_calls=request.max_calls,
            )  # fmt: skip
            self._json(HTTPStatus.OK, body)
            return
        for delta in _closing_deltas(result, request, first):
            stream.send(chunk_body(completion_id, created, name, delta))
        final = chunk_body(completion_id, created, name, {}, result.record.finish_reason, extension(result, raw_text))
        stream.send(final)
        if request.include_usage:
            record = result.record
            ending = {**chunk_body(completion_id, created, name, {}), "choices": []}
            stream.send({**ending, "usage": usage(record.prompt_tokens, record.completion_tokens)})
        stream.done()

    def _complete_text(self, request: TextRequest, stream: _Stream) -> None:
        """A prompt written by the client, decoded at full depth with no tool grammar."""
        model, name = self.server.model, self.server.name
        completion_id, created = f"cmpl-{uuid.uuid4().hex}", int(time.time())
        ids = request.prompt_ids
        if ids is None:
            ids = model.tokenizer.encode(request.prompt_text, add_special_tokens=False)
        on_text = None
        if request.stream:

            def on_text(piece: str) -> None:
                stream.send(text_choice_body(completion_id, created, name, piece, None))

        result = model.generate_ids(ids, **request.kwargs, on_text=on_text)
        raw_text = _raw_text(model.tokenizer, result, request.kwargs.get("stop"))
        record = result.record
        if not request.stream:
            body = text_choice_body(completion_id, created, name, raw_text, record.finish_reason)
            body.update({"usage": usage(record.prompt_tokens, record.completion_tokens)})
            self._json(HTTPStatus.OK, {**body, EXTENSION: extension(result, raw_text)})
            return
        final = text_choice_body(completion_id, created, name, "", record.finish_reason)
        stream.send({**final, EXTENSION: extension(result, raw_text)})
        if request.include_usage:
            ending = {**text_choice_body(completion_id, created, name, "", None), "choices": []}
            stream.send({**ending, "usage": usage(record.prompt_tokens, record.completion_tokens)})
        stream.done()

    # -- plumbing ---------------------------------------------------------------------------------

    def _body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit() or int(length) > MAX_BODY:
            self.close_connection = True  # an unread body must not be read as the next request
            if length is None or not length.isdigit():
                raise RequestError("the request needs a Content-Length header and a JSON body", status=411)
            raise RequestError(f"the request body is over {MAX_BODY // 2**20} MiB", status=413)
        return self.rfile.read(int(length))

    def _drain(self) -> None:
        length = self.headers.get("Content-Length")
        if length and length.isdigit():
            self.rfile.read(int(length))

    def _json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _sse_headers(self) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")  # the stream ends when the connection does
        self.end_headers()
        self.close_connection = True


class _Stream:
    """Server-sent events for one request; headers go out with the first event."""

    def __init__(self, handler: _Handler) -> None:
        self.handler = handler
        self.started = False

    def send(self, body: dict[str, Any]) -> None:
        if not self.started:
            self.handler._sse_headers()
            self.started = True
        self._write(f"data: {json.dumps(body, ensure_ascii=False)}\n\n")

    def done(self) -> None:
        self._write("data: [DONE]\n\n")

    def fail(self, status: int, body: dict[str, Any]) -> None:
        """A plain JSON error before the stream began; an error event (then the end) after."""
        if not self.started:
            self.handler._json(status, body)
            return
        try:
            self._write(f"data: {json.dumps(body, ensure_ascii=False)}\n\n")
            self.done()
        except OSError:
            pass

    def _write(self, text: str) -> None:
        self.handler.wfile.write(text.encode())
        self.handler.wfile.flush()


def _closing_deltas(result: GenerationResult, request: ChatRequest, first: dict | None) -> list[dict[str, Any]]:
    """With tools, the parsed content and the calls (one delta per call, OpenAI's indexed form);
    without, only the role if nothing streamed (an empty reply)."""
    deltas = [first] if first else []
    if not request.has_tools:
        return deltas
    if result.text:
        deltas.append({"content": result.text})
    calls = result.tool_calls[: request.max_calls] if request.max_calls is not None else result.tool_calls
    for index, call in enumerate(openai_tool_calls(calls)):
        deltas.append({"tool_calls": [{"index": index, **call}]})
    return deltas


def _raw_text(tokenizer, result: GenerationResult, stop: Any) -> str:
    """The reply as decoded, before its calls were read out: the text the core's parser read."""
    text = tokenizer.decode(result.token_ids, skip_special_tokens=True)
    for s in [stop] if isinstance(stop, str) else stop or []:
        cut = text.find(s)
        if cut != -1:
            text = text[:cut]
    return text
