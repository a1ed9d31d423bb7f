"""Country and state spellings -> the names Salesforce's State and Country picklists expect.

People type "USA", "US", "Deutschland" or "NY"; Salesforce picklists (and reports on either
side) need one spelling. Provider facts as data: one row per country (picklist name, ISO
alpha-2, ISO alpha-3, other spellings) and one per state or province.
"""

from __future__ import annotations

from functools import cache, lru_cache

COUNTRIES: tuple[tuple[str, ...], ...] = (
    ("United States", "US", "USA", "United States of America", "America", "U.S.", "U.S.A."),
    ("Canada", "CA", "CAN"),
    ("Mexico", "MX", "MEX", "México"),
    ("Brazil", "BR", "BRA", "Brasil"),
    ("Argentina", "AR", "ARG"),
    ("Chile", "CL", "CHL"),
    ("Colombia", "CO", "COL"),
    ("Peru", "PE", "PER", "Perú"),
    ("United Kingdom", "GB", "GBR", "UK", "U.K.", "Great Britain", "England", "Scotland", "Wales"),
    ("Ireland", "IE", "IRL", "Éire"),
    ("Germany", "DE", "DEU", "Deutschland"),
    ("France", "FR", "FRA"),
    ("Spain", "ES", "ESP", "España"),
    ("Portugal", "PT", "PRT"),
    ("Italy", "IT", "ITA", "Italia"),
    ("Netherlands", "NL", "NLD", "The Netherlands", "Holland", "Nederland"),
    ("Belgium", "BE", "BEL", "België", "Belgique"),
    ("Luxembourg", "LU", "LUX"),
    ("Switzerland", "CH", "CHE", "Schweiz", "Suisse", "Svizzera"),
    ("Austria", "AT", "AUT", "Österreich"),
    ("Denmark", "DK", "DNK", "Danmark"),
    ("Sweden", "SE", "SWE", "Sverige"),
    ("Norway", "NO", "NOR", "Norge"),
    ("Finland", "FI", "FIN", "Suomi"),
    ("Iceland", "IS", "ISL", "Ísland"),
    ("Poland", "PL", "POL", "Polska"),
    ("Czechia", "CZ", "CZE", "Czech Republic", "Česko"),
    ("Hungary", "HU", "HUN", "Magyarország"),
    ("Romania", "RO", "ROU", "România"),
    ("Greece", "GR", "GRC", "Ελλάδα"),
    ("Turkey", "TR", "TUR", "Türkiye"),
    ("Israel", "IL", "ISR"),
    ("United Arab Emirates", "AE", "ARE", "UAE"),
    ("Saudi Arabia", "SA", "SAU"),
    ("Egypt", "EG", "EGY"),
    ("South Africa", "ZA", "ZAF"),
    ("Nigeria", "NG", "NGA"),
    ("Kenya", "KE", "KEN"),
    ("India", "IN", "IND", "Bharat"),
    ("China", "CN", "CHN", "PRC", "People's Republic of China"),
    ("Hong Kong", "HK", "HKG"),
    ("Taiwan", "TW", "TWN"),
    ("Japan", "JP", "JPN", "Nippon"),
    ("Korea, Republic of", "KR", "KOR", "South Korea", "Korea"),
    ("Singapore", "SG", "SGP"),
    ("Malaysia", "MY", "MYS"),
    ("Indonesia", "ID", "IDN"),
    ("Philippines", "PH", "PHL"),
    ("Thailand", "TH", "THA"),
    ("Vietnam", "VN", "VNM", "Viet Nam"),
    ("Australia", "AU", "AUS"),
    ("New Zealand", "NZ", "NZL", "Aotearoa"),
)

_UNITED_STATES, _CANADA, _AUSTRALIA = "United States", "Canada", "Australia"

