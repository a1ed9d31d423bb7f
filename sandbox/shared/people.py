"""Deterministic, realistic people for seed data, with the mess real orgs have.

`person(seed, index)` is a pure function of its arguments, so the HubSpot and Salesforce seeders
can produce the same human on both sides (identity matching has real work to do) without
sharing state, and a million people can be streamed without holding them in memory.
"""

from __future__ import annotations

from dataclasses import dataclass

FIRST_NAMES = (
    "Olivia Liam Emma Noah Amelia Oliver Ava Elijah Sophia Mateo Isabella Lucas Mia Levi "
    "Charlotte Asher Harper James Evelyn Leo Luna Ethan Camila Henry Gianna Hudson Aurora "
    "Sebastian Ella Jack Nova Aiden Hazel Owen Scarlett Samuel Violet Wyatt Aria Priya Arjun "
    "Mei Wei Yuki Hiro Fatima Omar Chloé José Zoë Søren Ãna Björn Łukasz Nnamdi Aisha Diego"
).split()
LAST_NAMES = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
    "Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris "
    "Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen "
    "Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts O'Brien "
    "Müller Kowalski Singh Patel Kim Tanaka Okafor Dubois Rossi Larsen D'Angelo"
).split()
COMPANY_STEMS = (
    "Acme Globex Initech Umbrella Hooli Vandelay Stark Wayne Wonka Cyberdyne Soylent Tyrell "
    "Massive Dynamic Aperture Gringotts Oscorp Nakatomi Monarch Prestige Virtucon Axiom "
    "Blue Sun Ollivander Pied Piper Dunder Sterling Bluth Krusty Duff Vehement"
).split()
COMPANY_SUFFIXES = ("Inc", "LLC", "Ltd", "GmbH", "Corp", "Group", "Labs", "Systems", "& Co")
DOMAINS = ("example.com", "example.org", "example.net", "mail.example.com", "corp.example")
TITLES = (
    "Marketing Manager",
    "VP Sales",
    "Chief Executive Officer",
    "Head of Growth",
    "Software Engineer",
    "Director of Operations",
    "Procurement Lead",
    "CFO",
    "IT Administrator",
    "Demand Generation Specialist",
    "Revenue Operations Analyst",
    "Founder",
)
# (country as people type it, state as people type it); both forms occur in real data.
PLACES = (
    ("United States", "California"),
    ("USA", "NY"),
    ("US", "Texas"),
    ("United States", "WA"),
    ("Canada", "Ontario"),
    ("CA", "BC"),
    ("United Kingdom", ""),
    ("UK", ""),
    ("Germany", ""),
    ("Deutschland", ""),
    ("France", ""),
    ("Australia", "NSW"),
    ("India", "Karnataka"),
    ("Japan", ""),
    ("Brazil", "São Paulo"),
    ("Mexico", ""),
    ("", ""),
)
LEAD_SOURCES = ("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other", "Webinar")
CAMPAIGNS = (
    "2026 Q3 Webinar: Funnel Math",
    "Ebook: The Lead Handoff",
    "Trade Show Berlin",
    "Paid Search Brand",
    "Newsletter",
)


@dataclass(frozen=True, slots=True)
class Person:
    index: int
    first_name: str
    last_name: str
    email: str
    company: str
    title: str
    phone: str
    country: str
    state: str
    lead_source: str
    campaign: str
    score: int
    age_days: int  # how long ago the person first appeared


def _mix(seed: int, index: int, salt: int) -> int:
    """splitmix64: cheap, well-spread, reproducible choices without a Random per person."""
    z = (seed * 0x9E3779B97F4A7C15 + index * 0xBF58476D1CE4E5B9 + salt) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return z ^ (z >> 31)


def _pick(options: tuple[str, ...] | list[str], seed: int, index: int, salt: int) -> str:
    return options[_mix(seed, index, salt) % len(options)]


def _email(seed: int, index: int, first: str, last: str) -> str:
    # Every 97th person shares the previous person's address: duplicates across records.
    if index % 97 == 96:
        index -= 1
        first = _pick(FIRST_NAMES, seed, index, 1)
        last = _pick(LAST_NAMES, seed, index, 2)
    local = f"{first}.{last}".lower().replace("'", "").replace(" ", "")
    address = f"{local}{index}@{_pick(DOMAINS, seed, index, 3)}"
    # Every 13th address is typed in mixed case (and every 29th with stray spaces).
    if index % 13 == 6:
        address = address.title()
    if index % 29 == 14:
        address = f" {address} "
    return address


def person(seed: int, index: int) -> Person:
    first = _pick(FIRST_NAMES, seed, index, 1)
    last = _pick(LAST_NAMES, seed, index, 2)
    company = f"{_pick(COMPANY_STEMS, seed, index, 4)} {_pick(COMPANY_SUFFIXES, seed, index, 5)}"
    country, state = PLACES[_mix(seed, index, 6) % len(PLACES)]
    digits = _mix(seed, index, 7) % 10**10
    phone = f"+1 ({digits // 10**7:03d}) {digits // 10**4 % 1000:03d}-{digits % 10**4:04d}"
    if index % 41 == 20:
        phone = "n/a"  # junk the Salesforce phone validation rule rejects
    elif index % 23 == 11:
        phone = ""
    return Person(
        index=index,
        first_name="" if index % 53 == 26 else first,
        last_name=last,
        email=_email(seed, index, first, last),
        company="" if index % 17 == 8 else company,
        title=_pick(TITLES, seed, index, 8),
        phone=phone,
        country=country,
        state=state,
        lead_source=_pick(LEAD_SOURCES, seed, index, 9),
        campaign=_pick(CAMPAIGNS, seed, index, 10),
        score=_mix(seed, index, 11) % 101,
        age_days=_mix(seed, index, 12) % 365,
    )


def salesforce_lead_indexes(*, contacts: int, leads: int) -> range:
    """Salesforce's leads start halfway through HubSpot's contacts: with as many of each, half
    of them overlap; with the defaults (twice as many contacts), nearly all."""
    start = contacts // 2
    return range(start, start + leads)
