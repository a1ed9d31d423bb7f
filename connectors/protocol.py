"""The one interface both connectors implement, and the only one the sync engine calls.

Objects are named in the system's own words ("contacts", "Lead"); each connector's object
table says which it supports, and an unknown name is a `ConfigError`. Every method may raise
the errors of `connectors.errors`; retrying has already happened inside the connector (one
retry layer), so whatever escapes is final for this call.

Cursor semantics of `read_changes` (the engine's checkpoints rely on exactly these):

- The window is half-open, `[since, until)`, on the system's modification time (HubSpot
  `lastmodifieddate` / `hs_lastmodifieddate`, Salesforce `SystemModstamp`); `since=None`
  means from the beginning. Both bounds are timezone-aware. The caller fixes `until` once per
  run (the "signpost", a little in the past) and applies its own lookback to `since`.
- Records come in non-decreasing `(modified_at, id)` order. So once a record is yielded, every
  record of the window that sorts at or before it has been yielded: checkpointing at the last
  record processed is safe, and ties at one timestamp are broken by id, never dropped.
- Every record whose modification time was in the window when read is yielded at least once;
  duplicates are possible (lookback, the windows a connector splits internally) and are the
  caller's to drop by `(key, modified_at)`. No record is lost to a vendor result cap (HubSpot
  search stops at 10,000 results; the connector splits the window instead).
- Deleted records are yielded with `deleted=True` where the system exposes them (Salesforce
  queryAll `IsDeleted`; HubSpot archived listings); merged-away records carry `merged_into`.
- The iterator is lazy: pages are fetched as it is consumed, so stopping early spends no
  further API calls.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from connectors.records import (
    ContactRole,
    Conversion,
    FieldSchema,
    ListedPage,
    PicklistOption,
    RecordPatch,
    SourceRecord,
    System,
    WebhookReceipt,
    WebhookRequest,
    WriteOutcome,
)


@runtime_checkable
class Connector(Protocol):
    """What the engine needs from HubSpot or Salesforce."""

    @property
    def system(self) -> System:
        """Which system this connector talks to."""
        ...

    def vendor_now(self) -> datetime | None:
        """The system's clock now, as its responses' `Date` headers tell it, estimated so it
        errs towards the system being behind; None until a response was seen. The engine
        keeps checkpoints at or behind it, since `read_changes` windows are on the system's
        own stamps."""
        ...

    def read_changes(
        self, object: str, since: datetime | None, until: datetime
    ) -> Iterator[SourceRecord]:
        """Records of `object` modified in `[since, until)`, ordered by `(modified_at, id)`."""
        ...

    def read_deletions(
        self, object: str, since: datetime | None, until: datetime
    ) -> Iterator[SourceRecord]:
        """Only the records of `object` deleted (or merged away) in `[since, until)`, as
        `deleted` records (`merged_into` where the system says so), in `(modified_at, id)`
        order: the deletions `read_changes` reports, without its live records. HubSpot's
        merges are the exception: their stubs come beside the live survivor, in every read of
        it (a full listing included).

        For a backfill, whose listing sees live records only: the deletions since the last
        poll, without reading the window's live records again.
        """
        ...

    def read_all(self, object: str) -> Iterator[SourceRecord]:
        """Every live record of `object` (backfills), by the cheapest listing the system offers.

        Order is unspecified; use `read_changes` when a cursor must be kept.
        """
        ...

    def list_all(self, object: str, start: str | None = None) -> Iterator[ListedPage]:
        """`read_all`, page by page, each page with the position the listing goes on from.

        `start` (a page's `resume` from an earlier listing of `object`) lists what came after
        that page. Records created since may sort before it and are not listed (the change
        listing finds them). A position the system no longer honours (an expired Bulk 2.0
        job) lists everything again, with a warning logged, rather than failing.
        """
        ...

    def count_all(self, object: str) -> int | None:
        """About how many records `read_all` lists (records come and go meanwhile): one cheap
        call, for a backfill's progress total and ETA; None when the system cannot say."""
        ...

    def read_by_ids(self, object: str, ids: Sequence[str]) -> list[SourceRecord]:
        """The records with these ids, batched to the system's maximum.

        Ids that do not exist are left out (not an error); the caller compares. A merged-away
        id resolves to the surviving record where the system allows reading it (HubSpot), with
        a deleted stub for the id naming it (`merged_into`); where it does not (Salesforce),
        the id's own row comes back deleted, naming its master.
        """
        ...

    def find_by(self, object: str, field: str, values: Sequence[str]) -> list[SourceRecord]:
        """The live records whose upsert key `field` (a Salesforce external id, a HubSpot
        unique property or `email`) holds one of `values`: where an upsert on that key would
        land. Values matching nothing are left out (not an error)."""
        ...

    def read_contact_roles(self, opportunity_ids: Sequence[str]) -> list[ContactRole]:
        """The live contact roles of these Opportunities (Salesforce's OpportunityContactRole),
        one query per batch of ids, as many as the URL holds. Ids matching nothing are left
        out (not an error). A system without contact roles (HubSpot) raises `ConfigError`.
        """
        ...

    def read_conversions(self, opportunity_ids: Sequence[str]) -> list[Conversion]:
        """The converted Leads whose conversion made (or joined) these Opportunities
        (Salesforce's `ConvertedOpportunityId`), one query per batch of ids, as many as the
        URL holds. Ids matching nothing are left out (not an error). A system without Lead
        conversion (HubSpot) raises `ConfigError`.
        """
        ...

    def write(self, object: str, patches: Sequence[RecordPatch]) -> list[WriteOutcome]:
        """Create or update records in batches; one outcome per patch, in the same order.

        A record the system refuses is an outcome with the vendor's code and message (never an
        exception for the whole batch); `retryable` marks refusals that may pass later (row
        locks). A patch with `match_on` is an idempotent upsert on that external id.
        """
        ...

    def delete(self, object: str, ids: Sequence[str]) -> list[WriteOutcome]:
        """Delete records by id in batches (HubSpot: archive to the recycling bin; Salesforce:
        the recycle bin); one outcome per id, in the same order, its patch naming the record.

        Idempotent: an id already gone (deleted before, or never there) is a success, so a
        delete repeated after a crash cannot fail. A record the system refuses to delete is an
        outcome with the vendor's code and message (never an exception for the whole batch);
        `retryable` marks refusals that may pass later (row locks).
        """
        ...

    def describe(self, object: str) -> list[FieldSchema]:
        """Field metadata (type, length, picklist options) for the mapping layer."""
        ...

    def picklists(
        self, object: str, fields: Sequence[str]
    ) -> Mapping[str, tuple[PicklistOption, ...]]:
        """The options of each named picklist field (HubSpot enumeration properties,
        Salesforce picklists), for `baton mappings check`; non-picklist fields are omitted."""
        ...

    def verify_webhook(self, request: WebhookRequest) -> WebhookReceipt:
        """Verify an incoming webhook and turn it into change hints plus the reply to send.

        Raises:
            WebhookRejected: bad or missing signature, stale timestamp, wrong organization or
                endpoint token.
            WebhookMalformed: a body that cannot be read (not JSON, not XML, not the vendor's
                shape).
        """
        ...