#: (country, postal code, full name). A code names a state only within its country: WA is
#: Washington in the United States and Western Australia in Australia, NL Newfoundland and
#: Labrador in Canada and Nuevo León in Mexico (whose states are not listed: kept as typed).
STATES: tuple[tuple[str, str, str], ...] = tuple(
    (country, code, name)
    for country, rows in (
        (_UNITED_STATES, (
            ("AL", "Alabama"), ("AK", "Alaska"), ("AZ", "Arizona"), ("AR", "Arkansas"),
            ("CA", "California"), ("CO", "Colorado"), ("CT", "Connecticut"), ("DE", "Delaware"),
            ("DC", "District of Columbia"), ("FL", "Florida"), ("GA", "Georgia"),
            ("HI", "Hawaii"), ("ID", "Idaho"), ("IL", "Illinois"), ("IN", "Indiana"),
            ("IA", "Iowa"), ("KS", "Kansas"), ("KY", "Kentucky"), ("LA", "Louisiana"),
            ("ME", "Maine"), ("MD", "Maryland"), ("MA", "Massachusetts"), ("MI", "Michigan"),
            ("MN", "Minnesota"), ("MS", "Mississippi"), ("MO", "Missouri"), ("MT", "Montana"),
            ("NE", "Nebraska"), ("NV", "Nevada"), ("NH", "New Hampshire"),
            ("NJ", "New Jersey"), ("NM", "New Mexico"), ("NY", "New York"),
            ("NC", "North Carolina"), ("ND", "North Dakota"), ("OH", "Ohio"),
            ("OK", "Oklahoma"), ("OR", "Oregon"), ("PA", "Pennsylvania"),
            ("RI", "Rhode Island"), ("SC", "South Carolina"), ("SD", "South Dakota"),
            ("TN", "Tennessee"), ("TX", "Texas"), ("UT", "Utah"), ("VT", "Vermont"),
            ("VA", "Virginia"), ("WA", "Washington"), ("WV", "West Virginia"),
            ("WI", "Wisconsin"), ("WY", "Wyoming"), ("PR", "Puerto Rico"),
        )),
        (_CANADA, (
            ("AB", "Alberta"), ("BC", "British Columbia"), ("MB", "Manitoba"),
            ("NB", "New Brunswick"), ("NL", "Newfoundland and Labrador"), ("NS", "Nova Scotia"),
            ("NT", "Northwest Territories"), ("NU", "Nunavut"), ("ON", "Ontario"),
            ("PE", "Prince Edward Island"), ("QC", "Quebec"), ("SK", "Saskatchewan"),
            ("YT", "Yukon"),
        )),
        (_AUSTRALIA, (
            ("NSW", "New South Wales"), ("VIC", "Victoria"), ("QLD", "Queensland"),
            ("WA", "Western Australia"), ("SA", "South Australia"), ("TAS", "Tasmania"),
            ("ACT", "Australian Capital Territory"), ("NT", "Northern Territory"),
        )),
    )
    for code, name in rows
)  # fmt: skip
#: Other spellings of a state's name, by the name.
_STATE_SPELLINGS = {"Quebec": ("Québec",)}


def _key(text: str) -> str:
    return " ".join(text.replace(".", " ").split()).casefold()


@cache
def _countries() -> dict[str, str]:
    table: dict[str, str] = {}
    for name, *others in COUNTRIES:
        for spelling in (name, *others):
            table.setdefault(_key(spelling), name)
    return table


@cache
def _states() -> dict[str | None, dict[str, str]]:
    """Each listed country's codes and names, and under None all of them, a code taken by
    the first country listing it (the United States, then Canada): a person whose country is
    not known is read as before countries were asked."""
    tables: dict[str | None, dict[str, str]] = {None: {}}
    for country, code, name in STATES:
        spellings = (code, name, *_STATE_SPELLINGS.get(name, ()))
        for table in (tables.setdefault(country, {}), tables[None]):
            for spelling in spellings:
                table.setdefault(_key(spelling), name)
    return tables


@cache
def _state_codes() -> dict[str, str]:
    return {name: code for _, code, name in STATES}


@lru_cache(maxsize=4096)  # people type the same few spellings; junk must not grow it
def country_name(text: str) -> str | None:
    """The picklist name for any known spelling of a country, else None."""
    return _countries().get(_key(text))


@lru_cache(maxsize=4096)
def state_name(text: str, country: str | None = None) -> str | None:
    """The full name for a state code or name of `country` (as `country_name` spells it;
    None: not known, any listed country's), else None: a state of a country not listed,
    or of none, is kept as typed rather than read as another country's."""
    table = _states().get(country)
    return table.get(_key(text)) if table is not None else None


def state_code(name: str) -> str | None:
    """The postal code of a state or province given its full name (Salesforce StateCode)."""
    return _state_codes().get(name)
