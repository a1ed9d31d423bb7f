"""The HTTP service's routes, against real verifiers and fake sinks (no sockets)."""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from baton.daemon import HttpServer
from baton.metrics import BatonMetrics
from baton.service import Readiness, ServiceDeps, create_app
from baton.service.app import MAX_BODY_BYTES
from baton.service.guard import VerificationGuard
from connectors.hubspot.webhooks import HubSpotWebhooks, sign_v3
from connectors.records import RecordKey, System
from connectors.salesforce.outbound import ACK_BODY, parse_outbound, verify_outbound
from sandbox.salesforce.outbound import render_notifications

SECRET = "webhook-signing-secret-123"
ORG = "00D000000000001AAA"
URL = "http://testserver/webhooks/hubspot"


class Sink:
    def __init__(self) -> None:
        self.keys: list[RecordKey] = []
        self.gone: set[RecordKey] = set()
        self.purged: set[RecordKey] = set()

    def __call__(self, keys: list[RecordKey], gone: set[RecordKey], purged: set[RecordKey]) -> None:
        self.keys.extend(keys)
        self.gone |= gone
        self.purged |= purged


@pytest.fixture
def sink() -> Sink:
    return Sink()


def client(sink: Sink, **overrides: object) -> TestClient:
    given: dict[str, object] = {
        "verify_hubspot": HubSpotWebhooks(SECRET).verify,
        "screen_hubspot": HubSpotWebhooks(SECRET).check_headers,
        "verify_salesforce": functools.partial(_outbound, org=ORG),
        **overrides,
    }
    deps = ServiceDeps(sink=sink, **given)  # type: ignore[arg-type]
    return TestClient(create_app(deps), raise_server_exceptions=False)


def _outbound(request, *, org):  # type: ignore[no-untyped-def]
    return parse_outbound(request.body, org_id=org)


def hubspot_body() -> bytes:
    events = [
        {
            "eventId": 1,
            "subscriptionId": 7,
            "portalId": 62515,
            "occurredAt": int(time.time() * 1000),
            "subscriptionType": "contact.propertyChange",
            "attemptNumber": 0,
            "objectId": 123,
            "propertyName": "lifecyclestage",
            "propertyValue": "marketingqualifiedlead",
        }
    ]
    return json.dumps(events).encode()


def signed_headers(body: bytes, *, secret: str = SECRET, url: str = URL) -> dict[str, str]:
    stamp = str(int(time.time() * 1000))
    signature = sign_v3(secret, method="POST", uri=url, body=body, timestamp=stamp)
    return {
        "X-HubSpot-Signature-v3": signature,
        "X-HubSpot-Request-Timestamp": stamp,
        "Content-Type": "application/json",
    }


def test_a_signed_hubspot_delivery_queues_the_contact(sink: Sink) -> None:
    body = hubspot_body()
    response = client(sink).post("/webhooks/hubspot", content=body, headers=signed_headers(body))
    assert response.status_code == 200
    assert sink.keys == [RecordKey(System.HUBSPOT, "contacts", "123")]


@pytest.mark.parametrize(("event", "for_good"), [("privacyDeletion", True), ("deletion", False)])
def test_a_deletion_hint_is_queued_as_such(sink: Sink, event: str, for_good: bool) -> None:
    """A GDPR deletion leaves no record to read: the sink is told the key was deleted, and
    deleted for good; a deletion to the recycle bin, read by the polls too, only deleted."""
    events = json.loads(hubspot_body())
    events[0].update(subscriptionType=f"contact.{event}", propertyName=None)
    body = json.dumps(events).encode()
    response = client(sink).post("/webhooks/hubspot", content=body, headers=signed_headers(body))
    assert response.status_code == 200
    key = RecordKey(System.HUBSPOT, "contacts", "123")
    assert (sink.keys, sink.gone, sink.purged) == ([key], {key}, {key} if for_good else set())


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(lambda b: signed_headers(b, secret="wrong-secret"), id="wrong secret"),
        pytest.param(lambda b: signed_headers(b, url="http://elsewhere/x"), id="wrong url"),
        pytest.param(lambda b: {"Content-Type": "application/json"}, id="unsigned"),
    ],
)
def test_a_badly_signed_hubspot_delivery_is_401_and_queues_nothing(sink: Sink, headers) -> None:  # type: ignore[no-untyped-def]
    body = hubspot_body()
    response = client(sink).post("/webhooks/hubspot", content=body, headers=headers(body))
    assert response.status_code == 401
    assert sink.keys == []


