"""No secret reaches an error line of the CLI, whatever the error quotes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from baton.cli import run as run_cli
from baton.cli.common import fail
from baton.daemon import one_line
from connectors.http.redaction import forget_secrets, register_secrets, registered_secrets

# The shape of a HubSpot private-app token, as httpx quotes a header it refuses.
PAT = "pat-na1-0f8e9b2c-1111-2222-3333-444455556666"
# A secret of no recognisable shape (an OAuth refresh token): only its registration masks it.
OPAQUE = "opaque0refresh0token0value"


def refused(token: str) -> ValueError:
    """What httpx raises for an `Authorization` header whose token ends in a carriage return."""
    header = f"Bearer {token}\r".encode()
    return ValueError(f"Invalid header value {header!r}")


@pytest.fixture
def registry() -> Iterator[None]:
    before = registered_secrets()
    yield
    forget_secrets(*(registered_secrets() - before))


def test_one_line_masks_a_bearer_header_httpx_refused() -> None:
    assert one_line(refused(PAT)) == "ValueError: Invalid header value b'Bearer ***'"


def test_fail_masks_registered_secrets_and_exits_with_the_code(
    registry: None, capsys: pytest.CaptureFixture[str]
) -> None:
    register_secrets(OPAQUE)
    with pytest.raises(SystemExit) as caught:
        fail(f"baton: refused {OPAQUE} and Bearer {PAT}", 2)
    assert caught.value.code == 2
    assert capsys.readouterr().err == "baton: refused *** and Bearer ***\n"


class RefusingRuntime:
    """A runtime whose first HubSpot call fails on a header carrying the token."""

    def prepare_systems(self) -> list[str]:
        raise refused(OPAQUE)


def test_preparing_hubspot_never_prints_the_token(capsys: pytest.CaptureFixture[str]) -> None:
    """The reported walk-through: a token with a trailing CR came back whole in the error."""
    runtime: Any = RefusingRuntime()
    with pytest.raises(SystemExit) as caught:
        run_cli.prepare_hubspot(runtime, "baton backfill")
    assert caught.value.code == 1
    err = capsys.readouterr().err
    assert err == (
        "baton backfill: cannot create Baton's HubSpot properties: ValueError: Invalid header "
        "value b'Bearer ***'\n"
    )
    assert OPAQUE not in err
