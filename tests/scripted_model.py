"""A RoutedModel stand-in for framework glue tests: scripted replies, read with the real parser.

The integrations' own logic (message conversion, streaming, tool-call plumbing, metadata) is what
these tests check; the real model runs in the integration tests beside them.
"""

from __future__ import annotations

import threading

from agentroute import GenerationCancelled, GenerationResult, StepRecord, parse_tool_calls
from agentroute.steps.call_formats import HAND_WRITTEN, CallFormat
from agentroute.steps.said_values import stated_today, worded_tool_names
from agentroute.steps.tools import normalize_tools
from agentroute.trace.trace_file import record_step


class ScriptedModel:
    """Replies with the next scripted text, streamed in ``piece``-sized deltas and parsed like the real one.

    ``gate``: an Event the model waits on after streaming its first piece (proves streaming is live).
    ``call_format``: how the scripted replies write calls (the hand-written format by default).
    ``said_values``: parse as a pack trained on said values (``agentroute.steps.said_values``).
    """

    name = "scripted"

    def __init__(
        self,
        *replies: str,
        piece: int = 5,
        gate: threading.Event | None = None,
        call_format: CallFormat = HAND_WRITTEN,
        said_values: bool = False,
    ) -> None:
        self.streamed_call_format = call_format
        self.said_values = said_values
        self.replies = list(replies)
        self.calls: list[dict] = []
        self.piece = piece
        self.gate = gate

    def held_call_names(self, tools) -> frozenset[str]:
        return worded_tool_names(tools) if self.said_values else frozenset()

    def generate(
        self, messages, program=None, *, tools=None, on_text=None, cancelled=None, hints=None, step_type=None, **options
    ):
        self.calls.append(
            {
                "messages": messages,
                "tools": tools,
                "hints": hints,
                "step_type": step_type,
                "on_text": on_text,
                **options,
            }
        )
        text = self.replies.pop(0)
        if on_text or cancelled:
            for start in range(0, len(text), self.piece):  # odd-sized pieces split tags across deltas
                if cancelled is not None and cancelled():  # asked at each piece, as the decode loop asks at each token
                    raise GenerationCancelled
                if on_text:
                    on_text(text[start : start + self.piece])
                if start == 0 and self.gate is not None:
                    assert self.gate.wait(5), "the consumer never saw the first chunk"
        specs = normalize_tools(tools)
        today = stated_today(messages) if isinstance(messages, list) else None
        parsed = parse_tool_calls(text, specs, today=today, said_values=self.said_values) if specs else None
        calls = parsed.tool_calls if parsed else []
        record = StepRecord(
            model=self.name,
            program="0-3",
            prefill_program="0-3",
            layers_per_token=4,
            layers_fraction=1.0,
            prompt_tokens=40 + len(messages),
            completion_tokens=len(text),
            ttft_s=0.01,
            latency_s=0.02,
            finish_reason="tool_calls" if calls else "stop",
            tool_calls=calls,
            error=parsed.error if parsed else None,
            said_arguments=parsed.said_arguments if parsed else [],
            hints=dict(hints or {}),
        )
        record_step(record)
        content = parsed.content if calls else text
        return GenerationResult(text=content, token_ids=list(range(len(text))), record=record, tool_calls=calls)
