"""The Salesforce imitation: REST (query, sObjects, collections, composite, describe, limits,
updated/deleted), OAuth, SOQL subset, Bulk API 2.0, Outbound Messages, conversion and merge."""

from __future__ import annotations

from sandbox.salesforce.options import SalesforceOptions
from sandbox.salesforce.sandbox import SalesforceSandbox

__all__ = ["SalesforceOptions", "SalesforceSandbox"]
