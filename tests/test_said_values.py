"""Dates and times said in words, resolved to a schema's declared form (steps.said_values), and the
training replies that copy them (training.said_spans)."""

import datetime as dt
import json

import pytest
from grammar_probe import accepts as _accepts

from agentroute.evaluation.steps import EvalStep
from agentroute.steps.reply_parsing import parse_tool_calls
from agentroute.steps.said_phrases import PHRASE_PATTERNS
from agentroute.steps.said_values import (
    DATE,
    TIME,
    declared_kind,
    phrase_parameters,
    resolve_arguments,
    stated_today,
)
from agentroute.steps.tools import normalize_tools
from agentroute.training.said_spans import said_calls, said_phrase

THURSDAY = dt.date(2026, 9, 24)
ISO_DATE = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"}
HHMM = {"type": "string", "pattern": r"^\d{2}:\d{2}$"}


@pytest.mark.parametrize(
    ("schema", "kind"),
    [
        (ISO_DATE, DATE),
        (HHMM, TIME),
        ({"type": "string", "pattern": r"^([01]\d|2[0-3]):[0-5]\d$"}, TIME),
        ({"type": "string", "format": "date"}, DATE),
        # Not declared: free text, a date-time, a loose pattern, an enum, another type; a month, a
        # sort code, hours with seconds; a description alone (unless the pack words dates).
        ({"type": "string", "description": "Check-in day, YYYY-MM-DD"}, None),
        ({"type": "string", "pattern": r"\d{2}-\d{2}"}, None),
        ({"type": "string", "pattern": r"^\d{4}-\d{2}"}, None),
        ({"type": "string", "pattern": r"^\d{2}:\d{2}:\d{2}$"}, None),
        ({"type": "string", "description": "when, in your words"}, None),
        ({"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$"}, None),
        ({"type": "string", "pattern": r"\d"}, None),
        ({"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$", "enum": ["2026-01-01"]}, None),
        ({"type": "integer", "description": "YYYY-MM-DD"}, None),
        ({"type": "string", "pattern": "(unclosed"}, None),
    ],
)
def test_declared_kind(schema, kind):
    assert declared_kind(schema) == kind


def test_descriptions_declare_only_for_a_pack_that_words_dates():
    day = {"type": "string", "description": "Check-in day, YYYY-MM-DD"}
    start = {"type": "string", "description": "Start (24-hour HH:MM)"}
    assert declared_kind(day, descriptions=True) == DATE and declared_kind(start, descriptions=True) == TIME
    assert declared_kind({**day, "format": "email"}, descriptions=True) is None


def test_stated_today_reads_the_system_prompt_first():
    messages = [
        {"role": "system", "content": "You help. Today is Friday, 2026-03-13."},
        {"role": "user", "content": "Book it. Today's date is 2026-03-14, by the way."},
    ]
    assert stated_today(messages) == dt.date(2026, 3, 13)
    assert stated_today(messages[1:]) == dt.date(2026, 3, 14)
    for content in ("Today's date: March 13, 2026", "Current date: 2026-03-13", "You help.\nToday is 13 March 2026."):
        assert stated_today([{"role": "system", "content": content}]) == dt.date(2026, 3, 13), content
    # Not a statement of today: mid-sentence, or no date.
    assert stated_today([{"role": "user", "content": "The deadline today is 2026-05-01."}]) is None
    assert stated_today([{"role": "system", "content": "Today is a good day."}]) is None
    assert stated_today([{"role": "user", "content": "What is 2026-03-13?"}]) is None
    # A tool result that says so does not set the conversation's today.
    assert stated_today([{"role": "tool", "content": "Today is 2020-01-01."}]) is None


SCHEMA = {
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "date": ISO_DATE,
        "slot": {"type": "object", "properties": {"start": HHMM, "end": HHMM}},
        "reminders": {"type": "array", "items": ISO_DATE},
    },
}


