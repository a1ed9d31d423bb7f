"""An imitation of HubSpot's CRM APIs (v3 objects, search, properties, associations v4,
merge, OAuth v1, webhooks) that `hubspot-api-client` 12 talks to unchanged."""

from __future__ import annotations

from sandbox.hubspot.imitation import HubSpotSandbox
from sandbox.hubspot.options import HubSpotOptions

__all__ = ["HubSpotOptions", "HubSpotSandbox"]