def test_a_tampered_body_is_401(sink: Sink) -> None:
    body = hubspot_body()
    headers = signed_headers(body)
    response = client(sink).post("/webhooks/hubspot", content=body + b" ", headers=headers)
    assert response.status_code == 401
    assert sink.keys == []


def test_a_verifier_crash_is_400_not_500(sink: Sink) -> None:
    def broken(_request: object) -> object:
        raise RuntimeError("boom")

    deps = ServiceDeps(sink=sink, verify_hubspot=broken)  # type: ignore[arg-type]
    response = TestClient(create_app(deps)).post("/webhooks/hubspot", content=b"[]")
    assert (response.status_code, response.text) == (400, "bad request\n")  # no "boom"


def test_unconfigured_webhooks_are_404(sink: Sink) -> None:
    response = TestClient(create_app(ServiceDeps(sink=sink))).post("/webhooks/salesforce")
    assert response.status_code == 404


def outbound_body(org: str) -> bytes:
    return render_notifications(
        org_id=org,
        action_id="04k000000000001AAA",
        session_id=None,
        instance_url="https://example.my.salesforce.com",
        sobject="Lead",
        notifications=[
            ("04l000000000001AAA", {"Id": "00Q000000000001AAA", "Status": "Working"}),
            ("04l000000000002AAA", {"Id": "00Q000000000002AAA", "Status": "Working"}),
        ],
    )


def test_an_outbound_message_is_acknowledged_and_its_leads_queued(sink: Sink) -> None:
    response = client(sink).post(
        "/webhooks/salesforce",
        content=outbound_body(ORG),
        headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
    )
    assert response.status_code == 200
    assert response.content == ACK_BODY
    assert response.headers["content-type"].startswith("text/xml")
    assert sink.keys == [
        RecordKey(System.SALESFORCE, "Lead", "00Q000000000001AAA"),
        RecordKey(System.SALESFORCE, "Lead", "00Q000000000002AAA"),
    ]


def test_an_outbound_message_from_another_org_is_401(sink: Sink) -> None:
    response = client(sink).post(
        "/webhooks/salesforce", content=outbound_body("00D00000000000XAAA")
    )
    assert response.status_code == 401
    assert b"Ack" not in response.content
    assert sink.keys == []


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/webhooks/salesforce", 401),
        ("/webhooks/salesforce?token=guess", 401),
        ("/webhooks/salesforce?token=hook-token", 200),
    ],
)
def test_with_a_webhook_token_set_only_outbound_messages_carrying_it_are_queued(
    sink: Sink, path: str, status: int
) -> None:
    """The org id is in every Web-to-Lead form: with the token set, knowing it is not enough."""
    verify = functools.partial(verify_outbound, org_id=ORG, token="hook-token")
    response = client(sink, verify_salesforce=verify).post(path, content=outbound_body(ORG))
    assert response.status_code == status
    assert len(sink.keys) == (2 if status == 200 else 0)


@pytest.mark.parametrize("path", ["/webhooks/salesforce", "/webhooks/hubspot"])
def test_a_delivery_is_verified_off_the_event_loop(sink: Sink, path: str) -> None:
    """Parsing a 2 MiB XML body takes a good part of a second: on the event loop, health checks
    and every other delivery would wait behind it."""
    loops: list[bool] = []

    def verify(request):  # type: ignore[no-untyped-def]
        try:
            asyncio.get_running_loop()
            loops.append(True)
        except RuntimeError:  # a worker thread has no running loop
            loops.append(False)
        return parse_outbound(outbound_body(ORG), org_id=ORG)

    system = path.rpartition("/")[2]
    given = {f"verify_{system}": verify}
    if system == "hubspot":
        given["screen_hubspot"] = None
    response = client(sink, **given).post(path, content=outbound_body(ORG))

    assert response.status_code == 200
    assert loops == [False]