def test_arguments_resolve_at_any_depth_and_say_what_changed():
    arguments = {
        "title": "next Friday",  # not declared: a title stays as written
        "date": "next Friday",
        "slot": {"start": "4pm", "end": "17:00"},
        "reminders": ["tomorrow", "2026-10-01"],
    }
    out, said = resolve_arguments(arguments, SCHEMA, THURSDAY)
    assert out == {
        "title": "next Friday",
        "date": "2026-10-02",
        "slot": {"start": "16:00", "end": "17:00"},
        "reminders": ["2026-09-25", "2026-10-01"],
    }
    assert [(s.path, s.said, s.value) for s in said] == [
        ("date", "next Friday", "2026-10-02"),
        ("slot.start", "4pm", "16:00"),
        ("reminders[0]", "tomorrow", "2026-09-25"),
    ]
    assert arguments["date"] == "next Friday"  # the caller's dict is not changed


def test_parsing_resolves_before_the_schema_check_and_refuses_what_it_cannot_read():
    tools = normalize_tools([{"name": "book", "parameters": {**SCHEMA, "required": ["date"]}}])
    said = '{"date": "in 5 days", "slot": {"start": "half past four in the afternoon"}}'
    reply = '<tool_call>{"name": "book", "arguments": ' + said + "}</tool_call>"
    parsed = parse_tool_calls(reply, tools, today=THURSDAY)
    assert parsed.error is None
    assert parsed.tool_calls[0].arguments == {"date": "2026-09-29", "slot": {"start": "16:30"}}
    assert [(s.call, s.argument, s.value) for s in parsed.said_arguments] == [
        (1, "date", "2026-09-29"),
        (1, "slot.start", "16:30"),
    ]
    refused = parse_tool_calls('<tool_call>{"name": "book", "arguments": {"date": "someday"}}</tool_call>', tools)
    assert refused.tool_calls == []
    assert refused.error == (
        "tool call 1 (book) gives date as 'someday', which is no date this release reads; "
        "its schema asks for YYYY-MM-DD"
    )
    # A format-declared date is held to it too (jsonschema alone would pass any string).
    day = {"type": "object", "properties": {"day": {"type": "string", "format": "date"}}}
    loose = normalize_tools([{"name": "log", "parameters": day}])
    text = '<tool_call>{"name": "log", "arguments": {"day": "Friday the 13th"}}</tool_call>'
    assert parse_tool_calls(text, loose).tool_calls == []
    # No reply text makes parsing raise.
    for said in ("in 9999999 days", "²", "half past ²"):
        call = {"name": "book", "arguments": {"date": said, "slot": {"start": said}}}
        text = "<tool_call>" + json.dumps(call, ensure_ascii=False) + "</tool_call>"
        assert parse_tool_calls(text, tools, today=dt.date.max).tool_calls == []


def test_phrase_parameters_open_declared_fields_only():
    opened = phrase_parameters(SCHEMA)
    assert opened["properties"]["title"] == {"type": "string"}
    date = opened["properties"]["date"]
    assert date == {"type": "string", "pattern": PHRASE_PATTERNS[DATE]}
    assert opened["properties"]["slot"]["properties"]["start"]["pattern"] == PHRASE_PATTERNS[TIME]
    assert opened["properties"]["reminders"]["items"]["pattern"] == PHRASE_PATTERNS[DATE]
    assert SCHEMA["properties"]["date"] == ISO_DATE  # not changed in place


def test_said_phrase_is_the_longest_run_that_resolves_to_the_value():
    texts = ["Book it for the 1st of September 2026, at 4:00 pm, or on Friday."]
    assert said_phrase(DATE, "2026-09-01", texts, THURSDAY) == "the 1st of September 2026"
    assert said_phrase(TIME, "16:00", texts, THURSDAY) == "4:00 pm"
    assert said_phrase(DATE, "2026-09-25", texts, THURSDAY) == "Friday"  # not "on Friday"
    assert said_phrase(DATE, "2026-12-24", texts, THURSDAY) is None
    assert said_phrase(TIME, "16:00", ["Until 4 p.m."], THURSDAY) == "4 p.m."


