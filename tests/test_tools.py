"""Tool definitions, the tool prompt format, and reading tool calls back from replies."""

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentroute.errors import MessageError, ToolSchemaError
from agentroute.steps.records import ToolCall
from agentroute.steps.reply_parsing import ParsedReply, parse_tool_calls
from agentroute.steps.tool_turns import render_tool_messages
from agentroute.steps.tools import ToolSpec, format_tool_call, normalize_tools, tool_block

WEATHER = {
    "name": "get_weather",
    "description": "Current weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
        "required": ["city"],
    },
}
SEARCH = {"type": "function", "function": {"name": "web.search", "parameters": {"type": "object"}}}
TOOLS = normalize_tools([WEATHER, SEARCH])


def call(name: str, **arguments) -> str:
    return f"<tool_call>{json.dumps({'name': name, 'arguments': arguments})}</tool_call>"


# --- normalize_tools -------------------------------------------------------------------------------


def test_normalize_accepts_every_shape():
    assert normalize_tools(None) == [] and normalize_tools([]) == []
    spec = ToolSpec(name="noop")
    specs = normalize_tools([WEATHER, SEARCH, spec])
    assert [s.name for s in specs] == ["get_weather", "web.search", "noop"]
    assert specs[0].description == "Current weather in a city"
    assert specs[1].parameters == {"type": "object"}
    assert specs[2].parameters == {"type": "object", "properties": {}}


def test_normalize_fills_missing_parameters_and_description():
    (spec,) = normalize_tools([{"name": "ping"}])
    assert spec == ToolSpec(name="ping", description="", parameters={"type": "object", "properties": {}})


@pytest.mark.parametrize(
    ("tool", "message"),
    [
        ({"description": "no name"}, r"tool 1 has no name; give it a non-empty string 'name'"),
        ({"name": ""}, r"tool 1 has no name"),
        ({"name": 7}, r"tool 1 has no name"),
        ({"name": "get weather"}, r"tool 1 \('get weather'\): a name may only use letters, digits"),
        ({"name": "ok", "description": 3}, r"tool 1 \('ok'\): 'description' must be a string"),
        ({"name": "ok", "parameters": []}, r"tool 1 \('ok'\): 'parameters' must be a JSON Schema dict, got list"),
        (
            {"name": "ok", "parameters": {"type": "object", "properties": {"a": {"type": "strng"}}}},
            r"tool 1 \('ok'\): 'parameters' is not a valid JSON Schema .*at properties/a/type",
        ),
        ({"name": "ok", "parameters": {"type": "object", "$schema": ["x"]}}, r"not a valid JSON Schema"),
        ({"name": "ok", "parameters": {"type": "array"}}, r"tool 1 \('ok'\): 'parameters' must have \"type\""),
        ({"name": "ok", "parameters": {"properties": {}}}, r"got type None"),
        ({"name": "get_weather"}, r"tool 1 \('get_weather'\): another tool already has this name"),
        ("get_weather", r"tool 1 must be a ToolSpec or a dict"),
    ],
)
def test_normalize_errors_name_the_tool_and_the_problem(tool, message):
    with pytest.raises(ToolSchemaError, match=message):
        normalize_tools([WEATHER, tool])


@pytest.mark.parametrize("tools", ["get_weather", WEATHER, 3])
def test_normalize_needs_a_list(tools):
    with pytest.raises(ToolSchemaError, match="tools must be a list"):
        normalize_tools(tools)


def test_tool_schema_error_is_a_value_error():
    assert issubclass(ToolSchemaError, ValueError)


# --- rendering -------------------------------------------------------------------------------------


def test_tool_block_format():
    block = tool_block([WEATHER, SEARCH])
    lines = block.splitlines()
    assert lines[1] == "<tools>" and lines[4] == "</tools>"
    assert json.loads(lines[2]) == WEATHER
    assert lines[3] == '{"name": "web.search", "parameters": {"type": "object"}}'  # no empty description
    assert '<tool_call>{"name": <tool name>, "arguments": {' in block
    assert tool_block(None) == ""


def test_render_creates_a_system_message():
    out = render_tool_messages([{"role": "user", "content": "Weather in Paris?"}], [WEATHER])
    assert [m["role"] for m in out] == ["system", "user"]
    assert out[0]["content"] == tool_block([WEATHER])


def test_render_keeps_the_user_system_text_first():
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    out = render_tool_messages(messages, [WEATHER])
    assert out[0]["content"] == "Be brief.\n\n" + tool_block([WEATHER])
    assert messages[0]["content"] == "Be brief."  # the input is left alone