def test_outbound_messages_without_the_orgs_id_set_are_503_not_configured(sink: Sink) -> None:
    """Baton's setting is missing, not the sender's fault: 503 says so (401 would blame it)."""
    unset = functools.partial(_outbound, org=None)
    response = client(sink, verify_salesforce=unset).post(
        "/webhooks/salesforce", content=outbound_body(ORG)
    )
    assert response.status_code == 503
    assert response.content == b"receiver not configured\n"
    assert sink.keys == []


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"<not-soap", "the Outbound Message is not well-formed XML (ParseError)"),
        (b"<a/>", "not an Outbound Message (no notifications element)"),
        (
            outbound_body(ORG).replace(b"sObject", b"sThing"),
            "an Outbound Message notification has no sObject",
        ),
    ],
    ids=["not XML", "not notifications", "a notification without its sObject"],
)
def test_an_unreadable_outbound_message_is_400_not_401_naming_the_problem(
    sink: Sink, body: bytes, problem: str
) -> None:
    """A bad request, not a failed verification (which stays 401: org, token)."""
    response = client(sink).post("/webhooks/salesforce", content=body)
    assert response.status_code == 400
    assert response.text == f"bad request: {problem}\n"
    assert sink.keys == []


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"{not json", "body is not JSON: unexpected character"),
        (b'"hello"', "body is not a JSON array of events"),
        (b"42", "body is not a JSON array of events"),
    ],
)
def test_a_signed_hubspot_body_that_is_not_json_events_is_400_not_401_naming_the_problem(
    sink: Sink, body: bytes, problem: str
) -> None:
    """The sender (whose signature verified) is told what could not be read."""
    response = client(sink).post("/webhooks/hubspot", content=body, headers=signed_headers(body))
    assert response.status_code == 400
    assert response.text.startswith(f"bad request: {problem}")
    assert sink.keys == []


def test_healthz_is_always_ok(sink: Sink) -> None:
    failing = client(sink, ready=lambda: Readiness(("store unreachable",)))
    assert failing.get("/healthz").json() == {"status": "ok"}


def test_readyz_names_the_problems(sink: Sink) -> None:
    assert client(sink).get("/readyz").status_code == 200
    failing = client(sink, ready=lambda: Readiness(("last poll failed: X",)))
    response = failing.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"ready": False, "problems": ["last poll failed: X"]}


class Report:
    def __init__(self) -> None:
        self.read = Counter({"hubspot:contacts": 5, "salesforce:Lead": 2})
        self.created = Counter({"salesforce:Lead": 1})
        self.updated = Counter({"hubspot:contacts": 3})
        self.conflicts = 1
        self.dead_letters = 0
        self.retry_later = 4
        self.deletes_flagged = 2
        self.deletes_propagated = 0
        self.ambiguous = 1
        self.not_handed_off = 3


def test_metrics_are_prometheus_text(sink: Sink) -> None:
    metrics = BatonMetrics()
    metrics.observe_cycle(Report(), trigger="poll", seconds=0.25)
    response = client(sink, metrics=metrics).get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'baton_records_read_total{object="contacts",system="hubspot"} 5.0' in text
    assert 'baton_records_written_total{object="Lead",op="created",system="salesforce"} 1.0' in text
    assert 'baton_cycles_total{outcome="ok",trigger="poll"} 1.0' in text
    for kind, count in (
        ("retry_later", 4),
        ("deletes_flagged", 2),
        ("deletes_propagated", 0),
        ("ambiguous", 1),
        ("not_handed_off", 3),
    ):
        assert f'baton_sync_outcomes_total{{kind="{kind}"}} {count}.0' in text


def test_counters_and_histograms_export_no_created_series(sink: Sink) -> None:
    metrics = BatonMetrics()
    metrics.observe_cycle(Report(), trigger="poll", seconds=0.25)
    text = client(sink, metrics=metrics).get("/metrics").text
    assert "baton_cycles_total" in text
    assert "_created" not in text


def test_refused_writes_are_counted_per_refusal_under_an_honest_name(sink: Sink) -> None:
    """A write refused on each of three cycles is one dead letter (upserted, attempts 3) but
    three refusals: the counter says refusals, not letters added."""
    metrics = BatonMetrics()
    report = Report()
    report.dead_letters = 1
    for _ in range(3):
        metrics.observe_cycle(report, trigger="poll", seconds=0.1)
    text = client(sink, metrics=metrics).get("/metrics").text
    assert "baton_write_refusals_total 3.0" in text
    assert "baton_dead_letters_added" not in text