def test_said_calls_copy_phrases_from_the_latest_user_message_first():
    messages = [
        {"role": "system", "content": "Today is Thursday, 2026-09-24."},
        {"role": "user", "content": "Book the room tomorrow."},
        {"role": "assistant", "content": "For how long?"},
        {"role": "user", "content": "From two in the afternoon to 17:00, and remind me on 2026-09-25."},
    ]
    tools = normalize_tools([{"name": "book", "parameters": SCHEMA}])
    expected = [
        {
            "name": "book",
            "arguments": {
                "date": "2026-09-25",
                "slot": {"start": "14:00", "end": "17:00"},
                "reminders": ["2026-09-25"],
            },
        }
    ]
    step = EvalStep(id="s", messages=messages, tools=tools, expected=expected)
    calls = said_calls(step.expected, step.tools, step.messages)
    # The latest user message says 2026-09-25 itself; the earlier "tomorrow" is not needed.
    assert calls[0]["arguments"] == {
        "date": "2026-09-25",
        "slot": {"start": "two in the afternoon", "end": "17:00"},
        "reminders": ["2026-09-25"],
    }
    assert expected[0]["arguments"]["slot"]["start"] == "14:00"  # not changed in place
    # Resolving what the training reply says gives the expected call back.
    out, _ = resolve_arguments(calls[0]["arguments"], SCHEMA, stated_today(messages))
    assert out == expected[0]["arguments"]


def test_a_said_values_model_may_write_a_phrase_where_others_must_write_the_declared_form():
    from tiny_models import tiny_model

    from agentroute import RoutedModel

    hf, tok = tiny_model("llama", n_layers=2)
    model = RoutedModel(hf, tok, name="tiny2-llama")
    tools = normalize_tools([{"name": "book", "parameters": {**SCHEMA, "required": ["date"]}}])
    phrase = '<tool_call>{"name": "book", "arguments": {"date": "next Friday"}}</tool_call>'
    iso = '<tool_call>{"name": "book", "arguments": {"date": "2026-10-02"}}</tool_call>'
    assert not _accepts(model._tool_constraint(tools), phrase, tok)
    assert _accepts(model._tool_constraint(tools), iso, tok)
    model.said_values = True
    assert _accepts(model._tool_constraint(tools), phrase, tok)
    assert _accepts(model._tool_constraint(tools), iso, tok)
    # Only what the reader reads: no span without "in", no code, no newline, no leading space.
    for bad in (
        '{"date": " next',
        '{"date": "next\\n',
        '{"date": "2 days"',
        '{"date": "EWT893"',
        '{"date": "in 999 weeks"',  # read as no date: past ten years
    ):
        text = '<tool_call>{"name": "book", "arguments": ' + bad
        assert not _accepts(model._tool_constraint(tools), text, tok), bad
    # Titles are no dates: their strings keep the grammar's usual rules.
    title = '<tool_call>{"name": "book", "arguments": {"title": " x'
    assert not _accepts(model._tool_constraint(tools), title, tok)


def test_a_time_is_copied_only_where_the_request_names_a_clock():
    texts = ["A table for 14 guests, and the cake at 2pm, please."]
    assert said_phrase(TIME, "14:00", texts, THURSDAY) == "2pm"
    assert said_phrase(TIME, "14:00", ["A table for 14 guests."], THURSDAY) is None  # a count, not a time
    assert said_phrase(TIME, "07:00", ["Wake me at seven am."], THURSDAY) == "seven am"


def test_a_copied_phrase_is_one_line_the_grammar_admits():
    texts = ["Book it for the\n1st of\tSeptember 2026 please."]
    assert said_phrase(DATE, "2026-09-01", texts, THURSDAY) == "the 1st of September 2026"