def test_render_without_tools_changes_nothing():
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    assert render_tool_messages(messages, None) == messages


CONVERSATION = [
    {"role": "user", "content": "Weather in Paris and Köln?"},
    {
        "role": "assistant",
        "content": "Checking.",
        "tool_calls": [
            {"id": "a", "name": "get_weather", "arguments": {"city": "Paris"}},
            {"id": "b", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Köln"}'}},
        ],
    },
    {"role": "tool", "tool_call_id": "a", "name": "get_weather", "content": "18 C"},
    {"role": "tool", "tool_call_id": "b", "content": "12 C"},
    {"role": "assistant", "content": "Paris 18 C, Köln 12 C."},
]


def test_render_tool_calls_and_results_as_text():
    out = render_tool_messages(CONVERSATION, [WEATHER])
    assert [m["role"] for m in out] == ["system", "user", "assistant", "user", "assistant"]
    assert all(set(m) == {"role", "content"} for m in out)
    assert out[2]["content"] == (
        "Checking.\n"
        '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>\n'
        '<tool_call>{"name": "get_weather", "arguments": {"city": "Köln"}}</tool_call>'
    )
    # Consecutive results share one turn; the second takes its name from the call it answers.
    assert out[3]["content"] == (
        '<tool_response>{"name": "get_weather", "content": "18 C"}</tool_response>\n'
        '<tool_response>{"name": "get_weather", "content": "12 C"}</tool_response>'
    )


def test_render_accepts_toolcall_objects_and_no_content():
    messages = [
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": None, "tool_calls": [ToolCall(id="c", name="web.search")]},
    ]
    out = render_tool_messages(messages)
    assert out[1]["content"] == '<tool_call>{"name": "web.search", "arguments": {}}</tool_call>'


def test_render_is_deterministic():
    first = render_tool_messages(CONVERSATION, [WEATHER, SEARCH])
    assert render_tool_messages(CONVERSATION, [WEATHER, SEARCH]) == first
    assert render_tool_messages(CONVERSATION, TOOLS) == first  # ToolSpecs render like the dicts they came from
    assert "Köln" in first[2]["content"]  # not escaped: a template sees the text the user wrote


def test_render_keeps_tool_role_when_the_template_knows_it():
    class Tokenizer:
        chat_template = "{% for m in messages %}{% if m.role == 'tool' %}...{% endif %}{% endfor %}"

    out = render_tool_messages(CONVERSATION, [WEATHER], tokenizer=Tokenizer())
    assert [m["role"] for m in out] == ["system", "user", "assistant", "tool", "tool", "assistant"]
    assert out[3]["content"] == "18 C" and out[3]["tool_call_id"] == "a"


def test_render_rejects_a_bad_tool_call():
    messages = [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [{"arguments": {}}]}]
    with pytest.raises(MessageError, match="has no tool name"):
        render_tool_messages(messages)
    with pytest.raises(MessageError, match="not valid JSON"):
        format_tool_call({"name": "f", "arguments": "{oops"})


# --- parsing ---------------------------------------------------------------------------------------


def test_single_tagged_call():
    reply = parse_tool_calls(call("get_weather", city="Paris"), TOOLS)
    assert isinstance(reply, ParsedReply)
    assert reply.content == "" and reply.error is None
    assert [(c.name, c.arguments) for c in reply.tool_calls] == [("get_weather", {"city": "Paris"})]
    assert re.fullmatch(r"call_[0-9a-f]{8}", reply.tool_calls[0].id)


def test_several_calls_with_text():
    text = "Let me look.\n" + call("get_weather", city="Paris") + "\n" + call("web.search", q="news") + "\nDone."
    reply = parse_tool_calls(text)
    assert reply.content == "Let me look.\n\n\nDone."
    assert [c.name for c in reply.tool_calls] == ["get_weather", "web.search"]
    assert len({c.id for c in reply.tool_calls}) == 2
    assert parse_tool_calls(text).tool_calls == reply.tool_calls  # ids are reproducible


def test_nested_and_typed_arguments():
    arguments = {"filter": {"tags": ["a", "b"], "range": {"lo": -1.5, "hi": 10}}, "exact": True, "limit": None}
    reply = parse_tool_calls(call("web.search", **arguments), TOOLS)
    assert reply.tool_calls[0].arguments == arguments and reply.error is None


