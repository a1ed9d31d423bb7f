"""The canonical funnel model both teams agree on: stages, outcomes, teams and the Person.

Everything the sync engine compares is expressed in these types, so a HubSpot contact and a
Salesforce Lead describing the same human reduce to one `Person` whatever each system calls
its values. Stages are ordered (after the SiriusDecisions demand waterfall); outcomes are the
three ways a person leaves the forward path. The closed list of rejection reasons is data in the
funnel dictionary (`RejectionReason` is one entry of it), so a team can rename or add reasons
without a code change while every value stays validated.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Stage(StrEnum):
    """Canonical funnel stages; comparisons follow funnel order, not the alphabet."""

    SUBSCRIBER = "subscriber"
    INQUIRY = "inquiry"
    MQL = "mql"
    SAL = "sal"
    SQL = "sql"
    OPPORTUNITY = "opportunity"
    CUSTOMER = "customer"

    @property
    def rank(self) -> int:
        return _STAGE_RANK[self]

    def __lt__(self, other: str) -> bool:
        if not isinstance(other, Stage):
            return NotImplemented
        return self.rank < other.rank

    def __le__(self, other: str) -> bool:
        if not isinstance(other, Stage):
            return NotImplemented
        return self.rank <= other.rank

    def __gt__(self, other: str) -> bool:
        if not isinstance(other, Stage):
            return NotImplemented
        return self.rank > other.rank

    def __ge__(self, other: str) -> bool:
        if not isinstance(other, Stage):
            return NotImplemented
        return self.rank >= other.rank


STAGES: tuple[Stage, ...] = tuple(Stage)
_STAGE_RANK: dict[Stage, int] = {stage: rank for rank, stage in enumerate(STAGES)}


class Outcome(StrEnum):
    """Ways out of the forward path; `recycled` and `disqualified` need a reason."""

    RECYCLED = "recycled"
    DISQUALIFIED = "disqualified"
    LOST = "lost"


REASON_REQUIRED: frozenset[Outcome] = frozenset({Outcome.RECYCLED, Outcome.DISQUALIFIED})


class Team(StrEnum):
    MARKETING = "marketing"
    SALES = "sales"


SalesforceObject = Literal["Lead", "Contact"]


class RejectionReason(BaseModel):
    """One entry of the dictionary's closed list of reasons sales may give for a rejection."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str = Field(min_length=1)
    definition: str = ""
    outcome: Literal[Outcome.RECYCLED, Outcome.DISQUALIFIED] = Outcome.DISQUALIFIED


class Person(BaseModel):
    """One human as both teams see them, whichever system the values came from.

    `entered` keeps the first time each stage was reached; a recycle or a downgrade never
    rewrites it (see `mappings.stages`), so funnel reports stay valid.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    # identity
    baton_id: str | None = None
    email: str | None = None
    hubspot_id: str | None = None
    salesforce_id: str | None = None
    salesforce_object: SalesforceObject | None = None
    # contact
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    job_title: str | None = None
    phone: str | None = None
    country: str | None = None
    state: str | None = None
    # marketing
    score: int | None = None
    lead_source: str | None = None
    original_campaign: str | None = None
    # sales
    owner: str | None = None
    lead_status: str | None = None
    first_touch_at: datetime | None = None
    # funnel
    stage: Stage | None = None
    outcome: Outcome | None = None
    outcome_reason: str | None = None
    entered: Mapping[Stage, datetime] = Field(default_factory=dict)

    def entered_at(self, stage: Stage) -> datetime | None:
        return self.entered.get(stage)


# The canonical field names a field map may name: Person's own fields, one `entered.<stage>`
# per stage (e.g. the MQL date Salesforce keeps in MQL_Date__c) and `funnel_stage`, the stage or
# outcome written as its dictionary label (Funnel_Stage__c). Record ids and the stage history
# are the engine's business, never a field map's.
ENTERED_PREFIX = "entered."
FUNNEL_STAGE = "funnel_stage"
NOT_MAPPABLE: frozenset[str] = frozenset(
    {"hubspot_id", "salesforce_id", "salesforce_object", "entered", "stage", "outcome"}
)


def canonical_field_names() -> frozenset[str]:
    """Every name a field map may use for its canonical side."""
    plain = set(Person.model_fields) - NOT_MAPPABLE
    return frozenset(plain | {FUNNEL_STAGE} | {f"{ENTERED_PREFIX}{stage}" for stage in Stage})
