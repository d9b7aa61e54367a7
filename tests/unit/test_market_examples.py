"""One worked example per paper algorithm, computed by hand, for both kernel and reference."""

from __future__ import annotations

import pytest

from market.clearing import KERNEL, PURE, REFERENCE

FIT, TOU, ALPHA_PPM = 5_000, 30_000, 800_000
CAP = TOU * ALPHA_PPM // 1_000_000  # alpha * TOU = 24,000 milli-cents/kWh

# Offers A, B, C, D (price milli-cents/kWh, energy Wh); D is above alpha * TOU and never sells.
OFFER_P = [8_000, 10_000, 12_000, 26_000]
OFFER_E = [3_000, 2_000, 4_000, 5_000]


@pytest.fixture(params=["kernel", "pure", "reference"])
def m(request):
    return {"kernel": KERNEL, "pure": PURE, "reference": REFERENCE}[request.param]


def test_000_algorithm_1_clearing_price(m) -> None:
    # Demand 6,000 Wh: A covers 3,000 (3,000 left), B 2,000 (1,000 left), C covers the rest.
    assert m.merit_order_price(OFFER_P, OFFER_E, 6_000, CAP, FIT) == 12_000
    # Demand 10,000 Wh: A + B + C = 9,000 < 10,000, supply runs out: p^c = alpha * TOU.
    assert m.merit_order_price(OFFER_P, OFFER_E, 10_000, CAP, FIT) == 24_000


def test_000_algorithm_2_pro_rata(m) -> None:
    # Consumers X 4,000 and Y 2,000 Wh; eligible supply 9,000 >= 6,000: gamma = 1, omega = 2/3.
    # A 3,000 * 2/3 = 2,000; B 2,000 * 2/3 = 1,333.3; C 4,000 * 2/3 = 2,666.7 -> floors sum to
    # 5,999 and the spare Wh goes to the largest remainder (C): A 2,000, B 1,333, C 2,667.
    # X takes A 2,000, B 1,333, C 667; Y takes C 2,000. Payment = Wh * 12,000 // 1,000.
    trades = m.pro_rata_assign([4_000, 2_000], OFFER_P, OFFER_E, CAP, FIT, 12_000)
    assert trades == [(0, 0, 2_000, 24_000), (1, 0, 1_333, 15_996), (2, 0, 667, 8_004), (2, 1, 2_000, 24_000)]


def test_002_zone_matching_at_lowest_price(m) -> None:
    # Sellers S0 (zone 0, 11,000, 3,000 Wh) and S1 (zone 2, 9,500, 2,000 Wh); buyers B0 zone 0
    # 2,000, B1 zone 1 2,500, B2 zone 2 1,000. Uniform price: the lowest seller's, 9,500.
    # Same zone: B0 <- S0 2,000; B2 <- S1 1,000. Adjacent: B1 <- S0 (zone 0) 1,000, then S1
    # (zone 2) 1,000; B1 still lacks 500 and nothing is left for the any-zone pass.
    price = m.lowest_price([11_000, 9_500])
    assert price == 9_500
    trades = m.zone_match([2_000, 2_500, 1_000], [0, 1, 2], [3_000, 2_000], [0, 2], price)
    assert trades == [(0, 0, 2_000, 19_000), (1, 2, 1_000, 9_500), (0, 1, 1_000, 9_500), (1, 1, 1_000, 9_500)]


def test_002_double_auction_option(m) -> None:
    # Bids 16,000 x 1,000 and 12,000 x 2,000; asks 9,000 x 1,500 and 13,000 x 3,000.
    # 16,000 >= 9,000: 1,000 Wh; 12,000 >= 9,000: 500 Wh (ask 0 done); 12,000 < 13,000: stop.
    # Price = (12,000 + 9,000) // 2 = 10,500.
    assert m.double_auction([16_000, 12_000], [1_000, 2_000], [9_000, 13_000], [1_500, 3_000]) == (
        10_500, [1_000, 500], [1_500, 0])


def test_003_aggregator_bid_and_offer(m) -> None:
    # Aggregator bids for 5,000 Wh at 15,000: offers below 15,000 in increasing price:
    # P1 9,000 (1,500 Wh), P3 12,000 (3,000 Wh), P0 14,000 (500 of its 2,000 Wh); P2 at 16,000 is out.
    offers_p, offers_e = [14_000, 9_000, 16_000, 12_000], [2_000, 1_500, 4_000, 3_000]
    assert m.aggregator_take(offers_p, offers_e, 5_000, 15_000, True) == [
        (1, 1_500, 13_500), (3, 3_000, 36_000), (0, 500, 7_000)]
    # Aggregator offers 4,000 Wh at 11,000: bids above 11,000, highest first: P2 16,000 (4,000 Wh).
    assert m.aggregator_take(offers_p, offers_e, 4_000, 11_000, False) == [(2, 4_000, 64_000)]


def test_002_algorithm_3_grid_prices_and_bills(m) -> None:
    from market.reference import grid_price

    hourly = [15_000] * 24
    hourly[18] = 20_000
    peak = [1 if 17 <= h <= 21 else 0 for h in range(24)]
    off_peak = [1 if h < 6 else 0 for h in range(24)]
    assert grid_price(18, hourly, peak, off_peak, 1_200_000, 950_000) == 24_000  # +20% at peak
    assert grid_price(3, hourly, peak, off_peak, 1_200_000, 950_000) == 14_250  # -5% off-peak
    assert grid_price(12, hourly, peak, off_peak, 1_200_000, 950_000) == 15_000
    # 2,500 Wh residual at 24,000 = 60,000; 1,000 Wh surplus sold back at 7,000 = 7,000.
    assert m.grid_settle([2_500, 0], [0, 1_000], 24_000, 7_000) == [(60_000, 0), (0, 7_000)]


def test_000_real_time_deviation_settlement(m) -> None:
    # A prosumer promised to export 3,000 Wh and exported 2,200: buys 800 at TOU = -24,000.
    # A consumer promised to import 2,000 (net -2,000) and imported 1,500: sells 500 at FIT = +2,500.
    assert m.realtime_settle([3_000, -2_000, 100], [2_200, -1_500, 100], TOU, FIT) == [-24_000, 2_500, 0]


def test_self_check_passes_and_catches_a_wrong_kernel(monkeypatch) -> None:
    from market import clearing

    clearing.self_check()
    monkeypatch.setattr(clearing.KERNEL, "zone_match", lambda *a: [])
    with pytest.raises(RuntimeError, match="zone_match disagrees"):
        clearing.self_check()


def test_the_reference_zone_match_stays_linear_on_a_members_worst_book() -> None:
    """A full node clears with the reference: n buyers in one zone and n one-Wh sellers in n other
    zones must cost it about n steps, not n * zones. Counted in executed lines of the reference
    (sys.settrace), so the bound holds on any machine, however slow or busy."""
    import sys

    from market import reference

    n = 1_000
    lines = [0]

    def trace(frame, event, arg):
        if frame.f_code.co_filename == reference.__file__:
            if event == "line":
                lines[0] += 1
            return trace
        return None

    sys.settrace(trace)
    try:
        trades = reference.zone_match([10] * n, [65_000] * n, [1] * n, list(range(n)), 10_000, True)
    finally:
        sys.settrace(None)
    assert len(trades) == n
    assert lines[0] < 100 * n, lines[0]  # the quadratic pass executed 3,031,013 here
