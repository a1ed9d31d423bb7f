"""Independent audit of the Salesforce imitation: fixes found by probing it as a client would.

Every test drives the imitation over HTTPS through the real simple-salesforce (1.12.x) with a
`requests.Session` trusting the sandbox CA, as the reference sheet's section 1.6 describes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce, SalesforceExpiredSession, SalesforceRefusedRequest

from sandbox.salesforce import SalesforceOptions, SalesforceSandbox
from sandbox.shared.server import Listener, serve_in_thread
from sandbox.shared.tls import ensure_tls_files

LEADS = 500


class Org:
    def __init__(self, box: SalesforceSandbox, url: str, ca_file: str) -> None:
        self.box, self.url, self.ca_file = box, url, ca_file
        self.sessions: list[requests.Session] = []

    def session(self) -> requests.Session:
        session = requests.Session()
        session.verify = self.ca_file
        session.trust_env = False
        session.headers["Connection"] = "close"  # no idle keep-alives holding up shutdown
        self.sessions.append(session)
        return session

    def client(self, token: str | None = None) -> Salesforce:
        if token is None:
            reply = self.session().post(
                f"{self.url}/services/oauth2/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": self.box.options.client_id,
                    "client_secret": self.box.options.client_secret,
                },
            )
            reply.raise_for_status()
            token = str(reply.json()["access_token"])
        return Salesforce(instance_url=self.url, session_id=token, session=self.session())

    def admin(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session().request(method, f"{self.url}/_sandbox{path}", **kwargs)


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Org]:
    tls = ensure_tls_files(tmp_path_factory.mktemp("audit-salesforce"))
    box = SalesforceSandbox(SalesforceOptions(rate_limits=True))
    box.seed(contacts=800, leads=LEADS, seed=9)
    listener = Listener(box.app, tls=tls)
    with serve_in_thread([listener]):
        served = Org(box, listener.url, str(tls.ca_cert))
        yield served
        for session in served.sessions:
            session.close()


def test_seeded_org_holds_converted_leads_with_their_account_contact_and_opportunity(
    org: Org,
) -> None:
    sf = org.client()
    converted = sf.query_all(
        "SELECT Id, Status, IsConverted, ConvertedDate, ConvertedAccountId, "
        "ConvertedContactId, ConvertedOpportunityId FROM Lead WHERE IsConverted = true"
    )["records"]
    assert len(converted) >= LEADS // 50
    assert all(r["Status"] == "Closed - Converted" and r["ConvertedDate"] for r in converted)
    contacts = {r["ConvertedContactId"] for r in converted}
    accounts = {r["ConvertedAccountId"] for r in converted}
    found = sf.query_all("SELECT Id, AccountId FROM Contact")["records"]
    by_id = {r["Id"]: r["AccountId"] for r in found}
    assert contacts <= set(by_id)
    assert {by_id[r["ConvertedContactId"]] for r in converted} <= accounts
    with_opportunity = [r for r in converted if r["ConvertedOpportunityId"]]
    assert 0 < len(with_opportunity) < len(converted)  # some reps skip the opportunity
    opportunity = sf.Opportunity.get(with_opportunity[0]["ConvertedOpportunityId"])
    assert opportunity["StageName"] == "Prospecting"
    # A converted lead can no longer be written through the API.
    with pytest.raises(Exception) as caught:
        sf.Lead.update(converted[0]["Id"], {"Title": "Too late"})
    assert "CANNOT_UPDATE_CONVERTED_LEAD" in str(caught.value)


def test_order_by_id_agrees_with_where_id_greater_than_so_keyset_paging_is_exact(
    org: Org,
) -> None:
    # 70 leads at one instant: their ids' last base-62 digit runs through 0-9, A-Z and a-z,
    # so a case-insensitive sort would interleave 'g' with 'G' and keyset paging would skip.
    created = [org.box.create("Lead", {"LastName": "Keyset", "Company": "Acme"}) for _ in range(70)]
    sf = org.client()
    ordered = [
        r["Id"]
        for r in sf.query_all("SELECT Id FROM Lead WHERE LastName = 'Keyset' ORDER BY Id")[
            "records"
        ]
    ]
    assert ordered == sorted(created)
    walked: list[str] = []
    after = ""
    while True:
        page = sf.query(
            f"SELECT Id FROM Lead WHERE LastName = 'Keyset'{after} ORDER BY Id LIMIT 9"  # noqa: S608
        )["records"]
        if not page:
            break
        walked += [r["Id"] for r in page]
        after = f" AND Id > '{page[-1]['Id']}'"
    assert walked == ordered


def test_refusals_before_routing_count_under_the_route_template(org: Org) -> None:
    org.admin("DELETE", "/stats").raise_for_status()
    with pytest.raises(SalesforceExpiredSession):
        org.client("00D000000000000!bogus").query("SELECT Id FROM Lead LIMIT 1")
    sf = org.client()
    org.admin("PUT", "/limits", json={"daily_remaining": 0}).raise_for_status()
    try:
        with pytest.raises(SalesforceRefusedRequest) as refused:
            sf.query("SELECT Id FROM Lead LIMIT 1")
    finally:
        org.admin("PUT", "/limits", json={"daily_remaining": 100_000}).raise_for_status()
    assert refused.value.content == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]
    sf.query("SELECT Id FROM Lead LIMIT 1")
    routes = org.admin("GET", "/stats").json()["by_route"]
    data_routes = {k: v for k, v in routes.items() if "/services/data/" in k}
    assert data_routes == {"GET /services/data/v{version}/query/": 3}


def test_bulk_jobs_are_created_by_the_user_the_oauth_identity_names(org: Org) -> None:
    session = org.session()
    token = session.post(
        f"{org.url}/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": org.box.options.client_id,
            "client_secret": org.box.options.client_secret,
        },
    ).json()
    user_id = token["id"].rsplit("/", 1)[1]
    sf = org.client(token["access_token"])
    pages = list(sf.bulk2.Lead.query("SELECT Id FROM Lead", max_records=10_000, wait=0.01))
    assert sum(page.count("\n") - 1 for page in pages) >= LEADS
    job = session.post(
        f"{org.url}/services/data/v59.0/jobs/query",
        headers={"Authorization": f"Bearer {token['access_token']}"},
        json={"operation": "query", "query": "SELECT Id FROM Lead"},
    ).json()
    assert job["createdById"] == user_id
