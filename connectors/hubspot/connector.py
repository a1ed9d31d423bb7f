"""`HubSpotConnector`: the `connectors.protocol.Connector` for HubSpot, composed from parts.

Settings -> tokens (private app or OAuth) -> one `Retrier` (with the `ApiBudget` and the
refresh callback) -> `HubSpotSdk` (the only SDK user) -> reader, writer, properties; webhooks
need only the client secret. Built from settings by the composition root; nothing is built at
import time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime

import httpx

from connectors.errors import ConfigError
from connectors.http.budget import ApiBudget, hubspot_spec
from connectors.http.client import build_client
from connectors.http.clock import VendorClock
from connectors.http.redaction import register_secrets
from connectors.http.retry import Retrier, RetryPolicy
from connectors.hubspot.auth import OAuthTokens, PrivateAppToken, TokenSource
from connectors.hubspot.objects import spec_for
from connectors.hubspot.properties import HubSpotProperties, PropertyDefinition
from connectors.hubspot.reader import HubSpotReader
from connectors.hubspot.sdk import HubSpotSdk
from connectors.hubspot.settings import HubSpotSettings
from connectors.hubspot.webhooks import HubSpotWebhooks
from connectors.hubspot.writer import HubSpotWriter
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


def _tokens(
    settings: HubSpotSettings, http: httpx.Client | None, clock: VendorClock
) -> TokenSource:
    if settings.access_token is not None:
        return PrivateAppToken(settings.access_token)
    # HubSpotSettings validated that the OAuth trio is complete when there is no token.
    assert settings.client_id is not None
    assert settings.client_secret is not None
    assert settings.refresh_token is not None
    return OAuthTokens(
        http=http
        or build_client(
            base_url=settings.base_url, timeout=settings.request_timeout_s, clock=clock
        ),
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        refresh_token=settings.refresh_token,
        retrier=Retrier(system=System.HUBSPOT),
    )


class HubSpotConnector:
    """HubSpot contacts, companies and deals through hubspot-api-client.

    Args:
        settings: connection settings.
        budget: the portal's API budget; share one per portal across threads (a default is
            built from the settings' tier limit and pacing fraction).
        policy: retry limits.
        http: httpx client for OAuth token calls (tests inject respx-routed clients).
        extra_properties: per object, properties to read besides the object table's.
        sleep: how the retry layer waits (tests pass a no-op).
        clock: wall-clock seconds for webhook timestamp checks.
        read_ahead: list pages a full read fetches ahead in a thread (0: none; see reader).
    """

    def __init__(
        self,
        settings: HubSpotSettings,
        *,
        budget: ApiBudget | None = None,
        policy: RetryPolicy | None = None,
        http: httpx.Client | None = None,
        extra_properties: Mapping[str, Sequence[str]] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        read_ahead: int = 0,
    ) -> None:
        self.settings = settings
        register_secrets(*settings.secrets())
        self.budget = budget or ApiBudget(
            hubspot_spec(
                limit_per_10s=settings.burst_limit,
                fraction=settings.budget_fraction,
                daily_floor=settings.daily_floor,
            )
        )
        self.clock = VendorClock()
        self.tokens = _tokens(settings, http, self.clock)
        self.retrier = Retrier(
            system=System.HUBSPOT,
            policy=policy,
            budget=self.budget,
            on_session_expired=self.tokens.refresh if self.tokens.refreshable else None,
            sleep=sleep,
        )
        self.sdk = HubSpotSdk(
            base_url=settings.base_url,
            token=self.tokens.token,
            retrier=self.retrier,
            budget=self.budget,
            timeout_s=settings.request_timeout_s,
            clock=self.clock,
        )
        self.reader = HubSpotReader(
            self.sdk, extra_properties=extra_properties, read_ahead=read_ahead
        )
        self.writer = HubSpotWriter(self.sdk)
        self.properties = HubSpotProperties(self.sdk)
        secret = settings.client_secret.get_secret_value() if settings.client_secret else None
        self._webhooks = (
            HubSpotWebhooks(
                secret,
                accept_legacy=settings.webhook_accept_v1,
                public_url=settings.webhook_url,
                clock=clock,
            )
            if secret
            else None
        )

    @property
    def system(self) -> System:
        return System.HUBSPOT

    def vendor_now(self) -> datetime | None:
        return self.clock.now()

    # Reads

    def read_changes(
        self, object: str, since: datetime | None, until: datetime
    ) -> Iterator[SourceRecord]:
        return self.reader.changes(
            spec_for(object), since, until, with_deletions=self.settings.deletions_in_changes
        )

    def read_deletions(
        self, object: str, since: datetime | None, until: datetime
    ) -> Iterator[SourceRecord]:
        """The bin's records archived in the window (one listing of the whole bin), unless
        `deletions_in_changes` is off: then no read sees deletions, and this none either."""
        if not self.settings.deletions_in_changes:
            return iter(())
        return self.reader.deletions(spec_for(object), since, until)

    def read_all(self, object: str) -> Iterator[SourceRecord]:
        return self.reader.all(spec_for(object))

    def list_all(self, object: str, start: str | None = None) -> Iterator[ListedPage]:
        return self.reader.pages(spec_for(object), start=start)

    def count_all(self, object: str) -> int | None:
        return self.reader.count(spec_for(object))

    def read_archived(self, object: str) -> Iterator[SourceRecord]:
        """The recycling bin (records archived in the last 90 days), as `deleted` records."""
        return self.reader.all(spec_for(object), archived=True)

    def read_by_ids(self, object: str, ids: Sequence[str]) -> list[SourceRecord]:
        return self.reader.by_ids(spec_for(object), ids)

    def find_by(self, object: str, field: str, values: Sequence[str]) -> list[SourceRecord]:
        return self.reader.by_ids(spec_for(object), values, id_property=field)

    def read_contact_roles(self, opportunity_ids: Sequence[str]) -> list[ContactRole]:
        """HubSpot has no Opportunity contact roles (Salesforce's): a `ConfigError`."""
        raise _salesforce_only("Opportunity contact roles", "contact roles")

    def read_conversions(self, opportunity_ids: Sequence[str]) -> list[Conversion]:
        """HubSpot has no Lead conversions (Salesforce's): a `ConfigError`."""
        raise _salesforce_only("Lead conversions", "conversions")

    # Writes

    def write(self, object: str, patches: Sequence[RecordPatch]) -> list[WriteOutcome]:
        return self.writer.write(spec_for(object), patches)

    def delete(self, object: str, ids: Sequence[str]) -> list[WriteOutcome]:
        return self.writer.delete(spec_for(object), ids)

    # Schema

    def describe(self, object: str) -> list[FieldSchema]:
        return self.properties.describe(spec_for(object))

    def picklists(
        self, object: str, fields: Sequence[str]
    ) -> Mapping[str, tuple[PicklistOption, ...]]:
        return self.properties.picklists(spec_for(object), fields)

    def ensure_properties(
        self, object: str, definitions: Sequence[PropertyDefinition]
    ) -> list[str]:
        """Create the properties Baton writes (the caller's definitions) where missing."""
        return self.properties.ensure(spec_for(object), definitions)

    def pending_properties(
        self, object: str, definitions: Sequence[PropertyDefinition]
    ) -> list[str]:
        """What `ensure_properties` would create or extend, without changing anything."""
        return self.properties.pending(spec_for(object), definitions)

    # Webhooks

    def verify_webhook(self, request: WebhookRequest) -> WebhookReceipt:
        if self._webhooks is None:
            raise ConfigError(
                "cannot verify HubSpot webhooks without the app's client secret",
                setting="BATON_HUBSPOT_CLIENT_SECRET",
                fix="set it to the HubSpot app's client secret (the signing key)",
                system=System.HUBSPOT,
            )
        return self._webhooks.verify(request)

    def check_webhook_headers(self, headers: Mapping[str, str]) -> None:
        """Refuse a delivery on its headers alone, before its body is read
        (`HubSpotWebhooks.check_headers`); without a client secret `verify_webhook` says why."""
        if self._webhooks is not None:
            self._webhooks.check_headers(headers)


def _salesforce_only(what: str, read: str) -> ConfigError:
    """The error for a read only Salesforce answers, asked of HubSpot."""
    return ConfigError(
        f"HubSpot has no {what}",
        setting="object",
        fix=f"read {read} from the Salesforce connector",
        system=System.HUBSPOT,
    )
