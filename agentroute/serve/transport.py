"""One chat (or text) completion exchanged with an endpoint, plain or streamed, read into a ``Reply``.

Uses ``httpx`` (pooled connections, per-read timeouts, streamed bodies). A stream's pieces go to
``on_text`` as they arrive: ``agentroute serve``'s raw pieces (the reply as the model writes it,
call markup included, as ``RoutedModel.generate`` streams it), else the engine's content deltas;
once the reply is complete, whatever of its text has not streamed yet (an engine's parsed calls,
written back as ``<tool_call>`` lines) follows, so the pieces always add up to the reply's text.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agentroute.serve.endpoints import ServeError
from agentroute.serve.openai_format import EXTENSION, written_reply


@dataclass
class Reply:
    """What an endpoint answered: OpenAI's fields, AgentRoute's extension (``ours``) and the timings."""

    content: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    finish_reason: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    ours: dict[str, Any] = field(default_factory=dict)
    latency_s: float = 0.0
    ttft_s: float | None = None  # measured when streamed

    @property
    def raw_text(self) -> str:
        """The reply as the model wrote it: the server's, else content plus the calls written as lines."""
        raw = self.ours.get("raw_text")
        return raw if isinstance(raw, str) else written_reply(self.content, self.tool_calls)


CHAT, TEXT = "chat/completions", "completions"  # the two routes a step can go by


class Transport:
    """An HTTP client for chat completions; ``timeout`` bounds each read (seconds)."""

    def __init__(self, timeout: float = 600.0) -> None:
        try:
            import httpx
        except ImportError:
            raise ServeError("served models need httpx: pip install httpx") from None
        self._httpx = httpx
        self.client = httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)))

    def close(self) -> None:
        self.client.close()

    def models(self, url: str) -> list[dict[str, Any]]:
        """``GET {url}/models``'s model objects.

        Asked on a connection closed after the answer: a listing is asked once per endpoint, and an
        engine that fails it (``transformers serve`` answers 500 without a Hugging Face cache) may
        drop the connection, which a pooled keep-alive would hand to the next request (seen as a
        reset POST under load)."""
        body = self._call(url, lambda: self.client.get(f"{url}/models", headers={"Connection": "close"}))
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            raise ServeError(f"{url}/models did not list models as OpenAI's API does: {str(body)[:200]}")
        return [m for m in data if isinstance(m, dict)]

    def complete(
        self, url: str, body: dict[str, Any], on_text: Callable[[str], Any] | None = None, route: str = CHAT
    ) -> Reply:
        """POST one chat completion (``route=TEXT``: one completion of a written ``prompt``); streamed
        (and ``on_text`` fed) when ``on_text`` is given."""
        started = time.perf_counter()
        if on_text is None:
            answer = self._call(url, lambda: self.client.post(f"{url}/{route}", json=body))
            reply = _read_completion(url, answer)
        else:
            reply = self._call(url, lambda: self._stream(url, route, {**body, "stream": True}, on_text, started))
        reply.latency_s = time.perf_counter() - started
        return reply

    def _stream(
        self, url: str, route: str, body: dict[str, Any], on_text: Callable[[str], Any], started: float
    ) -> Reply:
        body["stream_options"] = {"include_usage": True}
        with self.client.stream("POST", f"{url}/{route}", json=body) as response:
            if response.status_code != 200:
                response.read()
                _raise_for(url, response)
            reader = _StreamReader(on_text, started)
            for line in response.iter_lines():
                if line.startswith("data:") and not reader.event(url, line[5:].strip()):
                    break
        return reader.finish()

    def _call(self, url: str, send: Callable[[], Any]) -> Any:
        httpx = self._httpx
        try:
            result = send()
        except httpx.TimeoutException as exc:
            why = type(exc).__name__
            raise ServeError(f"{url} did not answer in time ({why}); raise timeout= or check the server") from None
        except httpx.TransportError as exc:
            raise ServeError(f"cannot reach {url}: {exc}; is the server running?") from None
        if not isinstance(result, httpx.Response):
            return result
        if result.status_code != 200:
            _raise_for(url, result)
        try:
            return result.json()
        except ValueError:
            raise ServeError(f"{url} answered with something that is not JSON: {result.text[:200]!r}") from None


