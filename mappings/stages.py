"""The funnel state machine: which moves are allowed, who may make them, and how to settle
two systems that disagree.

Pure functions returning decisions with an explanation a person can read in `baton why`.
The rules, stated once:

- Stages only move forward. Going back is an outcome: `recycled` or `disqualified` (sales
  only, with a reason from the closed list whose outcome matches) or `lost` (sales, from an
  opportunity; reason optional).
- Marketing moves people into marketing-owned stages (up to `mql`), sales into sales-owned ones
  (`sal` onwards); the owner of each stage is read from the dictionary.
- Leaving an outcome: marketing may re-qualify a recycled person to `mql` (a new buying
  cycle); sales may reopen a recycled, disqualified or lost person into any sales stage. A lost
  person is sales' to re-qualify (the lost opportunity reopened, or a new one from a Lead's
  conversion: R1): the closed-lost opportunity stays in Salesforce and outranks lead-level
  signals on every later sync (R2), and no record keeps when marketing re-qualified a person
  to weigh against its close date, so marketing's re-qualification could hold for one sync
  only.
- The first time each stage was entered is kept forever; a later move never rewrites it.

Conflicting signals (`resolve`), strongest rule first:
R1 an open Salesforce opportunity outranks any marketing downgrade or lead-level outcome;
R2 a closed opportunity (won: customer, lost: lost) outranks lead-level signals;
R3 an outcome said by the system of the team owning it (the dictionary's `owner`; sales work in
   Salesforce) outranks marketing's lifecycle stage, unless sales reopened the person (a
   status set back to a stage since the last sync) or marketing re-qualified a recycled
   person after the outcome was set (HubSpot's own funnel values moved it to a stage since
   the last sync: a contact merely edited since re-qualifies nobody). An outcome only
   the other system says (a HubSpot contact set to disqualified while Salesforce shows the
   Lead worked) is no verdict: the furthest stage wins, and that system is set back to it;
R4 otherwise the furthest stage wins, because stages never move backwards.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from connectors.records import System
from mappings.dictionary import Dictionary
from mappings.model import REASON_REQUIRED, STAGES, Outcome, Person, Stage, Team

#: Where each team works: marketing in HubSpot, sales in Salesforce. An outcome is a verdict
#: when the system of the team owning it (the dictionary's `owner`) says it (R3).
TEAM_SYSTEMS: Mapping[Team, System] = {
    Team.MARKETING: System.HUBSPOT,
    Team.SALES: System.SALESFORCE,
}

# Lead-level stages from which sales may recycle or disqualify; opportunity stages end in `lost`.
LEAD_STAGES: frozenset[Stage] = frozenset({Stage.INQUIRY, Stage.MQL, Stage.SAL, Stage.SQL})
LOSABLE_STAGES: frozenset[Stage] = frozenset({Stage.SQL, Stage.OPPORTUNITY})


@dataclass(frozen=True, slots=True)
class FunnelState:
    stage: Stage | None = None
    outcome: Outcome | None = None
    reason: str | None = None
    entered: Mapping[Stage, datetime] = field(default_factory=dict)

    @classmethod
    def of(cls, person: Person) -> FunnelState:
        return cls(person.stage, person.outcome, person.outcome_reason, person.entered)


@dataclass(frozen=True, slots=True)
class Move:
    """A request to put a person into a stage or an outcome."""

    target: Stage | Outcome
    team: Team
    at: datetime
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    state: FunnelState
    explanation: str


def record_entry(
    entered: Mapping[Stage, datetime], stage: Stage, at: datetime
) -> dict[Stage, datetime]:
    """`entered` plus `stage` at `at`, unless the stage was already entered (never rewritten)."""
    merged = dict(entered)
    merged.setdefault(stage, at)
    return merged


def merge_entered(*histories: Mapping[Stage, datetime]) -> dict[Stage, datetime]:
    """The earliest first-entered time per stage across histories (e.g. both systems')."""
    merged: dict[Stage, datetime] = {}
    for history in histories:
        for stage, at in history.items():
            if stage not in merged or at < merged[stage]:
                merged[stage] = at
    return merged


def _refuse(state: FunnelState, why: str) -> Decision:
    return Decision(False, state, why)


def decide(state: FunnelState, move: Move, dictionary: Dictionary) -> Decision:
    """Whether `move` is allowed from `state`, and the state it leads to."""
    if isinstance(move.target, Outcome):
        return _decide_outcome(state, move, dictionary)
    return _decide_stage(state, move, move.target, dictionary)


def _decide_stage(state: FunnelState, move: Move, target: Stage, d: Dictionary) -> Decision:
    owner = d.stages[target].owner
    if move.team is not owner:
        return _refuse(state, f"{target} is owned by {owner}; {move.team} cannot move people there")
    moved = FunnelState(target, None, None, record_entry(state.entered, target, move.at))
    if state.outcome is not None:
        if move.team is Team.MARKETING and state.outcome is Outcome.DISQUALIFIED:
            return _refuse(
                state, "disqualified people stay out of marketing's hands until sales reopens them"
            )
        if move.team is Team.MARKETING and state.outcome is Outcome.LOST:
            return _refuse(
                state,
                "lost people are re-qualified by sales (the opportunity reopened, or a new "
                "one): the closed-lost opportunity outranks marketing",
            )
        if move.team is Team.MARKETING and target is not Stage.MQL:
            return _refuse(
                state, f"a {state.outcome} person re-enters the funnel at mql, not {target}"
            )
        return Decision(True, moved, f"{move.team} moved a {state.outcome} person to {target}")
    if state.stage is None or target > state.stage:
        return Decision(True, moved, f"{move.team} moved the person forward to {target}")
    if target == state.stage:
        return Decision(True, state, f"already at {target}; nothing changes")
    return _refuse(
        state,
        f"stages never move backwards ({state.stage} -> {target}); sales can recycle or "
        "disqualify with a reason instead",
    )


def _decide_outcome(state: FunnelState, move: Move, d: Dictionary) -> Decision:
    outcome = Outcome(move.target)
    owner = d.outcomes[outcome].owner
    if move.team is not owner:
        return _refuse(state, f"only {owner} may mark a person {outcome}")
    if state.outcome is outcome:
        return Decision(True, state, f"already {outcome}; nothing changes")
    allowed_from = LOSABLE_STAGES if outcome is Outcome.LOST else LEAD_STAGES
    if state.stage not in allowed_from:
        where = ", ".join(s for s in STAGES if s in allowed_from)
        return _refuse(state, f"{outcome} applies to people at {where}, not at {state.stage}")
    if state.outcome is not None and not (
        state.outcome is Outcome.RECYCLED and outcome is Outcome.DISQUALIFIED
    ):
        return _refuse(state, f"a {state.outcome} person must be reopened before {outcome}")
    reason = d.reason(move.reason) if move.reason else None
    if move.reason and reason is None:
        codes = ", ".join(r.code for r in d.rejection_reasons)
        return _refuse(state, f"'{move.reason}' is not a rejection reason (one of {codes})")
    if outcome in REASON_REQUIRED:
        if reason is None:
            return _refuse(state, f"{outcome} needs a reason from the closed list")
        if reason.outcome is not outcome:
            return _refuse(state, f"'{reason.code}' is a reason to {reason.outcome}, not {outcome}")
    after = FunnelState(state.stage, outcome, move.reason, state.entered)
    because = f" ({reason.label})" if reason else ""
    return Decision(True, after, f"{move.team} marked the person {outcome}{because}")


# -- qualification -----------------------------------------------------------------------------


def qualifies_for_mql(person: Person, d: Dictionary) -> Decision:
    """The shared MQL definition applied to one person; names the first check it fails."""
    rule = d.stages[Stage.MQL].entry
    state = FunnelState.of(person)
    if rule.score_at_least is not None and (person.score or 0) < rule.score_at_least:
        return _refuse(state, f"score {person.score} is below {rule.score_at_least}")
    for name in rule.required_fields:
        if not getattr(person, name, None):
            return _refuse(state, f"{name} is blank")
    domain = (person.email or "").rpartition("@")[2].lower()
    if domain and domain in {x.lower() for x in rule.excluded_email_domains}:
        return _refuse(state, f"email domain {domain} is excluded")
    return Decision(True, state, "meets the MQL definition")


# -- resolving both systems' signals ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Signal:
    """What one system's values say about a person's place in the funnel."""

    system: System
    stage: Stage | None = None
    outcome: Outcome | None = None
    reason: str | None = None
    open_opportunity: bool = False
    closed_opportunity: bool = False
    at: datetime | None = None
    # sales set the record's own status back to this stage since the last sync, out of a
    # recycle or disqualification another record (or Baton's label) still says
    reopened: bool = False
    # HubSpot's own funnel values (lead status, lifecycle stage, label) moved the contact's
    # position since the last sync: marketing acting on it, not a record merely touched (its
    # `at` moves with any edit, a job title or a score, so it cannot tell this on its own)
    requalified: bool = False


@dataclass(frozen=True, slots=True)
class Resolution:
    stage: Stage | None
    outcome: Outcome | None
    reason: str | None
    rule: str
    explanation: str


def _furthest(signals: Sequence[Signal]) -> Stage | None:
    stages = [s.stage for s in signals if s.stage is not None]
    return max(stages, key=lambda s: s.rank) if stages else None


def _said_by_owner(signal: Signal, signals: Sequence[Signal], d: Dictionary) -> bool:
    """Whether `signal`'s outcome is a verdict: said by the system of the team owning the
    outcome (the dictionary's `owner`), or by another while that system says no position at
    all (a person known to HubSpot only; a Contact made in Salesforce, which has no status)."""
    assert signal.outcome is not None
    home = TEAM_SYSTEMS[d.outcomes[signal.outcome].owner]
    return signal.system is home or not any(s.system is home and _says(s) for s in signals)


def _says(signal: Signal) -> bool:
    return bool(
        signal.stage or signal.outcome or signal.open_opportunity or signal.closed_opportunity
    )


def resolve(signals: Sequence[Signal], dictionary: Dictionary) -> Resolution:
    """One funnel position from every system's signal, by the rules R1-R4 above; the
    dictionary says which team owns each outcome."""
    furthest = _furthest(signals)
    opens = [s for s in signals if s.open_opportunity]
    if opens:
        stage = _furthest([*opens, *(s for s in signals if s.stage is not None)])
        return Resolution(
            stage,
            None,
            None,
            "R1",
            "an open opportunity outranks marketing downgrades and "
            f"lead-level outcomes; stage {stage}",
        )
    closed = [s for s in signals if s.closed_opportunity]
    if closed:
        won = [s for s in closed if s.stage is Stage.CUSTOMER]
        if won:
            return Resolution(Stage.CUSTOMER, None, None, "R2", "a closed-won opportunity")
        lost = closed[0]
        return Resolution(
            furthest or Stage.OPPORTUNITY,
            Outcome.LOST,
            lost.reason,
            "R2",
            "a closed-lost opportunity outranks lead-level signals",
        )
    outcomes = sorted(
        (s for s in signals if s.outcome is not None),
        key=lambda s: (s.system is System.SALESFORCE, s.at.timestamp() if s.at else 0.0),
    )
    reopens = [s for s in signals if s.reopened and s.stage is not None]
    if outcomes and reopens:
        stage = _furthest(reopens)
        return Resolution(stage, None, None, "R3", f"sales reopened the person into stage {stage}")
    verdicts = [s for s in outcomes if _said_by_owner(s, signals, dictionary)]
    if verdicts:
        verdict = verdicts[-1]
        requalified = [
            s
            for s in signals
            if s.requalified
            and s.outcome is None
            and s.system is System.HUBSPOT
            and s.stage is not None
            and s.stage >= Stage.MQL
            and verdict.outcome is Outcome.RECYCLED
            and s.at is not None
            and verdict.at is not None
            and s.at > verdict.at
        ]
        if requalified:
            return Resolution(
                Stage.MQL,
                None,
                None,
                "R3",
                f"marketing re-qualified the {verdict.outcome} person after sales' verdict",
            )
        return Resolution(
            furthest,
            verdict.outcome,
            verdict.reason,
            "R3",
            f"{verdict.system}'s outcome {verdict.outcome} outranks marketing's lifecycle stage",
        )
    if outcomes:  # only another system's copy of an outcome its owner's system does not say
        copy = outcomes[-1]
        assert copy.outcome is not None
        owner = dictionary.outcomes[copy.outcome].owner
        return Resolution(
            furthest,
            None,
            None,
            "R3",
            f"{copy.outcome} in {copy.system} is the verdict of {owner}, which "
            f"{TEAM_SYSTEMS[owner]} does not say; the furthest stage wins "
            f"({furthest or 'none known'})",
        )
    return Resolution(
        furthest, None, None, "R4", f"the furthest stage wins ({furthest or 'none known'})"
    )
