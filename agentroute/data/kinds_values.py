"""Parameter templates for numbers, amounts with units, arrays of plain values, flags, dates and times (data only)."""

from __future__ import annotations

from agentroute.data import vocab as v
from agentroute.data.params import (
    Param,
    boolean,
    clock,
    date,
    date_range,
    integer,
    minutes,
    number,
    number_list,
    string_list,
)

_PRIORITY = {
    "low": ["with low priority"],
    "high": ["with high priority", "marked high priority"],
    "urgent": ["as urgent", "with urgent priority"],
}

NUMBER_KINDS: dict[str, Param] = {
    "forecast_days": integer("days", "Number of days ahead", 2, 10, ["for the next {n} days", "over {n} days"]),
    "passengers": integer("passengers", "Number of travellers", 1, 6, ["for {n} passenger{s}", "for {n} traveler{s}"]),
    "guests": integer("guests", "Number of guests", 1, 6, ["for {n} guest{s}", "for {n} adult{s}"]),
    "party_size": integer("party_size", "Number of diners", 2, 12, ["for {n}", "for {n} people", "for a party of {n}"]),
    "limit": integer("limit", "Maximum number of results", 3, 20, ["showing at most {n} results", "top {n} only"]),
    "shares": integer("quantity", "Number of shares", 1, 500, ["{n} share{s} of"]),
    "quantity": integer("quantity", "How many units", 1, 12, ["times {n}", "with a quantity of {n}", "({n} of them)"]),
    "reminder_minutes": integer(
        "reminder_minutes",
        "Minutes before the start to remind",
        5,
        60,
        ["with a reminder {n} minutes before", "and remind me {n} minutes ahead"],
        step=5,
    ),
    "volume_level": integer("level", "Volume from 0 to 100", 0, 100, ["to {n} percent"], step=5),
    "servings": integer("servings", "Number of servings", 1, 12, ["for {n} serving{s}"]),
    "target_servings": integer("servings", "Servings to scale to", 2, 16, ["to {n} servings", "so it serves {n}"]),
    "avg_heart_rate": integer(
        "avg_heart_rate", "Average heart rate (bpm)", 90, 185, ["with an average heart rate of {n}"]
    ),
    "step_goal": integer("steps", "Daily step target", 3000, 20000, ["to {n} steps", "to {n} steps a day"], step=500),
    "replicas": integer("replicas", "Number of replicas", 1, 40, ["to {n} replicas", "to {n} instances"]),
    "tail_lines": integer("lines", "Number of log lines", 50, 1000, ["the last {n} lines", "with {n} lines"], step=50),
    "timeout_seconds": integer(
        "timeout_seconds", "Query timeout in seconds", 5, 300, ["with a {n} second timeout"], step=5
    ),
    "retention_days": integer("retention_days", "Days to keep the backup", 7, 90, ["kept for {n} days"]),
    "min_duration_ms": integer(
        "min_duration_ms",
        "Only queries slower than this (ms)",
        100,
        5000,
        ["slower than {n} ms", "taking over {n} milliseconds"],
        step=100,
    ),
    "brightness": integer("brightness", "Brightness percent", 10, 100, ["at {n} percent brightness"], step=10),
    "max_credits": integer("max_credits", "Most credits", 1, 6, ["worth at most {n} credit{s}"]),
    "season": integer("season", "Season start year", 2015, 2026, ["for the {n} season", "in {n}"]),
    "top_n": integer("top_n", "How many teams", 3, 10, ["top {n} only", "just the top {n}"]),
    "ticket_count": integer("quantity", "Number of tickets", 1, 8, ["{n} ticket{s}", "{n} seat{s}"]),
    "min_bedrooms": integer("min_bedrooms", "Fewest bedrooms", 1, 5, ["with at least {n} bedroom{s}"]),
    "loan_term_years": integer("years", "Loan term in years", 10, 30, ["over {n} years", "on a {n}-year term"], step=5),
    "passenger_count": integer("passengers", "Riders", 1, 6, ["for {n} rider{s}", "for {n} passenger{s}"]),
    "stars": integer("stars", "Rating from 1 to 5", 1, 5, ["{n} star{s}", "with {n} star{s}"]),
    "escalation_level": integer("level", "Support tier", 2, 3, ["to tier {n}", "to level {n}"]),
    "portion_grams": integer("grams", "Portion in grams", 20, 500, ["of {n} grams", "of {n} g"], step=10),
    "pet_count": integer("pets", "Number of pets", 1, 4, ["for {n} pet{s}"]),
    "bag_count": integer("bags", "Number of bags", 1, 6, ["{n} bag{s}"]),
    "policyholder_age": integer("age", "Age of the policy holder", 18, 85, ["at age {n}", "for someone aged {n}"]),
    "capacity": integer("capacity", "Number of places", 20, 500, ["for {n} people", "with {n} seats"], step=10),
    "min_power_kw": integer("min_power_kw", "Minimum charging power in kW", 50, 350, ["of at least {n} kW"], step=50),
    "escalation_days": integer("days", "Days", 1, 5, ["within {n} days"]),
    "max_sentences": integer(
        "max_sentences", "Longest summary in sentences", 1, 8, ["in {n} sentences", "in at most {n} sentences"]
    ),
    "supply_days": integer("days_supply", "Days of supply", 30, 90, ["for a {n}-day supply"], step=30),
    # decimal numbers, money and units
    "max_price": number("max_price", "Highest price in USD", 80, 900, ["under {x}", "for at most {x}"], 0, "money"),
    "max_nightly_price": number(
        "max_price_per_night",
        "Highest nightly rate in USD",
        60,
        400,
        ["under {x} a night", "at most {x} per night"],
        0,
        "money",
    ),
    "min_rating": number(
        "min_rating", "Lowest guest rating (0-5)", 3, 4.8, ["rated at least {x}", "with a {x}+ rating"]
    ),
    "amount": number("amount", "Amount in USD", 5, 2500, ["{x}"], 2, "money"),
    "bill_amount": number("amount", "Amount in USD", 5, 900, ["for {x}", "of {x}"], 2, "money"),
    "min_amount": number("min_amount", "Smallest amount in USD", 10, 500, ["over {x}", "above {x}"], 0, "money"),
    "target_price": number("target_price", "Price that triggers the alert", 10, 900, ["{x}"], 2, "money"),
    "radius_km": number("radius_km", "Search radius in km", 0.5, 10, ["within {x}"], 1, "km"),
    "distance_km": number("distance_km", "Distance in km", 1, 42, ["covering {x}", "for {x}"], 1, "km"),
    "body_weight": number("weight_kg", "Body weight in kg", 45, 120, ["of {x}", "at {x}"], 1, "kg"),
    "target_temperature": number("temperature", "Target temperature in °C", 16, 26, ["to {x} degrees", "to {x}°C"], 1),
    "hours": number("hours", "Hours worked", 0.5, 8, ["for {x} hours", "of {x} hours"], 1),
    "package_weight": number(
        "weight_kg", "Package weight in kg", 0.2, 30, ["weighing {x}", "that weighs {x}"], 1, "kg"
    ),
    "bag_weight": number("bag_kg", "Bag size in kg", 1, 15, ["in bags of {x}", "in the {x} size"], 1, "kg"),
    "loan_amount": number(
        "principal", "Loan amount in USD", 100000, 900000, ["for a loan of {x}", "on {x}"], -3, "money"
    ),
    "interest_rate": number(
        "annual_rate_percent", "Annual interest rate in percent", 2, 8, ["at {x}% interest", "with a {x}% rate"], 2
    ),
    "down_payment": number("down_payment", "Down payment in USD", 10000, 150000, ["with {x} down"], -3, "money"),
    "coverage_amount": number(
        "coverage_amount", "Coverage in USD", 10000, 500000, ["for {x} of coverage"], -3, "money"
    ),
    "deductible": number("deductible", "Deductible in USD", 250, 2500, ["with a {x} deductible"], -2, "money"),
    "max_ticket_price": number("max_price", "Highest price per ticket in USD", 20, 400, ["under {x} each"], 0, "money"),
    "tip_amount": number("tip", "Tip in USD", 1, 30, ["with a {x} tip", "and tip {x}"], 0, "money"),
    "ticket_price": number("ticket_price", "Price per ticket in USD", 5, 150, ["at {x} a ticket"], 0, "money"),
    "max_daily_price": number("max_daily_price", "Highest daily rate in USD", 25, 200, ["under {x} a day"], 0, "money"),
    "workout_duration": minutes("duration", "How long", (20, 30, 45, 60, 75, 90, 120), ["for {d}", "lasting {d}"]),
    "duration": minutes("duration", "Meeting length", (15, 30, 45, 60, 90, 120), ["for {d}", "lasting {d}"]),
    "max_prep_minutes": minutes(
        "max_minutes", "Longest total time", (15, 20, 30, 45, 60, 90), ["that take at most {d}", "ready in under {d}"]
    ),
    "since_minutes": minutes("since", "How far back", (15, 30, 60, 120, 240), ["from the last {d}"]),
    "delay_minutes": minutes("delay", "Wait before starting", (5, 10, 15, 30, 60), ["in {d}", "after {d}"]),
    "auto_relock_minutes": minutes("relock_after", "Lock again after", (5, 10, 15, 30), ["and relock it after {d}"]),
    "claimed_amounts": number_list(
        "amounts", "Receipt amounts in USD", 15, 900, ["with receipts of {items} dollars", "for receipts of {items}"], 2
    ),
}