@pytest.mark.parametrize(
    "text",
    [
        '```json\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n```',
        'Here you go:\n```\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n```',
        '{"name": "get_weather", "arguments": {"city": "Paris"}}',
        '[{"name": "get_weather", "arguments": {"city": "Paris"}}]',
        '<tool_call>{"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\"}"}</tool_call>',
        '<tool_call>{"name": "get_weather", "parameters": {"city": "Paris"}}</tool_call>',
        '<tool_call>{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}',
        '<tool_call>\n```json\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n```\n</tool_call>',
        '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}',  # cut off before the closing tag
        '{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>',  # opening tag forgotten
    ],
)
def test_tolerated_shapes(text):
    reply = parse_tool_calls(text, TOOLS)
    assert reply.error is None
    assert [(c.name, c.arguments) for c in reply.tool_calls] == [("get_weather", {"city": "Paris"})]
    assert "{" not in reply.content and "tool_call" not in reply.content


def test_json_list_of_several_calls():
    text = '[{"name": "get_weather", "arguments": {"city": "Paris"}}, {"name": "web.search", "arguments": {}}]'
    assert [c.name for c in parse_tool_calls(text, TOOLS).tool_calls] == ["get_weather", "web.search"]


def test_truncated_json_is_an_error_not_a_crash():
    reply = parse_tool_calls('Sure. <tool_call>{"name": "get_weather", "arguments": {"city": "Par')
    assert reply.tool_calls == [] and reply.content == "Sure."
    assert reply.error == "tool call 1 is not valid JSON: it ends before the JSON is complete"
    bare = parse_tool_calls('{"name": "get_weather", "arguments": {"city"')
    assert bare.tool_calls == [] and bare.content == "" and "tool call 1 is not valid JSON" in bare.error


def test_malformed_call_among_valid_ones():
    text = call("get_weather", city="Paris") + '<tool_call>{"name": get_weather}</tool_call>' + call("web.search")
    reply = parse_tool_calls(text, TOOLS)
    assert [c.name for c in reply.tool_calls] == ["get_weather", "web.search"]
    assert reply.error.startswith("tool call 2 is not valid JSON: Expecting value")


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("<tool_call></tool_call>", "tool call 1 is empty"),
        ("<tool_call>get_weather(city='Paris')</tool_call>", "tool call 1 is not a JSON object"),
        ('<tool_call>{"arguments": {}}</tool_call>', "tool call 1 has no tool name"),
        ('<tool_call>["get_weather"]</tool_call>', "tool call 1 is not a JSON object but str"),
        ('<tool_call>{"name": "f", "arguments": "{oops"}</tool_call>', "tool call 1 (f) has arguments that are not"),
        (
            '<tool_call>{"name": "f", "arguments": [1]}</tool_call>',
            "tool call 1 (f) has arguments that are not a JSON object",
        ),
    ],
)
def test_unreadable_calls_are_described(text, error):
    reply = parse_tool_calls(text)
    assert reply.tool_calls == [] and reply.error.startswith(error)


def test_unknown_tool_is_dropped_and_named():
    reply = parse_tool_calls(call("get_time") + call("get_weather", city="Oslo"), TOOLS)
    assert [c.name for c in reply.tool_calls] == ["get_weather"]
    assert reply.error == "tool call 1 calls unknown tool 'get_time'; offered tools: get_weather, web.search"
    assert parse_tool_calls(call("get_time")).error is None  # without tools every name is accepted


def test_schema_violation_drops_the_call():
    reply = parse_tool_calls(call("get_weather", city="Oslo", days=0), TOOLS)
    assert reply.tool_calls == []
    assert (
        reply.error
        == "tool call 1 (get_weather) has arguments that break its schema: 0 is less than the minimum of 1 (at days)"
    )
    missing = parse_tool_calls(call("get_weather"), TOOLS)
    assert "'city' is a required property" in missing.error


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "The weather in Paris is sunny.",
        'I would say {"answer": 42}.',
        '{"answer": 42}',
        '```json\n{"answer": 42}\n```',
        "```python\nprint({'name': 1})\n```",
        "[1, 2, 3]",
    ],
)
def test_plain_replies_have_no_calls_and_no_error(text):
    reply = parse_tool_calls(text, TOOLS)
    assert reply == ParsedReply(content=text.strip())


# --- properties ------------------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
FRAGMENTS = ["<tool_call>", "</tool_call>", "{", "}", "[", "]", '"name"', '"arguments"', ":", ",", '"', "```", "\n"]
NOISY_TEXT = st.lists(
    st.sampled_from(FRAGMENTS) | JSON_VALUES.map(json.dumps) | st.sampled_from(['"get_weather"', '"city"']) | st.text(),
    max_size=20,
).map("".join)


