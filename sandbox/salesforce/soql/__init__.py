"""A SOQL subset compiled to SQLite: what a sync needs, with Salesforce's errors for the rest."""

from __future__ import annotations

from sandbox.salesforce.soql.compile import CompiledQuery, compile_soql
from sandbox.salesforce.soql.lexer import encode_string

__all__ = ["CompiledQuery", "compile_soql", "encode_string"]
