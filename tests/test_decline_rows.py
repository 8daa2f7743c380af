"""Rows of the no-tool-fits head: requests beside unrelated tools (``foreign_offers``)."""

from __future__ import annotations

import random

from agentroute.evaluation.steps import EvalStep
from agentroute.steps.records import StepType
from agentroute.steps.tools import ToolSpec


def _tool(name: str, description: str) -> ToolSpec:
    return ToolSpec(name=name, description=description)


WEATHER = _tool("get_weather", "Current weather for a city")
WEATHER_RESTYLED = _tool("weather.current", "Current weather for a city. Returns JSON with the temperature.")
FORECAST = _tool("get_forecast", "Daily forecast for a city")
TRANSLATE = _tool("translate_text", "Translate text into another language")
SONG = _tool("play_song", "Play a song")


def _step(step_id: str, tools: list[ToolSpec], expected: list | None, history: bool = False) -> EvalStep:
    messages = [{"role": "system", "content": "You are helpful."}, {"role": "user", "content": f"request {step_id}"}]
    if history:
        messages += [{"role": "assistant", "content": "", "tool_calls": []}, {"role": "user", "content": "more"}]
    return EvalStep(step_id, messages, tools, StepType.TOOL_CALL, 32, expected)


def test_foreign_offers_never_offer_a_tool_of_the_requests_own_step():
    from agentroute.training.decline_rows import foreign_offers

    weather = _step("w", [WEATHER, FORECAST], [{"name": "get_weather", "arguments": {"city": "Oslo"}}])
    steps = [
        weather,
        _step("w2", [WEATHER_RESTYLED], [{"name": "weather.current", "arguments": {}}]),  # the same tool, restyled
        _step("t", [TRANSLATE, SONG], [{"name": "translate_text", "arguments": {}}]),
        _step("none", [FORECAST], []),  # no tool fits: never the request side
        _step("multi", [SONG], [{"name": "play_song", "arguments": {}}], history=True),  # not single-turn
    ]
    offers = foreign_offers(steps, 200, random.Random(0))
    assert len(offers) == 200
    for messages, tools in offers:
        request = messages[-1]["content"]
        assert request in ("request w", "request w2", "request t")
        names = {t.name for t in tools}
        if request == "request w":
            assert names <= {"translate_text", "play_song"}  # not the weather tools it was offered
        elif request == "request w2":
            assert not names & {"get_weather", "weather.current"}  # its own tool under no name
        else:
            assert not names & {"translate_text"} and 1 <= len(tools) <= 3
    without_system = sum(all(m["role"] != "system" for m in messages) for messages, _ in offers)
    assert 40 < without_system < 100  # about a third


def test_foreign_offers_stop_when_every_step_shares_its_tools():
    from agentroute.training.decline_rows import foreign_offers

    steps = [_step(str(i), [WEATHER], [{"name": "get_weather", "arguments": {}}]) for i in range(3)]
    assert foreign_offers(steps, 10, random.Random(0)) == []
