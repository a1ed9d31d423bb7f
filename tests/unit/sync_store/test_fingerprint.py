"""Fingerprints decide whether a record changed, so they must be stable and exact."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sync.store.snapshots import fingerprint

values = st.dictionaries(
    st.text(max_size=10),
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    max_size=8,
)


@given(values)
def test_key_order_does_not_matter(record: dict[str, object]) -> None:
    reordered = dict(reversed(list(record.items())))
    assert fingerprint(reordered) == fingerprint(record)  # type: ignore[arg-type]


def test_distinguishes_blank_missing_and_types() -> None:
    prints = {
        fingerprint({}),
        fingerprint({"phone": None}),
        fingerprint({"phone": ""}),
        fingerprint({"score": 1}),
        fingerprint({"score": "1"}),
        fingerprint({"score": True}),
        fingerprint({"score": 1.5}),
    }
    assert len(prints) == 7


def test_is_a_fixed_width_hex_digest_stable_across_runs() -> None:
    digest = fingerprint({"email": "ann@example.com", "score": 42})
    assert len(digest) == 32
    assert int(digest, 16) >= 0
    assert digest == fingerprint({"score": 42, "email": "ann@example.com"})
