"""What a wrong tool-call reply got wrong (``evaluation.call_errors``)."""

import pytest

from agentroute.evaluation.call_errors import call_error, tally, value_kind

OSLO = {"name": "weather", "arguments": {"city": "Oslo", "date": "2026-06-02"}}
ROME = {"name": "weather", "arguments": {"city": "Rome", "date": "2026-06-03"}}
PAY = {"name": "pay", "arguments": {"amount": 12.5, "at": "16:00", "items": ["a"], "to": {"iban": "X"}, "now": True}}


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (True, "bool"),
        (3, "number"),
        (2.5, "number"),
        ("2026-06-02", "date"),
        ("16:00", "time"),
        ("9:30:15", "time"),
        ("2026-06-02T16:00:00Z", "datetime"),
        ("June 2", "string"),
        ([1], "array"),
        ({"a": 1}, "object"),
        (None, "null"),
    ],
)
def test_value_kind(value, kind):
    assert value_kind(value) == kind


def test_right_replies_and_steps_without_an_expectation_have_no_error():
    assert call_error([OSLO], [OSLO]) is None
    assert call_error([ROME, OSLO], [OSLO, ROME]) is None
    assert call_error([], []) is None
    assert call_error([OSLO], None) is None


def test_calls_count_and_tools():
    assert call_error([OSLO], []) == {"kind": "called"}
    assert call_error([], [OSLO]) == {"kind": "no call"}
    assert call_error([OSLO], [OSLO, ROME]) == {"kind": "count"}
    assert call_error([{"name": "forecast", "arguments": OSLO["arguments"]}], [OSLO]) == {"kind": "tools"}


def test_arguments_by_kind_against_the_closest_same_named_call():
    # The second call's date is wrong; the first matches the expected Oslo call exactly.
    wrong_date = {"name": "weather", "arguments": {"city": "Rome", "date": "2026-06-30"}}
    assert call_error([OSLO, wrong_date], [ROME, OSLO]) == {"kind": "arguments", "arguments": ["wrong date"]}
    got = {"name": "pay", "arguments": {"amount": 12.5, "at": "20:00", "items": ["b"], "to": {"iban": "Y"}, "x": 1}}
    error = call_error([got], [PAY])
    assert error["kind"] == "arguments"
    assert error["arguments"] == ["wrong time", "wrong array", "wrong object", "missing bool", "extra number"]


def test_tally_counts_kinds_and_argument_problems_most_first():
    errors = [
        None,
        {"kind": "count"},
        {"kind": "arguments", "arguments": ["wrong date", "wrong time"]},
        {"kind": "arguments", "arguments": ["wrong date"]},
    ]
    assert tally(errors) == {
        "kinds": {"arguments": 2, "count": 1},
        "arguments": {"wrong date": 2, "wrong time": 1},
    }
    assert list(tally(errors)["arguments"]) == ["wrong date", "wrong time"]
    assert tally([None, None]) == {}


def test_exact_matches_pair_first_so_a_twin_is_not_blamed():
    w1 = {"name": "w", "arguments": {"x": 1, "y": 1}}
    w2 = {"name": "w", "arguments": {"x": 1, "y": 2}}
    reply = [w2, {"name": "w", "arguments": {"x": 2, "y": 1}}]
    assert call_error(reply, [w1, w2]) == {"kind": "arguments", "arguments": ["wrong number"]}
