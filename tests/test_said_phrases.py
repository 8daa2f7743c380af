"""Dates and times in words: what the reader resolves (steps.said_phrases), and the grammar a
said-values pack writes them under, which admits only what the reader reads."""

import datetime as dt
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentroute.steps.said_phrases import DATE, PHRASE_PATTERNS, TIME, canonical

THURSDAY = dt.date(2026, 9, 24)

DATES_IN_WORDS = [
    ("2026-06-02", "2026-06-02"),
    ("2026-6-2", "2026-06-02"),
    ("June 2, 2026", "2026-06-02"),
    ("2 June 2026", "2026-06-02"),
    ("the 1st of September 2026", "2026-09-01"),
    ("Tuesday, June 9, 2026", "2026-06-09"),
    ("Sept. 2nd 2026", "2026-09-02"),
    ("Dec 5th", "2026-12-05"),  # no year: the next one
    ("June 2", "2027-06-02"),
    ("Sep 24", "2026-09-24"),
    ("today", "2026-09-24"),
    ("tomorrow", "2026-09-25"),
    ("the day after tomorrow", "2026-09-26"),
    ("in 5 days", "2026-09-29"),
    ("in two weeks", "2026-10-08"),
    ("3 days from now", "2026-09-27"),
    ("a week from today", "2026-10-01"),
    ("this Sunday", "2026-09-27"),
    ("Saturday this week", "2026-09-26"),
    ("next Friday", "2026-10-02"),  # next week's, in Monday-first weeks
    ("next Monday", "2026-09-28"),
    ("Tuesday next week", "2026-09-29"),
    ("Friday", "2026-09-25"),  # the next one on or after today
    ("on Thu", "2026-09-24"),
    ("this Wednesday", "2026-09-30"),
]
TIMES_IN_WORDS = [
    ("16:00", "16:00"),
    ("7:30", "07:30"),
    ("4pm", "16:00"),
    ("4:00 pm", "16:00"),
    ("4 p.m.", "16:00"),
    ("7am", "07:00"),
    ("12:15 pm", "12:15"),
    ("12 am", "00:00"),
    ("noon", "12:00"),
    ("midnight", "00:00"),
    ("two in the afternoon", "14:00"),
    ("seven in the evening", "19:00"),
    ("5 o'clock in the afternoon", "17:00"),
    ("half past four in the afternoon", "16:30"),
    ("quarter past 7 in the evening", "19:15"),
    ("quarter to nine at night", "20:45"),
    ("quarter to one pm", "12:45"),
    ("quarter to twelve pm", "11:45"),
    ("twelve at night", "00:00"),
    ("half past twelve at night", "00:30"),
    ("one at night", "01:00"),
    ("4 P.M", "16:00"),
    ("12 midnight", "00:00"),
]


@pytest.mark.parametrize(("phrase", "value"), DATES_IN_WORDS)
def test_dates_in_words(phrase, value):
    assert canonical(DATE, phrase, THURSDAY) == value


@pytest.mark.parametrize(
    "phrase",
    [
        "someday",
        "next week",
        "2 weeks",
        "Monday, June 9, 2026",
        "June 31, 2026",
        "may",
        "",
        "2026-13-01",
        "in -5 days",
        "in 9999999 days",
        "in 999999 weeks",
        "², June 2026",
        "June ², 2026",
    ],  # fmt: skip
)
def test_phrases_that_name_no_single_day_are_refused(phrase):
    # "Monday, June 9, 2026": June 9 is a Tuesday; "2 weeks" is a span, not a day.
    assert canonical(DATE, phrase, THURSDAY) is None


def test_relative_dates_need_a_today():
    assert canonical(DATE, "tomorrow", None) is None
    assert canonical(DATE, "June 2", None) is None
    assert canonical(DATE, "June 2, 2026", None) == "2026-06-02"


@pytest.mark.parametrize(("phrase", "value"), TIMES_IN_WORDS)
def test_times_in_words(phrase, value):
    assert canonical(TIME, phrase, THURSDAY) == value


@pytest.mark.parametrize(
    "phrase", ["seven", "7", "25:00", "13 pm", "4:75 pm", "soon", "quarter to nine", "²", "half past ²", "① pm"]
)
def test_ambiguous_or_impossible_times_are_refused(phrase):
    assert canonical(TIME, phrase, THURSDAY) is None


# ------------------------------------------------------------------- the grammar of the phrases


# Read, but not written by a said-values pack: the date alone is what a date field holds.
NOT_WRITTEN = {"on Thu"}


@pytest.mark.parametrize(
    ("kind", "phrase"),
    [(DATE, p) for p, _ in DATES_IN_WORDS if p not in NOT_WRITTEN] + [(TIME, p) for p, _ in TIMES_IN_WORDS],
)
def test_the_grammar_admits_the_usual_spellings(kind, phrase):
    assert re.fullmatch(PHRASE_PATTERNS[kind], phrase)


@pytest.mark.parametrize(
    ("kind", "phrase"),
    [
        # What a said-values pack copied into date fields on dev, each losing its call: a span with
        # no "in", a booking code, an e-mail, a place.
        (DATE, "2 days"),
        (DATE, "5 days"),
        (DATE, "EWT893"),
        (DATE, "jane.doe@example.com"),
        (DATE, "the Grand Theater"),
        (DATE, "next week"),
        (DATE, "June 32"),
        (DATE, "2026-13-01"),
        (DATE, " next Friday"),
        (DATE, "next Friday\n"),
        (DATE, "on Friday"),
        (DATE, "in 999 weeks"),  # past ten years: not read
        (DATE, "1000 days from now"),
        (DATE, "in 0 days"),
        (TIME, "seven"),
        (TIME, "7"),
        (TIME, "19"),
        (TIME, "13 pm"),
        (TIME, "4:75 pm"),
        (TIME, "sevenam"),
        (TIME, "7 o'clockpm"),
        (TIME, "2026-09-24"),
        (DATE, "16:00"),
    ],
)
def test_the_grammar_refuses_what_the_reader_cannot_read(kind, phrase):
    assert not re.fullmatch(PHRASE_PATTERNS[kind], phrase)


@settings(max_examples=500, deadline=None)
@given(st.from_regex(PHRASE_PATTERNS[TIME], fullmatch=True))
def test_every_time_the_grammar_admits_is_read(phrase):
    assert canonical(TIME, phrase, THURSDAY) is not None, phrase


_OPENING_WEEKDAY = re.compile(
    r"^(?i:mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?,? (?=.*[0-9])"
)  # "Fri, " before a date that has digits
_LATE_DAY = re.compile(r"\b(29|30|31)(st|nd|rd|th)?\b|(?<=-)(29|30|31)$")


@settings(max_examples=1000, deadline=None)
@given(st.from_regex(PHRASE_PATTERNS[DATE], fullmatch=True))
def test_every_date_the_grammar_admits_is_read_unless_no_such_day_exists(phrase):
    # The grammar cannot count a month's days or check a weekday against a date: "June 31" and
    # "Monday, June 9, 2026" are admitted and refused by the reader (the call then reports it).
    # Everything else it admits is read: with the weekday dropped and day 28 for 29-31, it must be.
    if canonical(DATE, phrase, THURSDAY) is None:
        checkable = _LATE_DAY.sub("28", _OPENING_WEEKDAY.sub("", phrase))
        assert checkable != phrase and canonical(DATE, checkable, THURSDAY) is not None, phrase
