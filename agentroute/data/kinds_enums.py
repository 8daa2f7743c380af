"""Parameter templates for enums and lists of enums, by key (data only; see ``params.said`` for the spec strings)."""

from __future__ import annotations

from agentroute.data.params import Param, enum, enum_list

ENUM_KINDS: dict[str, Param] = {
    "units": enum(
        "units",
        "Temperature units",
        "celsius: in Celsius / in °C | fahrenheit: in Fahrenheit / in °F",
    ),
    "pollutant": enum(
        "pollutant",
        "Pollutant to report",
        "pm25: for PM2.5 | pm10: for PM10 | ozone: for ozone | no2: for nitrogen dioxide",
    ),
    "min_severity": enum(
        "min_severity",
        "Lowest severity to include",
        "moderate: of moderate severity or worse | severe: that are severe or worse | extreme: that are extreme",
    ),
    "cabin_class": enum(
        "cabin_class",
        "Cabin",
        (
            "economy: in economy | premium_economy: in premium economy | business: in business class"
            " | first: in first class"
        ),
    ),
    "seat_preference": enum(
        "seat_preference",
        "Seat",
        "window: with a window seat | aisle: with an aisle seat | middle: in a middle seat",
    ),
    "refund_to": enum(
        "refund_to",
        "Where the refund goes",
        "original_payment: and refund it to my card | travel_credit: and give me travel credit",
    ),
    "room_type": enum("room_type", "Room type", "single: a single room | double: a double room | suite: a suite"),
    "review_sort": enum("sort", "Review order", "newest: newest first | highest: best first | lowest: worst first"),
    "cuisine": enum(
        "cuisine",
        "Cuisine",
        (
            "italian: serving italian food / italian places | japanese: serving japanese food / japanese places"
            " | mexican: serving mexican food / mexican places | indian: serving indian food / indian places"
            " | thai: serving thai food / thai places | french: serving french food / french places"
        ),
    ),
    "price_level": enum(
        "price_level",
        "Price level",
        "cheap: that are cheap / on a budget | moderate: that are mid-range | expensive: that are upscale",
    ),
    "seating": enum("seating", "Seating area", "indoor: inside | outdoor: outside / on the terrace | bar: at the bar"),
    "dietary": enum(
        "dietary",
        "Dietary filter",
        "vegetarian: vegetarian dishes only | vegan: vegan dishes only | gluten_free: gluten-free only",
    ),
    "interval": enum(
        "interval",
        "Data point spacing",
        "daily: daily | weekly: by week / weekly | monthly: by month / monthly",
    ),
    "trade_side": enum("side", "Buy or sell", "buy: buy | sell: sell"),
    "alert_direction": enum(
        "direction",
        "Trigger when price goes",
        "above: when it rises above | below: when it drops below",
    ),
    "account": enum(
        "account",
        "Account",
        "checking: for my checking account | savings: for my savings account | credit_card: for my credit card",
    ),
    "spend_category": enum(
        "category",
        "Spending category",
        "groceries: in groceries | dining: in dining | travel: in travel | utilities: in utilities",
    ),
    "freeze_reason": enum(
        "reason",
        "Why",
        (
            "lost: because I lost it | stolen: because it was stolen"
            " | suspicious_activity: because of suspicious charges"
        ),
    ),
    "calendar_name": enum(
        "calendar",
        "Calendar",
        "work: on my work calendar | personal: on my personal calendar | family: on the family calendar",
    ),
    "folder": enum(
        "folder",
        "Target folder",
        "receipts: into Receipts | newsletters: into Newsletters | archive: into the archive",
    ),
    "sort_by": enum("sort_by", "Order", "price_low: cheapest first | rating: best rated first | newest: newest first"),
    "return_reason": enum(
        "reason",
        "Return reason",
        (
            "damaged: because it arrived damaged | wrong_size: because it's the wrong size"
            " | not_as_described: because it's not as described"
        ),
    ),
    "refund_method": enum("refund_method", "Refund to", "card: refunded to my card | store_credit: as store credit"),
    "travel_mode": enum(
        "mode",
        "How to travel",
        (
            "driving: by car / driving | walking: on foot / walking | cycling: by bike"
            " | transit: by public transport / by transit"
        ),
    ),
    "place_category": enum(
        "category",
        "Kind of place",
        "cafe: cafes | pharmacy: pharmacies | gas_station: gas stations | parking: parking garages",
    ),
    "place_label": enum("label", "Label", "home: as home | work: as work | gym: as my gym"),
    "speaker": enum(
        "speaker",
        "Speaker",
        "living_room: on the living room speaker | kitchen: in the kitchen | bedroom: on the bedroom speaker",
    ),
    "search_type": enum("type", "What to search", "track: songs | album: albums | artist: artists"),
    "diet": enum(
        "diet",
        "Diet",
        (
            "vegetarian: that are vegetarian | vegan: that are vegan | keto: that are keto"
            " | gluten_free: that are gluten-free"
        ),
    ),
    "list_name": enum(
        "list",
        "Shopping list",
        "weekly: to the weekly shopping list | party: to the party shopping list",
    ),
    "activity": enum(
        "activity",
        "Activity",
        "running: a run | cycling: a bike ride | swimming: a swim | rowing: a rowing session | walking: a walk",
    ),
    "exercise": enum(
        "exercise",
        "Lift",
        "squat: squats | bench_press: bench press | deadlift: deadlifts | overhead_press: overhead press",
    ),
    "balance_leave_type": enum("leave_type", "Kind of leave", "vacation: for vacation days | sick: for sick days"),
    "leave_type": enum(
        "leave_type",
        "Kind of leave",
        "vacation: as vacation | sick: as sick leave | parental: as parental leave | unpaid: as unpaid leave",
    ),
    "department": enum(
        "department",
        "Department",
        "engineering: in Engineering | sales: in Sales | finance: in Finance | marketing: in Marketing",
    ),
    "interview_format": enum("format", "Format", "onsite: on site | video: over video | phone: by phone"),
    "environment": enum(
        "environment",
        "Environment",
        "production: in production / in prod | staging: in staging | dev: in the dev environment",
    ),
    "log_level": enum(
        "level",
        "Lowest level",
        "error: errors only | warn: warnings and errors | debug: at debug level",
    ),
    "severity": enum(
        "severity",
        "Severity",
        "sev1: as sev1 / as a critical sev1 | sev2: as sev2 | sev3: as a minor sev3",
    ),
    "room": enum(
        "room",
        "Room",
        "living_room: in the living room | bedroom: in the bedroom | kitchen: in the kitchen | office: in the office",
    ),
    "hvac_mode": enum("mode", "Mode", "heat: on heat | cool: on cooling | auto: on auto"),
    "light_color": enum(
        "color",
        "Color",
        "warm_white: in warm white | cool_white: in cool white | red: in red | blue: in blue",
    ),
    "door": enum("door", "Door", "front: the front door | back: the back door | garage: the garage door"),
    "scene": enum(
        "scene",
        "Scene",
        (
            "movie_night: the movie night scene | good_morning: the good morning scene | away: the away scene"
            " | bedtime: the bedtime scene"
        ),
    ),
    "device": enum(
        "device",
        "Device",
        "heat_pump: for the heat pump | ev_charger: for the EV charger | dishwasher: for the dishwasher",
    ),
    "specialty": enum(
        "specialty",
        "Medical specialty",
        (
            "dermatology: a dermatologist | cardiology: a cardiologist | pediatrics: a pediatrician"
            " | orthopedics: an orthopedist"
        ),
    ),
    "doctor_language": enum(
        "language",
        "Language spoken",
        "es: who speaks Spanish | fr: who speaks French | zh: who speaks Mandarin",
    ),
    "cancel_reason": enum(
        "reason",
        "Why",
        "schedule_conflict: because of a schedule conflict | feeling_better: since I'm feeling better",
    ),
    "lab_test": enum(
        "test",
        "Lab test",
        (
            "blood_panel: for my blood panel | cholesterol: for cholesterol | vitamin_d: for vitamin D"
            " | thyroid: for my thyroid test"
        ),
    ),
    "term": enum(
        "term",
        "Term",
        "fall_2026: for fall 2026 | spring_2027: for spring 2027 | summer_2026: for summer 2026",
    ),
    "subject_area": enum(
        "subject",
        "Subject",
        (
            "mathematics: in mathematics | biology: in biology | history: in history"
            " | computer_science: in computer science"
        ),
    ),
    "course_level": enum(
        "level",
        "Level",
        "intro: at intro level | intermediate: at intermediate level | advanced: at advanced level",
    ),
    "league": enum(
        "league",
        "League",
        "nba: in the NBA | premier_league: in the Premier League | mlb: in MLB | nhl: in the NHL",
    ),
    "stadium_section": enum(
        "section",
        "Section",
        "lower_bowl: in the lower bowl | upper_deck: in the upper deck | standing: in the standing area",
    ),
    "news_category": enum(
        "category",
        "Section",
        (
            "business: business headlines | technology: technology headlines | sports: sports headlines"
            " | science: science headlines"
        ),
    ),
    "country": enum("country", "Country", "us: from the US | gb: from the UK | de: from Germany | jp: from Japan"),
    "news_language": enum("language", "Article language", "en: in English | es: in Spanish | de: in German"),
    "digest_frequency": enum(
        "frequency",
        "How often",
        "daily: daily | weekly: weekly | breaking: for breaking news only",
    ),
    "target_language": enum("target_language", "Language code", "es: into Spanish | fr: into French | de: into German"),
    "shipping_speed": enum(
        "speed",
        "Service",
        "standard: with standard shipping | express: by express | overnight: overnight",
    ),
    "property_type": enum(
        "property_type",
        "Property type",
        (
            "apartment: limited to apartments / (apartments only) | house: limited to houses / (houses only)"
            " | townhouse: limited to townhouses / (townhouses only) | condo: limited to condos / (condos only)"
        ),
    ),
    "fare_ride_type": enum(
        "ride_type",
        "Ride type",
        "standard: for a standard ride | xl: for an XL | premium: for a premium ride | shared: for a shared ride",
    ),
    "ride_type": enum(
        "ride_type",
        "Ride type",
        "standard: a standard ride | xl: an XL ride | premium: a premium ride | shared: a shared ride",
    ),
    "priority": enum(
        "priority",
        "Priority",
        (
            "low: with low priority | high: with high priority / marked high priority"
            " | urgent: as urgent / with urgent priority"
        ),
    ),
    "ticket_status": enum("status", "New status", "pending: to pending | resolved: to resolved | closed: to closed"),
    "task_status": enum(
        "status",
        "Status",
        "todo: to to-do | in_progress: to in progress | in_review: to in review | done: to done",
    ),
    "task_status_filter": enum(
        "status",
        "Status",
        "todo: that are still to do | in_progress: that are in progress | done: that are done",
    ),
    "platform": enum("platform", "Platform", "linkedin: on LinkedIn | mastodon: on Mastodon | instagram: on Instagram"),
    "visit_reason": enum(
        "reason",
        "Reason for the visit",
        "checkup: for a checkup | vaccination: for shots | dental: for a dental cleaning | injury: for a limp",
    ),
    "coverage_type": enum(
        "coverage_type",
        "Coverage",
        (
            "auto: for auto insurance | home: for home insurance | renters: for renters insurance"
            " | travel: for travel insurance"
        ),
    ),
    "event_category": enum(
        "category",
        "Category",
        "music: concerts | comedy: comedy shows | theater: theater shows / plays | food: food festivals",
    ),
    "seat_type": enum(
        "seat_type",
        "Seat",
        "general: in general admission | reserved: with reserved seating | vip: in the VIP section",
    ),
    "service_type": enum(
        "service_type",
        "Service",
        "oil_change: an oil change | tire_rotation: a tire rotation | brake_inspection: a brake inspection",
    ),
    "connector_type": enum(
        "connector",
        "Plug",
        "ccs: with CCS plugs | chademo: with CHAdeMO | nacs: with NACS (Tesla) plugs",
    ),
    "car_class": enum(
        "car_class",
        "Car class",
        "economy: an economy car | suv: an SUV | minivan: a minivan | luxury: a luxury car",
    ),
    "amenities": enum_list(
        "amenities",
        "Required amenities",
        "pool: a pool | gym: a gym | parking: parking | spa: a spa",
        ["with {items}", "that have {items}"],
    ),
    "avoid": enum_list(
        "avoid",
        "Road types to avoid",
        "tolls: tolls | highways: highways | ferries: ferries",
        ["avoiding {items}", "with no {items}"],
    ),
    "fitness_metrics": enum_list(
        "metrics",
        "Metrics",
        "steps: steps | calories: calories | active_minutes: active minutes | sleep: sleep",
        ["covering {items}", "with {items}"],
        3,
    ),
    "stat_categories": enum_list(
        "stats",
        "Stats",
        "points: points | assists: assists | rebounds: rebounds | minutes: minutes played",
        ["with {items}"],
        3,
    ),
    "news_sources": enum_list("sources", "Outlets", "reuters: Reuters | ap: AP | bbc: the BBC", ["from {items}"]),
    "target_languages": enum_list(
        "target_languages",
        "Language codes",
        "es: Spanish | fr: French | de: German | ja: Japanese",
        ["into {items}"],
        3,
    ),
    "platforms": enum_list(
        "platforms",
        "Where to post",
        "linkedin: LinkedIn | mastodon: Mastodon | instagram: Instagram",
        ["on {items}"],
        3,
    ),
    "post_metrics": enum_list(
        "metrics",
        "Metrics",
        "impressions: impressions | likes: likes | shares: shares | clicks: clicks",
        ["for {items}"],
        3,
    ),
}