def test_the_dashboard_is_html(sink: Sink) -> None:
    response = client(sink, dashboard=lambda: "<h1>Baton</h1>").get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>Baton</h1>" in response.text


def asgi_post(
    sink: Sink, path: str, headers: dict[str, str], chunks: Iterator[bytes]
) -> tuple[int, int]:
    """POST `chunks` straight to the app (no client buffering them first): the status, and how
    many chunks the app asked for."""
    deps = ServiceDeps(
        sink=sink,
        verify_hubspot=HubSpotWebhooks(SECRET).verify,
        verify_salesforce=functools.partial(_outbound, org=ORG),
        screen_hubspot=HubSpotWebhooks(SECRET).check_headers,
    )
    app = create_app(deps)
    read = 0
    statuses: list[int] = []

    async def receive() -> dict[str, object]:
        nonlocal read
        read += 1
        chunk = next(chunks, None)
        return {"type": "http.request", "body": chunk or b"", "more_body": chunk is not None}

    async def send(message: dict[str, object]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(int(message["status"]))  # type: ignore[call-overload]

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 1234),
    }
    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    return statuses[0], read


def fresh_unsigned() -> dict[str, str]:
    """Headers that pass the header check (a v3 signature, a fresh timestamp) but sign nothing."""
    return {
        "X-HubSpot-Signature-v3": "x",
        "X-HubSpot-Request-Timestamp": str(int(time.time() * 1000)),
    }


def endless() -> Iterator[bytes]:
    """Four times the cap in 64 KiB chunks: ample to pass it, finite so a regression fails."""
    return itertools.repeat(b" " * 65536, 4 * MAX_BODY_BYTES // 65536)


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(
            {"X-HubSpot-Signature-v3": "x", "X-HubSpot-Request-Timestamp": "1"}, id="stale"
        ),
        pytest.param({"X-HubSpot-Signature-v3": "x"}, id="no timestamp"),
        pytest.param({}, id="unsigned"),
    ],
)
def test_a_hubspot_delivery_its_headers_condemn_is_401_before_its_body_is_read(
    sink: Sink, headers: dict[str, str]
) -> None:
    assert asgi_post(sink, "/webhooks/hubspot", headers, endless()) == (401, 0)
    assert sink.keys == []


@pytest.mark.parametrize("path", ["/webhooks/hubspot", "/webhooks/salesforce"])
def test_a_declared_length_over_the_cap_is_413_before_the_body_is_read(
    sink: Sink, path: str
) -> None:
    headers = {**fresh_unsigned(), "Content-Length": str(MAX_BODY_BYTES + 1)}
    assert asgi_post(sink, path, headers, endless()) == (413, 0)


@pytest.mark.parametrize("path", ["/webhooks/hubspot", "/webhooks/salesforce"])
def test_a_body_without_a_length_is_413_as_soon_as_it_streams_past_the_cap(
    sink: Sink, path: str
) -> None:
    status, read = asgi_post(sink, path, fresh_unsigned(), endless())
    assert (status, read) == (413, MAX_BODY_BYTES // 65536 + 1)
    assert sink.keys == []


def test_a_signed_body_of_exactly_the_cap_is_read(sink: Sink) -> None:
    body = hubspot_body()
    body += b" " * (MAX_BODY_BYTES - len(body))
    response = client(sink).post("/webhooks/hubspot", content=body, headers=signed_headers(body))
    assert response.status_code == 200
    assert sink.keys == [RecordKey(System.HUBSPOT, "contacts", "123")]


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/webhooks/hub%73pot", id="escaped path"),
        pytest.param("/webhooks/hubspot?portal=7&next=%2Fa%20b%3D", id="escaped query"),
    ],
)
def test_v3_is_checked_against_the_url_as_sent_not_as_decoded(sink: Sink, path: str) -> None:
    """HubSpot signs the target URL as written (decoding only its few listed escapes itself);
    Starlette decodes the path, so the receiver signs the raw one."""
    body = hubspot_body()
    headers = signed_headers(body, url=f"http://testserver{path}")
    response = client(sink).post(path, content=body, headers=headers)
    assert response.status_code == 200
    assert sink.keys == [RecordKey(System.HUBSPOT, "contacts", "123")]


