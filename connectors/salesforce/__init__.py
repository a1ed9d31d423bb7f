"""The Salesforce connector: settings, token grants, reads, writes, describe, Outbound Messages.

Only `sdk.py` imports simple-salesforce; the composition root builds `SalesforceConnector`
from `SalesforceSettings` (or `load_settings()` from the environment).
"""

from __future__ import annotations

from connectors.salesforce.connector import SalesforceConnector
from connectors.salesforce.settings import SalesforceSettings, load_settings

__all__ = ["SalesforceConnector", "SalesforceSettings", "load_settings"]
