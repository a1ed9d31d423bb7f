"""Simulated marketing and sales teams, acting on both imitations the way people do in the UIs.

Marketing scores HubSpot contacts, brings in new inquiries and moves qualified ones to MQL.
Sales works Salesforce leads: accepts them, logs calls (Tasks), rejects some with a reason,
converts others, and opens, wins and loses opportunities. Actions go through each imitation's
actor API, so they move modification times and fire webhooks/outbound messages like UI edits,
but never count as API writes.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from sandbox.shared.people import person

log = logging.getLogger(__name__)

MQL_SCORE = 60
REJECTION_REASONS = (
    "No Budget",
    "No Authority",
    "No Need",
    "Bad Timing",
    "Competitor",
    "Bad Data",
    "Unresponsive",
    "Not a Fit",
)
OPEN_STAGES = ("Prospecting", "Qualification", "Needs Analysis", "Proposal/Price Quote")


class HubSpotActor(Protocol):
    def find(
        self, object_type: str, *, equals: Mapping[str, str | None] = ..., limit: int = ...
    ) -> list[dict[str, str | None]]: ...

    def create(self, object_type: str, properties: Mapping[str, str]) -> str: ...

    def update(self, object_type: str, object_id: str, properties: Mapping[str, str]) -> None: ...


class SalesforceActor(Protocol):
    def find(
        self, sobject: str, *, equals: Mapping[str, object] = ..., limit: int = ...
    ) -> list[dict[str, Any]]: ...

    def create(self, sobject: str, fields: Mapping[str, object]) -> str: ...

    def update(self, sobject: str, record_id: str, fields: Mapping[str, object]) -> None: ...

    def convert_lead(self, lead_id: str, *, create_opportunity: bool = ...) -> dict[str, Any]: ...


@dataclass
class Simulator:
    """Runs one team action at a time at `pace` actions per second (0 = as fast as possible)."""

    hubspot: HubSpotActor
    salesforce: SalesforceActor
    today: Callable[[], str]  # the sandbox clock's date, ISO
    pace: float = 1.0
    seed: int = 42
    moves: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self._next_person = 10_000_000

    def step(self) -> str | None:
        """Take one action; returns its name, or None when nothing was eligible."""
        actions = (
            (4, self.score_contact),
            (1, self.new_inquiry),
            (2, self.accept_lead),
            (2, self.work_lead),
            (1, self.reject_lead),
            (1, self.convert_lead),
            (1, self.advance_opportunity),
        )
        weights = [weight for weight, _ in actions]
        action = self._random.choices([a for _, a in actions], weights=weights)[0]
        name = action.__name__
        try:
            did = action()
        except Exception as exc:  # a rejected UI edit is part of the show, not a crash
            self.failures[name] += 1
            log.debug("simulated %s failed: %s", name, exc)
            return None
        if did:
            self.moves[name] += 1
            return name
        return None

    async def run(self) -> None:
        delay = 1 / self.pace if self.pace > 0 else 0
        while True:
            self.step()
            await asyncio.sleep(delay)

    # Marketing, in HubSpot

    def _pick(self, rows: list[Any]) -> Any | None:
        return self._random.choice(rows) if rows else None

    def score_contact(self) -> bool:
        stage = self._random.choice(("lead", "subscriber"))
        contact = self._pick(self.hubspot.find("contacts", equals={"lifecyclestage": stage}))
        if contact is None:
            return False
        score = min(int(contact.get("hubspotscore") or 0) + self._random.randint(5, 35), 100)
        update = {"hubspotscore": str(score)}
        if score >= MQL_SCORE and contact.get("company"):
            update["lifecyclestage"] = "marketingqualifiedlead"
            self.moves["mql"] += 1
        self.hubspot.update("contacts", str(contact["hs_object_id"]), update)
        return True

    def new_inquiry(self) -> bool:
        self._next_person += 1
        someone = person(self.seed, self._next_person)
        self.hubspot.create(
            "contacts",
            {
                "email": someone.email.strip().lower(),
                "firstname": someone.first_name,
                "lastname": someone.last_name,
                "company": someone.company,
                "jobtitle": someone.title,
                "lifecyclestage": "lead",
                "hubspotscore": str(someone.score // 2),
            },
        )
        return True

    # Sales, in Salesforce

    def accept_lead(self) -> bool:
        lead = self._pick(
            self.salesforce.find(
                "Lead", equals={"Status": "Open - Not Contacted", "IsConverted": False}
            )
        )
        if lead is None:
            return False
        self.salesforce.update("Lead", lead["Id"], {"Status": "Working - Contacted"})
        return True

    def work_lead(self) -> bool:
        lead = self._pick(self.salesforce.find("Lead", equals={"Status": "Working - Contacted"}))
        if lead is None:
            return False
        self.salesforce.create(
            "Task",
            {
                "WhoId": lead["Id"],
                "Subject": self._random.choice(("Call", "Email", "Demo booked")),
                "Status": "Completed",
                "ActivityDate": self.today(),
            },
        )
        return True

    def reject_lead(self) -> bool:
        lead = self._pick(self.salesforce.find("Lead", equals={"Status": "Working - Contacted"}))
        if lead is None:
            return False
        self.salesforce.update(
            "Lead",
            lead["Id"],
            {
                "Status": "Closed - Not Converted",
                "Rejection_Reason__c": self._random.choice(REJECTION_REASONS),
            },
        )
        return True

    def convert_lead(self) -> bool:
        lead = self._pick(self.salesforce.find("Lead", equals={"Status": "Working - Contacted"}))
        if lead is None:
            return False
        self.salesforce.convert_lead(lead["Id"], create_opportunity=True)
        return True

    def advance_opportunity(self) -> bool:
        opportunity = self._pick(self.salesforce.find("Opportunity", equals={"IsClosed": False}))
        if opportunity is None:
            return False
        stage = opportunity.get("StageName")
        roll = self._random.random()
        if roll < 0.3:
            new_stage = "Closed Won"
        elif roll < 0.55:
            new_stage = "Closed Lost"
        else:
            index = OPEN_STAGES.index(stage) if stage in OPEN_STAGES else 0
            new_stage = OPEN_STAGES[min(index + 1, len(OPEN_STAGES) - 1)]
        self.salesforce.update("Opportunity", opportunity["Id"], {"StageName": new_stage})
        return True