def test_a_target_url_with_a_trailing_slash_is_served_not_redirected(sink: Sink) -> None:
    """A redirect is a failed delivery to HubSpot (it follows none), and the URL it signed
    is the one with the slash: the receiver answers there itself."""
    body = hubspot_body()
    headers = signed_headers(body, url="http://testserver/webhooks/hubspot/")
    response = client(sink).post(
        "/webhooks/hubspot/", content=body, headers=headers, follow_redirects=False
    )
    assert response.status_code == 200
    assert sink.keys == [RecordKey(System.HUBSPOT, "contacts", "123")]


def test_an_outbound_message_with_more_than_100_notifications_is_refused_whole(
    sink: Sink,
) -> None:
    notifications = [
        (f"04l{i:012d}AAA", {"Id": f"00Q{i:012d}AAA", "Status": "Working"}) for i in range(101)
    ]
    body = render_notifications(
        org_id=ORG,
        action_id="04k000000000001AAA",
        session_id=None,
        instance_url="https://example.my.salesforce.com",
        sobject="Lead",
        notifications=notifications,
    )
    response = client(sink).post("/webhooks/salesforce", content=body)
    assert response.status_code == 401
    assert b"Ack" not in response.content
    assert sink.keys == []


def test_an_unreadable_hubspot_event_is_counted_and_the_rest_are_queued(sink: Sink) -> None:
    """One malformed event does not cost the delivery (a 400 would lose every hint in it):
    the others are queued, and the skipped one is counted for /metrics."""
    metrics = BatonMetrics()
    events = json.loads(hubspot_body())
    odd = {**events[0], "eventId": 2, "subscriptionType": "contact.merge", "objectId": 8}
    odd["mergedObjectIds"] = "not-a-list"
    body = json.dumps([odd, *events, "not an event"]).encode()

    http = client(sink, metrics=metrics)
    response = http.post("/webhooks/hubspot", content=body, headers=signed_headers(body))

    assert response.status_code == 200
    assert sink.keys == [RecordKey(System.HUBSPOT, "contacts", "123")]
    assert 'baton_webhook_events_skipped_total{system="hubspot"} 2.0' in http.get("/metrics").text


def test_webhook_answers_are_counted_by_system_and_status(sink: Sink) -> None:
    """Deliveries received, rejected, too large or not kept each show in /metrics."""
    metrics = BatonMetrics()
    http = client(sink, metrics=metrics)
    body, big = hubspot_body(), b"x" * (MAX_BODY_BYTES + 1)
    answers = [
        http.post("/webhooks/hubspot", content=body, headers=signed_headers(body)),
        http.post("/webhooks/hubspot", content=body, headers=signed_headers(body, secret="x")),
        http.post("/webhooks/hubspot", content=big, headers=signed_headers(big)),
    ]

    def full(*_: object) -> None:
        raise RuntimeError("queue full")

    deps = ServiceDeps(sink=full, verify_hubspot=HubSpotWebhooks(SECRET).verify, metrics=metrics)
    answers.append(
        TestClient(create_app(deps)).post(
            "/webhooks/hubspot", content=body, headers=signed_headers(body)
        )
    )

    assert [a.status_code for a in answers] == [200, 401, 413, 503]
    counted = {
        line.rpartition(" ")[0]: line.rpartition(" ")[2]
        for line in http.get("/metrics").text.splitlines()
        if line.startswith("baton_webhooks_total{")
    }
    assert counted == {
        f'baton_webhooks_total{{status="{status}",system="hubspot"}}': "1.0"
        for status in ("200", "401", "413", "503")
    }


def guarded(sink: Sink, host: str, guard: VerificationGuard, metrics: BatonMetrics) -> TestClient:
    """The service as deliveries from `host` reach it."""
    deps = ServiceDeps(
        sink=sink,
        verify_hubspot=HubSpotWebhooks(SECRET).verify,
        screen_hubspot=HubSpotWebhooks(SECRET).check_headers,
        verify_salesforce=functools.partial(_outbound, org=ORG),
        metrics=metrics,
        guard=guard,
    )
    return TestClient(create_app(deps), client=(host, 4000), raise_server_exceptions=False)


