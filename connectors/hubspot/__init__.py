"""The HubSpot connector: contacts, companies and deals through hubspot-api-client.

`HubSpotConnector` implements `connectors.protocol.Connector`; `HubSpotSettings` configures it
from `BATON_HUBSPOT_*`. The modules behind it each have one job: settings, objects (the table),
sdk (the only SDK user), auth, reader, writer, properties, webhooks, convert.
"""

from __future__ import annotations

from connectors.hubspot.connector import HubSpotConnector
from connectors.hubspot.objects import OBJECTS, ObjectSpec, spec_for
from connectors.hubspot.properties import PropertyDefinition
from connectors.hubspot.settings import HubSpotSettings, load_settings

__all__ = [
    "OBJECTS",
    "HubSpotConnector",
    "HubSpotSettings",
    "ObjectSpec",
    "PropertyDefinition",
    "load_settings",
    "spec_for",
]