VALUE_KINDS: dict[str, Param] = {
    # arrays of strings
    "attendees": string_list("attendees", "Attendee emails", v.EMAILS, ["with {items}", "inviting {items}"]),
    "recipients": string_list("to", "Recipient emails", v.EMAILS, ["to {items}"], 2),
    "cc": string_list("cc", "Copy these addresses", v.EMAILS, ["cc'ing {items}", "with {items} in cc"], 2),
    "interviewers": string_list("interviewers", "Interviewer emails", v.EMAILS, ["with interviewers {items}"]),
    "dishes": string_list("items", "Dishes", v.DISHES, ["for {items}", "with {items}"]),
    "ingredients": string_list("ingredients", "Ingredients to use", v.INGREDIENTS, ["with {items}", "using {items}"]),
    "shopping_items": string_list("items", "Items", v.INGREDIENTS, ["{items}"], 4),
    "affected_services": string_list("services", "Affected services", v.SERVICES, ["affecting {items}"]),
    "file_urls": string_list("files", "File addresses", v.URLS, ["with the files {items}", "attaching {items}"], 2),
    "tags": string_list("tags", "Tags", v.TAGS, ["tagged {items}", "with the tags {items}"]),
    "labels": string_list("labels", "Labels", v.TAGS, ["labelled {items}"]),
    "image_urls": string_list(
        "images", "Image addresses", v.IMAGES, ["with the images {items}", "attaching {items}"], 2
    ),
    # flags
    "include_hourly": boolean(
        "include_hourly", "Add an hourly breakdown", ["with an hourly breakdown"], ["without the hourly breakdown"]
    ),
    "nonstop_only": boolean("nonstop_only", "Only direct flights", ["nonstop only", "with no layovers"]),
    "breakfast_included": boolean("breakfast", "Include breakfast", ["with breakfast"], ["without breakfast"]),
    "open_now": boolean("open_now", "Only places open now", ["that are open right now"]),
    "include_after_hours": boolean(
        "after_hours", "Include after-hours trading", ["including after-hours"], ["regular hours only"]
    ),
    "include_dividends": boolean("include_dividends", "Include dividends", ["with dividends"], ["excluding dividends"]),
    "include_pending": boolean(
        "include_pending", "Count pending transactions", ["including pending charges"], ["excluding pending charges"]
    ),
    "working_hours_only": boolean("working_hours_only", "Only 9-17", ["within working hours"]),
    "notify_attendees": boolean(
        "notify",
        "Tell attendees",
        ["and notify everyone", "and let the attendees know"],
        ["without notifying anyone", "quietly, no notifications"],
    ),
    "high_priority": boolean(
        "high_priority", "Mark as important", ["marked high priority", "flagged as important"], ["at normal priority"]
    ),
    "has_attachment": boolean(
        "has_attachment", "Only with attachments", ["that have attachments"], ["without attachments"]
    ),
    "mark_as_read": boolean("mark_read", "Mark matched mail read", ["and mark them read"], ["but leave them unread"]),
    "in_stock_only": boolean("in_stock_only", "Only items in stock", ["in stock only", "that are in stock"]),
    "gift_wrap": boolean("gift_wrap", "Gift wrap", ["gift wrapped"], ["without gift wrap"]),
    "express_shipping": boolean("express", "Express delivery", ["with express shipping"], ["with regular shipping"]),
    "public": boolean("public", "Visible to others", ["and make it public"], ["and keep it private"]),
    "force": boolean("force", "Skip graceful shutdown", ["forcefully", "with force"], ["gracefully"]),
    "read_only": boolean("read_only", "Read-only transaction", ["read-only"], ["with write access"]),
    "compress": boolean("compress", "Compress the backup", ["compressed"], ["uncompressed"]),
    "overwrite": boolean("overwrite", "Replace existing data", ["overwriting what's there"], ["without overwriting"]),
    "page_oncall": boolean("page_oncall", "Page the on-call engineer", ["and page on-call"], ["without paging anyone"]),
    "lights_on": boolean("on", "On or off", ["on", "switched on"], ["off", "switched off"]),
    "accepts_new_patients": boolean("accepting_new", "Accepting new patients", ["accepting new patients"]),
    "telehealth": boolean("telehealth", "Video visit", ["as a video visit"], ["in person"]),
    "audit": boolean("audit", "Audit without credit", ["as an auditor"], ["for credit"]),
    "online_only": boolean("online_only", "Only online courses", ["that are online"]),
    "home_only": boolean("home_only", "Only home games", ["home games only"]),
    "formal": boolean("formal", "Formal register", ["formally", "in a formal tone"], ["casually"]),
    "preserve_formatting": boolean("keep_format", "Keep layout", ["keeping the formatting"], ["as plain text"]),
    "signature_required": boolean("signature", "Require a signature", ["with signature required"], ["no signature"]),
    "pets_allowed": boolean("pets_allowed", "Allows pets", ["that allow pets"]),
    "billable": boolean("billable", "Billable time", ["as billable"], ["as non-billable"]),
    "notifications": boolean("notify", "Turn on notifications", ["with notifications on"], ["with notifications off"]),
    "overnight": boolean("overnight", "Overnight stays", ["who can stay overnight"], ["daytime only"]),
    "autoship": boolean("autoship", "Repeat monthly", ["on autoship"], ["as a one-time order"]),
    "active_only": boolean("active_only", "Only active policies", ["that are active"]),
    "family_friendly": boolean("family_friendly", "Suitable for kids", ["that are family friendly"]),
    "loaner_car": boolean("loaner", "Need a loaner car", ["with a loaner car"], ["no loaner needed"]),
    "available_now": boolean("available_now", "Free right now", ["that are free right now"]),
    "automatic_only": boolean("automatic", "Automatic transmission", ["with an automatic"]),
    # dates and times
    "on_date": date("date", "Day", ["on {d}", "for {d}"]),
    "depart_date": date("depart_date", "Departure day", ["on {d}", "leaving {d}"]),
    "transfer_date": date("date", "Day to send it", ["on {d}", "scheduled for {d}"]),
    "pay_date": date("date", "Day to pay", ["on {d}", "scheduled for {d}"]),
    "new_date": date("new_date", "New day", ["to {d}", "moving it to {d}"]),
    "after_date": date("after", "Only after this day", ["since {d}", "after {d}"]),
    "due_date": date("due_date", "Due day", ["due {d}", "with a due date of {d}"]),
    "work_date": date("date", "Day worked", ["on {d}", "for {d}"]),
    "incident_date": date("incident_date", "Day it happened", ["that happened on {d}", "from {d}"]),
    "pickup_date": date("date", "Pickup day", ["on {d}"]),
    "at_time": clock("time", "Start time", ["at {t}"]),
    "pickup_time": clock("pickup_time", "Pickup time", ["for pickup at {t}", "ready at {t}"]),
    "new_start_time": clock("new_start", "New start time", ["at {t}", "starting at {t}"]),
    "checkout_time": clock("checkout_time", "Requested checkout time", ["until {t}", "to {t}"], 11, 16),
    "departure_time": clock("departure_time", "Leaving at", ["leaving at {t}", "departing at {t}"]),
    "fed_at": clock("fed_at", "Feeding time", ["at {t}"]),
    "stay": date_range("check_in", "check_out", "stay", ["from {a} to {b}", "checking in {a} and out {b}"]),
    "history_range": date_range("start", "end", "period", ["from {a} to {b}", "between {a} and {b}"], 90),
    "tx_range": date_range("start", "end", "period", ["from {a} to {b}", "between {a} and {b}"], 60),
    "calendar_range": date_range("start", "end", "period", ["from {a} to {b}", "between {a} and {b}"], 7),
    "ooo_range": date_range("start", "end", "absence", ["from {a} to {b}", "while I'm away from {a} until {b}"]),
    "leave_range": date_range("start", "end", "leave", ["from {a} to {b}", "from {a} through {b}"]),
    "summary_range": date_range("start", "end", "period", ["from {a} to {b}", "for {a} to {b}"], 30),
    "usage_range": date_range("start", "end", "period", ["from {a} to {b}", "between {a} and {b}"], 31),
    "schedule_range": date_range("start", "end", "period", ["from {a} to {b}", "between {a} and {b}"], 30),
    "sprint_range": date_range("start", "end", "sprint", ["from {a} to {b}", "running {a} to {b}"]),
    "sitting_range": date_range("start", "end", "sitting", ["from {a} to {b}"]),
    "event_range": date_range("start", "end", "period", ["between {a} and {b}", "from {a} to {b}"], 10),
    "rental_range": date_range(
        "pickup_date", "return_date", "rental", ["from {a} to {b}", "picking up {a}, returning {b}"]
    ),
}
