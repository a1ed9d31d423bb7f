"""The Salesforce imitation served over HTTPS, reached with the real simple-salesforce."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from simple_salesforce import Salesforce

from sandbox.salesforce import SalesforceOptions, SalesforceSandbox
from sandbox.shared.server import Listener, serve_in_thread
from sandbox.shared.tls import ensure_tls_files


@dataclass
class Served:
    box: SalesforceSandbox
    url: str
    ca_file: Path
    sessions: list[requests.Session] = field(default_factory=list)

    def session(self) -> requests.Session:
        """A session trusting the sandbox CA; closed at teardown so the server stops at once."""
        session = requests.Session()
        self.sessions.append(session)
        session.verify = str(self.ca_file)
        session.trust_env = False
        # Idle TLS keep-alive connections hold up the server's shutdown for its 30 s
        # keep-alive timeout (shared/server.py), so test clients do not keep them.
        session.headers["Connection"] = "close"
        return session

    def token(self) -> str:
        options = self.box.options
        reply = self.session().post(
            f"{self.url}/services/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": options.client_id,
                "client_secret": options.client_secret,
            },
        )
        reply.raise_for_status()
        return str(reply.json()["access_token"])

    def client(self, token: str | None = None) -> Salesforce:
        return Salesforce(
            instance_url=self.url, session_id=token or self.token(), session=self.session()
        )

    def admin(self, method: str, path: str, **kwargs: object) -> requests.Response:
        return self.session().request(method, f"{self.url}/_sandbox{path}", **kwargs)  # type: ignore[arg-type]


def serve(box: SalesforceSandbox, directory: Path) -> Iterator[Served]:
    """`box` over HTTPS (its certificates in `directory`) until the generator is closed."""
    tls = ensure_tls_files(directory)
    listener = Listener(box.app, tls=tls)
    with serve_in_thread([listener]):
        served = Served(box=box, url=listener.url, ca_file=tls.ca_cert)
        yield served
        for session in served.sessions:
            session.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    box = SalesforceSandbox(SalesforceOptions(rate_limits=False))
    box.seed(contacts=400, leads=300, seed=7)
    yield from serve(box, tmp_path_factory.mktemp("salesforce"))


@pytest.fixture(scope="module")
def sf(served: Served) -> Salesforce:
    return served.client()
