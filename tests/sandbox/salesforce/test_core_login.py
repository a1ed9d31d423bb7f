"""Logins that hard-code `*.salesforce.com`, reached through a host-rewriting adapter."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceAuthenticationFailed


class Rewrite(HTTPAdapter):
    """Sends every https:// request to the sandbox, whatever host the client chose."""

    def __init__(self, netloc: str) -> None:
        super().__init__()
        self.netloc = netloc

    def send(self, request: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        parts = urlsplit(request.url)
        request.url = urlunsplit(("https", self.netloc, parts.path, parts.query, parts.fragment))
        return super().send(request, **kwargs)


def _session(served: Any) -> requests.Session:
    session = served.session()
    session.mount("https://", Rewrite(urlsplit(served.url).netloc))
    return session


def test_soap_login_then_query(served: Any) -> None:
    o = served.box.options
    sf = Salesforce(
        username=o.username,
        password=o.password,
        security_token="TOKEN",
        domain="test",
        session=_session(served),
    )
    assert sf.session_id.startswith(o.org_id[:15] + "!")
    assert sf.query("SELECT Id FROM Lead LIMIT 1")["totalSize"] == 1


def test_soap_login_failure(served: Any) -> None:
    o = served.box.options
    with pytest.raises(SalesforceAuthenticationFailed) as info:
        Salesforce(
            username=o.username,
            password="wrong",
            security_token="",
            domain="test",
            session=_session(served),
        )
    assert info.value.code == "INVALID_LOGIN"


def test_oauth_password_login_through_simple_salesforce(served: Any) -> None:
    o = served.box.options
    sf = Salesforce(
        username=o.username,
        password=o.password,
        consumer_key=o.client_id,
        consumer_secret=o.client_secret,
        session=_session(served),
    )
    assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] > 0