def test_a_sender_whose_deliveries_keep_failing_verification_waits_and_no_other(
    sink: Sink,
) -> None:
    metrics, guard = BatonMetrics(), VerificationGuard(limit=3)
    metrics.watch_senders(guard.waiting)
    guesser = guarded(sink, "34.120.0.1", guard, metrics)
    hubspot = guarded(sink, "35.190.0.2", guard, metrics)
    body = hubspot_body()
    bad = signed_headers(body, secret="a-guess")
    forged = outbound_body("00D00000000000XAAA")  # another org's

    answers = [
        guesser.post("/webhooks/hubspot", content=body, headers=bad),
        guesser.post("/webhooks/salesforce", content=forged),
        guesser.post("/webhooks/hubspot", content=b"[]"),  # no signature at all
        # the limit reached: even a good delivery from there waits now, unread
        guesser.post("/webhooks/hubspot", content=body, headers=signed_headers(body)),
    ]
    good = hubspot.post("/webhooks/hubspot", content=body, headers=signed_headers(body))

    assert [a.status_code for a in answers] == [401, 401, 401, 429]
    assert answers[3].headers["Retry-After"] == "300"
    assert good.status_code == 200
    assert sink.keys == [RecordKey(System.HUBSPOT, "contacts", "123")]  # the good one only
    scraped = hubspot.get("/metrics").text
    assert 'baton_webhook_verification_failures_total{system="hubspot"} 2.0' in scraped
    assert 'baton_webhook_verification_failures_total{system="salesforce"} 1.0' in scraped
    assert 'baton_webhooks_total{status="429",system="hubspot"} 1.0' in scraped
    assert "baton_webhook_senders_waiting 1.0" in scraped


def test_a_proxys_private_address_is_never_made_to_wait(sink: Sink) -> None:
    """Behind a reverse proxy that uvicorn does not trust, every delivery comes from its
    address: counting it would let a few bad guesses hold up the real deliveries."""
    metrics, guard = BatonMetrics(), VerificationGuard(limit=3)
    proxy = guarded(sink, "10.0.3.7", guard, metrics)
    body = hubspot_body()
    bad = signed_headers(body, secret="a-guess")
    answers = [proxy.post("/webhooks/hubspot", content=body, headers=bad) for _ in range(10)]
    good = proxy.post("/webhooks/hubspot", content=body, headers=signed_headers(body))
    assert {a.status_code for a in answers} == {401}
    assert good.status_code == 200
    assert 'baton_webhook_verification_failures_total{system="hubspot"} 10.0' in (
        proxy.get("/metrics").text
    )


def test_over_a_socket_the_sender_is_the_address_a_trusted_proxy_forwards(
    sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """uvicorn takes X-Forwarded-For from the proxies it trusts (FORWARDED_ALLOW_IPS, by
    default this machine's loopback), so the guard counts the sender the proxy names, and a
    proxy it does not trust is counted as itself: here 127.0.0.1, never made to wait."""
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    deps = ServiceDeps(
        sink=sink,
        verify_hubspot=HubSpotWebhooks(SECRET).verify,
        screen_hubspot=HubSpotWebhooks(SECRET).check_headers,
        guard=VerificationGuard(limit=2),
    )
    server = HttpServer(create_app(deps), host="127.0.0.1", port=0)
    server.start()
    body = hubspot_body()
    url = f"{server.url}/webhooks/hubspot"  # signed as the sender posted it
    try:
        with httpx.Client(timeout=10) as http:

            def post(forwarded: str | None, secret: str) -> int:
                headers = signed_headers(body, secret=secret, url=url)
                if forwarded is not None:
                    headers["X-Forwarded-For"] = forwarded
                return http.post(url, content=body, headers=headers).status_code

            proxied = [post("34.120.0.1", "a-guess") for _ in range(3)]
            others = [post("35.190.0.2", SECRET), post(None, "a-guess"), post(None, SECRET)]
    finally:
        server.stop()
    assert proxied == [401, 401, 429]
    assert others == [200, 401, 200]