class _StreamReader:
    """Assembles a streamed reply from its events; feeds ``on_text`` as pieces arrive."""

    def __init__(self, on_text: Callable[[str], Any], started: float) -> None:
        self.on_text = on_text
        self.started = started
        self.reply = Reply()
        self.content: list[str] = []
        self.calls: dict[int, dict[str, Any]] = {}
        self.streamed: list[str] = []
        self.ours_seen = False

    def event(self, url: str, data: str) -> bool:
        """Read one ``data:`` event; False at ``[DONE]``."""
        if data == "[DONE]":
            return False
        try:
            event = json.loads(data)
        except ValueError:
            raise ServeError(f"{url} streamed an event that is not JSON: {data[:200]!r}") from None
        if "error" in event:
            raise ServeError(f"{url} failed mid-stream: {_message(event)}")
        ours = event.get(EXTENSION) or {}
        self.ours_seen = self.ours_seen or bool(ours)
        self.reply.ours.update({k: v for k, v in ours.items() if k != "raw"})
        self.reply.usage = event.get("usage") or self.reply.usage
        piece = ours.get("raw")
        for choice in event.get("choices") or []:
            delta = choice.get("delta") or {}
            text = delta.get("content") or choice.get("text")  # a chat delta, or a text completion's piece
            if text:
                self.content.append(text)
                piece = piece if self.ours_seen else text
            for call in delta.get("tool_calls") or []:
                self._merge_call(call)
            self.reply.finish_reason = choice.get("finish_reason") or self.reply.finish_reason
        if piece:
            self._emit(piece)
        return True

    def _merge_call(self, call: dict[str, Any]) -> None:
        """OpenAI streams a call in pieces by index: id and name first, arguments in fragments."""
        merged = self.calls.setdefault(int(call.get("index", len(self.calls))), {"function": {"arguments": ""}})
        if call.get("id"):
            merged["id"] = call["id"]
        function = call.get("function") or {}
        if function.get("name"):
            merged["function"]["name"] = function["name"]
        merged["function"]["arguments"] += function.get("arguments") or ""

    def _emit(self, piece: str) -> None:
        if self.reply.ttft_s is None:
            self.reply.ttft_s = time.perf_counter() - self.started
        self.streamed.append(piece)
        self.on_text(piece)

    def finish(self) -> Reply:
        reply = self.reply
        reply.content = "".join(self.content)
        reply.tool_calls = [self.calls[i] for i in sorted(self.calls)]
        streamed, raw = "".join(self.streamed), reply.raw_text
        if raw.startswith(streamed) and len(raw) > len(streamed):
            self._emit(raw[len(streamed) :])
        return reply


def _read_completion(url: str, body: Any) -> Reply:
    try:
        choice = body["choices"][0]
        # A text completion's choice holds its text where a chat completion's holds a message.
        message = choice["message"] if "text" not in choice else {"content": choice["text"]}
    except (KeyError, IndexError, TypeError):
        raise ServeError(f"{url} answered without choices[0].message or .text: {str(body)[:200]}") from None
    return Reply(
        content=message.get("content") or "",
        tool_calls=list(message.get("tool_calls") or []),
        finish_reason=choice.get("finish_reason"),
        usage=body.get("usage") or {},
        ours=body.get(EXTENSION) or {},
    )


def _message(body: Any) -> str:
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("message"))
    return str(error if error is not None else body)[:500]


def _raise_for(url: str, response: Any) -> None:
    try:
        detail = _message(response.json())
    except ValueError:
        detail = response.text[:500]
    raise ServeError(f"{url} answered {response.status_code}: {detail}")
