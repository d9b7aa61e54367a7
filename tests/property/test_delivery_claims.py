"""The ledger's grant arithmetic for metered delivery (`accounts.claim_delivery`, with the
markets' reservations of `accounts.reserve_delivery`), over random sequences of reservations and
claims by a few markets: never more than the meters' net in all, never a Wh twice, a market that
settles first never takes what the others reserved, and the records stay consistent."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import accounts, schema
from ledger.accounts import RESERVATION_INTERVALS, Claimed, OwnerEnergy
from ledger.state import State

OWNER = b"\x01" * 20
K = 7
MARKETS = [bytes([0x10 + i]) * 20 for i in range(3)]
WH = st.integers(min_value=0, max_value=3_000)

reserve_st = st.tuples(st.just("reserve"), st.integers(0, 2), st.integers(-3_000, 3_000), st.integers(-3_000, 3_000))
claim_st = st.tuples(st.just("claim"), st.integers(0, 2), WH, WH)


def _reservations(state: State) -> list[Claimed]:
    return [accounts.reserved(state, OWNER, K, m) for m in MARKETS]


@settings(max_examples=300, deadline=None)
@given(produced=WH, consumed=WH, steps=st.lists(st.one_of(reserve_st, claim_st), max_size=12),
       lapsed=st.booleans())
def test_grants_never_exceed_the_meters_never_repeat_and_respect_the_others_reservations(
        produced: int, consumed: int, steps: list, lapsed: bool) -> None:
    state = State()
    energy = OwnerEnergy(produced, consumed, 1, 1)
    now = K + RESERVATION_INTERVALS + (1 if lapsed else 0)
    net = produced - consumed
    metered = Claimed(max(net, 0), max(-net, 0))
    granted = [0, 0]
    for kind, i, export_wh, import_wh in steps:
        before = _reservations(state)
        if kind == "reserve":
            held = accounts.reserve_delivery(state, OWNER, K, MARKETS[i], export_wh, import_wh)
            mine = before[i]
            assert held == Claimed(max(0, mine.export_wh + export_wh), max(0, mine.import_wh + import_wh))
            continue
        claimed = accounts.claimed(state, OWNER, K)
        got, was = accounts.claim_delivery(state, OWNER, K, now, MARKETS[i], energy, export_wh, import_wh, 10**9)
        assert was == claimed
        for d, (g, asked, have, left) in enumerate((
                (got.export_wh, export_wh, before[i].export_wh, metered.export_wh - claimed.export_wh),
                (got.import_wh, import_wh, before[i].import_wh, metered.import_wh - claimed.import_wh))):
            assert 0 <= g <= min(asked, left)
            others = 0 if lapsed else sum((r.export_wh, r.import_wh)[d] for j, r in enumerate(before) if j != i)
            # Within its own reservation a market takes what is unclaimed; beyond it, only what
            # the other markets' reservations leave (everything once they lapsed).
            assert g <= max(min(have, left), left - others)
            assert g >= min(asked, have, left)  # its own reservation, as far as the meters show it
            granted[d] += g
        after = _reservations(state)
        assert after[i] == Claimed(max(0, before[i].export_wh - export_wh), max(0, before[i].import_wh - import_wh))
        assert all(after[j] == before[j] for j in range(len(MARKETS)) if j != i)
    assert accounts.claimed(state, OWNER, K) == Claimed(*granted)
    assert granted[0] <= metered.export_wh and granted[1] <= metered.import_wh
    held = _reservations(state)
    assert accounts.reserved_total(state, OWNER, K) == Claimed(sum(r.export_wh for r in held),
                                                                sum(r.import_wh for r in held))


def test_a_claim_before_every_meter_reported_grants_nothing_and_keeps_the_reservation() -> None:
    state = State()
    accounts.reserve_delivery(state, OWNER, K, MARKETS[0], 1_000, 0)
    got, _ = accounts.claim_delivery(state, OWNER, K, K + 1, MARKETS[0], OwnerEnergy(1_000, 0, 1, 2), 1_000, 0, 10**9)
    assert got == Claimed(0, 0)
    assert accounts.reserved(state, OWNER, K, MARKETS[0]) == Claimed(1_000, 0)


def test_a_settler_without_a_reservation_leaves_the_reserved_energy_to_its_market() -> None:
    state = State()
    energy = OwnerEnergy(1_500, 0, 1, 1)
    accounts.reserve_delivery(state, OWNER, K, MARKETS[0], 1_000, 0)
    assert accounts.claim_delivery(state, OWNER, K, K + 1, MARKETS[1], energy, 1_500, 0, 10**9)[0] == Claimed(500, 0)
    assert accounts.claim_delivery(state, OWNER, K, K + 2, MARKETS[0], energy, 1_000, 0, 10**9)[0] == Claimed(1_000, 0)
    assert accounts.reserved_total(state, OWNER, K) == Claimed(0, 0)
    assert state.get(schema.reserved_total_key(OWNER, K)) is None  # released records leave the state
    assert state.get(schema.reserved_key(OWNER, K, MARKETS[0])) is None


def test_reservations_of_an_owner_stay_below_2_63_wh_in_all() -> None:
    state = State()
    accounts.reserve_delivery(state, OWNER, K, MARKETS[0], (1 << 62), 0)
    with pytest.raises(ValueError):
        accounts.reserve_delivery(state, OWNER, K, MARKETS[1], (1 << 62), 0)
    assert accounts.reserved_total(state, OWNER, K) == Claimed(1 << 62, 0)
