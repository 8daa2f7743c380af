"""Word pools the templates draw from: places, people, products, ids and free text (data only)."""

from __future__ import annotations

CITIES = (
    "Lisbon",
    "Oslo",
    "Denver",
    "Kyoto",
    "Nairobi",
    "Toronto",
    "Melbourne",
    "Seville",
    "Krakow",
    "Austin",
    "Montreal",
    "Edinburgh",
    "Singapore",
    "Lima",
    "Reykjavik",
    "Porto",
    "Vienna",
    "Chicago",
    "Cape Town",
    "Dublin",
    "Seoul",
    "Boston",
    "Munich",
    "Buenos Aires",
    "Helsinki",
    "Marseille",
    "Vancouver",
    "Osaka",
)
STREETS = (
    "12 Oak Street",
    "450 Harbor Road",
    "7 Mill Lane",
    "88 King Avenue",
    "231 Pine Street",
    "19 Elm Court",
    "1020 Market Street",
    "5 Station Road",
    "63 Maple Drive",
    "340 Lake Shore Drive",
    "14 Church Lane",
)
POSTAL_CODES = ("10115", "94107", "02139", "75011", "1010", "60614", "80202", "M5V 2T6", "EH1 1YZ", "3000")
COUNTRIES = ("US", "CA", "GB", "DE", "FR", "PT", "AU", "JP", "NO", "ES")
PEOPLE = (
    "Maria Lopez",
    "James Chen",
    "Aisha Bello",
    "Tom Novak",
    "Priya Raman",
    "Lukas Meyer",
    "Sofia Rossi",
    "Daniel Kim",
    "Emma Dubois",
    "Omar Haddad",
    "Hannah Berg",
    "Diego Alvarez",
    "Yuki Tanaka",
    "Grace Okafor",
)
LAST_NAMES = ("Lopez", "Chen", "Bello", "Novak", "Raman", "Meyer", "Rossi", "Kim", "Dubois", "Haddad", "Berg")
EMAILS = (
    "ana@example.com",
    "bob.lee@example.org",
    "carla@acme.io",
    "dev-team@example.com",
    "j.smith@contoso.com",
    "mei.wong@example.net",
    "ops@acme.io",
    "sara.k@example.com",
    "tariq@example.org",
    "li.na@contoso.com",
)
RESTAURANTS = (
    "Nopa",
    "The Olive Tree",
    "Casa Lucia",
    "Sakura House",
    "Blue Door Bistro",
    "Little Saigon",
    "Verde",
    "The Copper Pot",
    "Taqueria Sol",
    "Maison Claire",
)
HOTELS = (
    "Harbor View Hotel",
    "The Grand Meridian",
    "Parkside Inn",
    "Hotel Aurora",
    "Riverside Suites",
    "The Linden",
    "Casa del Mar",
    "Northstar Lodge",
)
FLIGHTS = ("BA117", "LH401", "AF22", "UA930", "DL88", "KL641", "QF12", "TP205", "SK1467", "AC870")
TICKERS = (
    ("AAPL", "Apple"),
    ("MSFT", "Microsoft"),
    ("NVDA", "Nvidia"),
    ("AMZN", "Amazon"),
    ("TSLA", "Tesla"),
    ("GOOGL", "Alphabet"),
    ("KO", "Coca-Cola"),
    ("JNJ", "Johnson & Johnson"),
    ("V", "Visa"),
    ("SHOP", "Shopify"),
)
PRODUCTS = (
    "wireless headphones",
    "standing desk",
    "running shoes",
    "espresso machine",
    "mechanical keyboard",
    "rain jacket",
    "air purifier",
    "yoga mat",
    "4k monitor",
    "hiking backpack",
    "electric kettle",
    "desk lamp",
)
SKUS = ("SKU-1042", "SKU-2290", "SKU-3317", "SKU-4858", "SKU-5106", "SKU-6673", "SKU-7741", "SKU-8025")
SONGS = (
    ("Blue in Green", "Miles Davis"),
    ("Dreams", "Fleetwood Mac"),
    ("Clair de Lune", "Claude Debussy"),
    ("Heroes", "David Bowie"),
    ("Redbone", "Childish Gambino"),
    ("Jolene", "Dolly Parton"),
    ("Nude", "Radiohead"),
    ("Lovely Day", "Bill Withers"),
    ("Hallelujah", "Leonard Cohen"),
)
INGREDIENTS = (
    "chicken",
    "rice",
    "garlic",
    "spinach",
    "chickpeas",
    "tomatoes",
    "lemon",
    "salmon",
    "mushrooms",
    "tofu",
    "eggs",
    "basil",
    "potatoes",
    "coconut milk",
    "ginger",
    "lentils",
)
RECIPES = (
    "chicken curry",
    "mushroom risotto",
    "lentil soup",
    "banana bread",
    "pad thai",
    "shakshuka",
    "lemon salmon",
    "veggie lasagna",
    "chili con carne",
    "tofu stir fry",
)
SERVICES = (
    "payments-api",
    "auth-service",
    "search-indexer",
    "checkout-web",
    "notification-worker",
    "billing-api",
    "user-profile",
    "inventory-sync",
)
DATABASES = ("orders_db", "analytics", "customers", "inventory", "billing_prod", "events_warehouse")
TABLES = ("orders", "customers", "invoices", "page_views", "shipments", "subscriptions", "products")
SQL = (
    "SELECT count(*) FROM orders WHERE status = 'open'",
    "SELECT email FROM customers WHERE created_at > '2026-01-01'",
    "SELECT product_id, sum(qty) FROM order_items GROUP BY product_id",
    "SELECT * FROM invoices WHERE amount > 1000 ORDER BY amount DESC LIMIT 20",
)
TEAMS = (
    "Boston Celtics",
    "Real Madrid",
    "Chicago Cubs",
    "Toronto Maple Leafs",
    "Arsenal",
    "Denver Nuggets",
    "Bayern Munich",
    "Seattle Sounders",
)
PLAYERS = ("Nikola Jokic", "Bukayo Saka", "Jayson Tatum", "Jude Bellingham", "Connor McDavid", "Shohei Ohtani")
NEWS_TOPICS = (
    "renewable energy",
    "interest rates",
    "electric vehicles",
    "space exploration",
    "climate policy",
    "semiconductor supply",
    "housing market",
    "artificial intelligence regulation",
)
PHRASES = (
    "Where is the nearest train station?",
    "Thank you for your help with the move.",
    "The meeting has been moved to Thursday.",
    "Please keep the receipt for your records.",
    "Our office will be closed on Monday.",
    "Can I pay by card?",
    "The package arrived damaged.",
)
SUBJECTS = (
    "Quarterly review",
    "Invoice 4471",
    "Team offsite",
    "Project kickoff",
    "Contract renewal",
    "Lunch on Friday",
)
BODIES = (
    "Please find the agenda attached.",
    "Can we move our call to next week?",
    "The draft is ready for review.",
    "Thanks for the quick turnaround.",
    "Let me know if the numbers look right.",
)
TASKS = (
    "Update the onboarding guide",
    "Fix login timeout bug",
    "Prepare Q3 budget",
    "Write release notes",
    "Migrate CI to new runners",
    "Review vendor contract",
    "Design the pricing page",
)
PROJECTS = ("Apollo", "Website Redesign", "Mobile App", "Data Platform", "Q3 Launch")
PETS = (("Biscuit", "dog"), ("Luna", "cat"), ("Mango", "parrot"), ("Pepper", "dog"), ("Miso", "cat"))
COURSES = ("CS101", "MATH220", "BIO150", "ECON201", "HIST110", "PHYS230", "STAT300")
BOOKS = (
    ("The Left Hand of Darkness", "Ursula K. Le Guin"),
    ("Beloved", "Toni Morrison"),
    ("The Remains of the Day", "Kazuo Ishiguro"),
    ("Dune", "Frank Herbert"),
    ("Middlemarch", "George Eliot"),
)
VEHICLES = (("Toyota", "Corolla"), ("Honda", "Civic"), ("Ford", "F-150"), ("Tesla", "Model 3"), ("Mazda", "CX-5"))
EVENTS = ("jazz festival", "food market", "tech meetup", "art fair", "comedy night", "film screening")
HANDLES = ("@acme_news", "@datadaily", "@cityparks", "@bookclubhq", "@runwithsam")
COMPLAINTS = (
    "The app crashes when I upload a photo.",
    "I was charged twice for my subscription.",
    "My password reset email never arrives.",
    "The export button does nothing on Safari.",
)
NOTES = ("family event", "moving house", "doctor visit", "conference travel", "wedding")
DISHES = (
    "margherita pizza",
    "pad see ew",
    "caesar salad",
    "lamb tagine",
    "mushroom ramen",
    "fish tacos",
    "falafel wrap",
)
LANDMARKS = (
    "Union Station",
    "City Hall",
    "the airport",
    "Riverside Park",
    "the convention center",
    "the Museum of Modern Art",
    "the university library",
    "Pier 39",
    "the central market",
    "the stadium",
)
PAYEES = ("City Water", "Metro Electric", "FiberNet Internet", "Green Valley Gas", "Summit Mobile")
SEARCH_TERMS = ("invoice", "flight itinerary", "contract", "password reset", "offer letter", "receipt")
MEETING_TITLES = ("Design review", "1:1 with Sam", "Budget planning", "Customer demo", "Sprint retro", "Board prep")
URLS = (
    "https://example.com/report.pdf",
    "https://files.example.org/essay.docx",
    "https://example.com/slides.pptx",
    "https://news.example.com/article/4821",
    "https://example.net/notes.md",
)
PHARMACIES = ("Walgreens on Main Street", "CVS downtown", "Boots Oxford Street", "City Pharmacy")
PET_FOODS = ("Acana", "Royal Canin", "Hill's Science Diet", "Orijen", "Purina Pro Plan")
TRANSLATABLE = {
    "Where is the train station?": {
        "es": "¿Dónde está la estación de tren?",
        "fr": "Où est la gare ?",
        "de": "Wo ist der Bahnhof?",
    },
    "Thank you for your help.": {
        "es": "Gracias por su ayuda.",
        "fr": "Merci pour votre aide.",
        "de": "Danke für Ihre Hilfe.",
    },
    "The meeting is on Thursday.": {
        "es": "La reunión es el jueves.",
        "fr": "La réunion est jeudi.",
        "de": "Das Treffen ist am Donnerstag.",
    },
    "Can I pay by card?": {
        "es": "¿Puedo pagar con tarjeta?",
        "fr": "Puis-je payer par carte ?",
        "de": "Kann ich mit Karte bezahlen?",
    },
    "Our office is closed on Monday.": {
        "es": "Nuestra oficina está cerrada el lunes.",
        "fr": "Notre bureau est fermé le lundi.",
        "de": "Unser Büro ist montags geschlossen.",
    },
}
FOREIGN = {
    "Il pleut depuis ce matin.": "fr",
    "Wir sehen uns morgen früh.": "de",
    "La cuenta, por favor.": "es",
    "Obrigado pela ajuda.": "pt",
}
TAGS = ("billing", "login", "mobile", "export", "refund", "performance")
GLOSSARY = (("invoice", "factura"), ("shipment", "envío"), ("account", "cuenta"), ("refund", "reembolso"))
POSTS = (
    "We just shipped dark mode!",
    "Join our webinar on data privacy next week.",
    "Hiring: senior backend engineer.",
    "Thanks to everyone who came to the meetup!",
)
VENUES = ("the Riverside Hall", "Warehouse 9", "the Grand Theater", "Civic Center Plaza")
IMAGES = ("https://cdn.example.com/launch.png", "https://cdn.example.com/team.jpg", "https://example.com/chart.png")
SPRINTS = ("Sprint 14", "Sprint 15", "Q3 hardening", "Launch sprint")