def check_reply(reply: ParsedReply) -> None:
    assert isinstance(reply.content, str) and (reply.error is None or isinstance(reply.error, str))
    assert all(re.fullmatch(r"call_[0-9a-f]{8}", c.id) and isinstance(c.arguments, dict) for c in reply.tool_calls)


@given(st.text(), st.booleans())
def test_parse_never_raises_on_any_text(text, with_tools):
    check_reply(parse_tool_calls(text, TOOLS if with_tools else None))


@settings(max_examples=300)
@given(NOISY_TEXT, st.booleans())
def test_parse_never_raises_on_near_miss_markup(text, with_tools):
    reply = parse_tool_calls(text, TOOLS if with_tools else None)
    check_reply(reply)
    assert parse_tool_calls(text, TOOLS if with_tools else None) == reply  # deterministic, ids included


NAMES = st.from_regex(r"[A-Za-z0-9_.-]{1,20}", fullmatch=True)
ARGUMENTS = st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=5)


@given(NAMES, ARGUMENTS)
def test_round_trip_of_one_call(name, arguments):
    reply = parse_tool_calls(format_tool_call({"name": name, "arguments": arguments}))
    assert reply.error is None and reply.content == ""
    assert [(c.name, c.arguments) for c in reply.tool_calls] == [(name, arguments)]


@given(st.lists(st.tuples(NAMES, ARGUMENTS), min_size=1, max_size=4), st.text(st.characters(exclude_characters="<")))
def test_round_trip_of_several_calls_after_text(calls, prose):
    text = "\n".join([prose, *(format_tool_call({"name": n, "arguments": a}) for n, a in calls)])
    reply = parse_tool_calls(text)
    assert reply.error is None and reply.content == prose.strip()
    assert [(c.name, c.arguments) for c in reply.tool_calls] == calls


# --- hostile replies: no call reaches a tool with arguments its schema refuses ---------------------


@pytest.mark.parametrize(
    "reply, fragment",
    [
        (' <tool_call>{"name":"get_weather","arguments":{"city":5}}</tool_call>', "5 is not of type 'string'"),
        ('Sure.\n<tool_call>{"name":"get_weather","arguments":{"city":"Oslo","evil":1}}</tool_call>', "'evil'"),
        ('```json\n{"name": "get_weather", "arguments": {"city": ["Oslo"]}}\n```', "is not of type 'string'"),
        ('{"name": "get_weather", "arguments": {}}', "'city' is a required property"),
    ],
)
def test_calls_that_break_their_schema_never_reach_tool_calls(reply, fragment):
    parsed = parse_tool_calls(reply, TOOLS)
    assert parsed.tool_calls == [] and fragment in parsed.error


def test_not_and_unique_items_are_checked():
    tool = {
        "name": "tag",
        "parameters": {
            "type": "object",
            "properties": {
                "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
                "mode": {"not": {"const": "rm -rf"}},
            },
        },
    }
    specs = normalize_tools([tool])
    assert parse_tool_calls(call("tag", tags=["a", "a"]), specs).error.endswith("has non-unique elements (at tags)")
    assert "should not be valid" in parse_tool_calls(call("tag", mode="rm -rf"), specs).error
    assert parse_tool_calls(call("tag", tags=["a", "b"], mode="ls"), specs).tool_calls[0].arguments["mode"] == "ls"
    # A schema that allows undeclared arguments keeps them.
    open_tool = {**tool, "parameters": {**tool["parameters"], "additionalProperties": True}}
    kept = parse_tool_calls(call("tag", extra=1), normalize_tools([open_tool]))
    assert kept.error is None and kept.tool_calls[0].arguments == {"extra": 1}


def test_a_schema_is_checked_once_and_a_bad_one_every_time(monkeypatch):
    from agentroute.steps import tools as tools_module

    checked = []
    real = tools_module._meta_check
    monkeypatch.setattr(tools_module, "_meta_check", lambda p: checked.append(p) or real(p))
    schema = {"type": "object", "properties": {"city": {"type": "string", "minLength": 1}}, "required": ["city"]}
    unique = {"name": "weather_once_" + str(id(checked)), "parameters": {**schema, "title": str(id(checked))}}
    for _ in range(3):
        assert normalize_tools([unique])[0].parameters == unique["parameters"]
    assert len(checked) == 1  # the same schema again is not checked again
    bad = {"name": "bad", "parameters": {"type": "object", "properties": {"x": {"type": "nonsense"}}}}
    for _ in range(2):
        with pytest.raises(ToolSchemaError, match="not a valid JSON Schema"):
            normalize_tools([bad])
    assert len(checked) == 3  # an error is not remembered: every call says it
