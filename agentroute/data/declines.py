"""Replies of tool-call steps where no offered tool fits: decline in a sentence, answer directly, or ask back.

A model that always calls a tool when tools are offered calls a wrong one whenever the request is
outside them. These texts are the gold replies of such steps (data v4): short, plain and built from
the request's own words or the offered tools' descriptions, so the model learns when not to call
rather than a fixed phrase for a fixed domain.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from agentroute.data import phrasing as ph

# {v}: the request's verb phrase ("book a table at Nopa for four").
DECLINE = (
    "Sorry, I can't {v}: none of the tools I have can do that.",
    "I'm not able to {v} - none of my tools does that.",
    "None of the available tools can {v}, so I can't do that here.",
    "I can't help with that: there is no tool to {v}.",
)
# {what}: the offered tools' descriptions, listed ("Lyrics of a song; Play a song"): a noun phrase
# or a verb phrase alike reads well after a colon.
DECLINE_OFFER = (
    " My tools are for: {what}.",
    " What I have: {what}.",
)
# {field}: the description of the argument the request left out, lower-cased.
ASK_BACK = (
    "I can do that, but I need one more detail: {field}. What should it be?",
    "Sure - please tell me the {field} first.",
    "Happy to help. What should I use for the {field}?",
    "One thing is missing: the {field}. Could you give it to me?",
)
# Small talk and questions the model answers itself, with no tool: what a word or abbreviation
# means. (No arithmetic: a calculator is a common tool, and the data has none to teach when to use
# one.) The test split has its own pool (``TEST_*``): no test reply is one train has seen.
GREETINGS = (
    ("Hi!", "Hello! How can I help you today?"),
    ("Hello there.", "Hi! What can I do for you?"),
    ("Thanks, that's all for now.", "You're welcome! Let me know if you need anything else."),
    ("Thank you!", "You're welcome!"),
    ("Great, thanks a lot.", "Glad I could help."),
    ("Never mind, I'll do it myself later.", "No problem. I'm here if you need me."),
    ("Good morning!", "Good morning! What can I do for you today?"),
)
TEST_GREETINGS = (
    ("Hey, how are you?", "I'm doing well, thanks! How can I help?"),
    ("Cheers, that was helpful.", "Happy to help!"),
    ("OK, bye for now.", "Goodbye! Come back any time."),
)
CAPABILITY_QUESTIONS = ("What can you do?", "What are you able to help me with?", "Which tools do you have?")
TEST_CAPABILITY_QUESTIONS = ("What kinds of things can you handle?",)
DEFINITIONS = (
    ("What does ETA stand for?", "ETA stands for estimated time of arrival."),
    ("What does RSVP mean?", "RSVP means please reply: it asks you to confirm whether you will attend."),
    ("What is a PDF?", "A PDF is a Portable Document Format file, a document that looks the same on every device."),
    ("What does FAQ stand for?", "FAQ stands for frequently asked questions."),
    ("What does ASAP mean?", "ASAP means as soon as possible."),
    ("What is an itinerary?", "An itinerary is a plan of a journey: the places, dates and times of each part."),
    ("What does CC mean in an email?", "CC means carbon copy: the people in CC get a copy of the email."),
    ("What's a time zone?", "A time zone is a region that keeps the same standard time."),
)
TEST_DEFINITIONS = (
    ("What does FYI mean?", "FYI means for your information."),
    ("What is a layover?", "A layover is a stop between two flights of one journey."),
    ("What does BCC mean?", "BCC means blind carbon copy: those recipients are hidden from the others."),
)


def decline(rng: random.Random, phrase: str, tool_descriptions: Sequence[str]) -> str:
    """The reply to a request (``phrase``) that none of the offered tools can serve; sometimes it
    lists what the offered tools (all of them) are for."""
    text = ph.fill(rng, DECLINE, v=phrase)
    if tool_descriptions and len(tool_descriptions) <= 5 and rng.random() < 0.4:
        text += ph.fill(rng, DECLINE_OFFER, what=_listed(tool_descriptions))
    return text


def _listed(descriptions: Sequence[str]) -> str:
    return "; ".join(_lower_first(d.rstrip(".")) for d in descriptions)


def ask_back(rng: random.Random, field_description: str) -> str:
    """A question for the one argument the request did not give."""
    return ph.fill(rng, ASK_BACK, field=_lower_first(field_description.rstrip(".")))


def small_talk(rng: random.Random, tool_descriptions: Sequence[str], held_out: bool = False) -> tuple[str, str]:
    """A user message no tool is for and its direct answer: a greeting, thanks, a question about
    what the assistant can do (answered with what every offered tool is for), or what a word
    means; ``held_out`` (the test split) draws from pools train never sees."""
    kind = rng.random()
    if kind < 0.4:
        return rng.choice(TEST_GREETINGS if held_out else GREETINGS)
    if kind < 0.6 and 0 < len(tool_descriptions) <= 5:  # a short answer lists every offered tool
        question = rng.choice(TEST_CAPABILITY_QUESTIONS if held_out else CAPABILITY_QUESTIONS)
        return question, f"My tools are for: {_listed(tool_descriptions)}."
    return rng.choice(TEST_DEFINITIONS if held_out else DEFINITIONS)


def _lower_first(text: str) -> str:
    """Lower-case the first letter unless the first word is an acronym ("SMS", "ETA")."""
    first = text.split(" ", 1)[0]
    return text if first.isupper() and len(first) > 1 else text[:1].lower() + text[1:]
