"""004's off-chain operator: CES-OPF (1) on the 33-bus substitute feeder, CES-ID (2) and
Algorithm 1's raise/supplement path. Shapes are analytic (no profile libraries) so this stays fast."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market.ces.assets import BusAssets, Preferences, assets, size
from market.ces.feeder import case33bw
from market.ces.incentives import Candidate, design
from market.ces.opf import SOC_MIN, Tariff, inputs_digest, solve
from market.ces.operator_policy import Negotiation, Offer, Policy, Weights, candidates, equilibrium_wh, offers, raised
from market.ces.participant import Acceptance, reading

T = 24
LOAD_SHAPE = [0.55 + 0.45 * math.sin(math.pi * (h - 6) / 16) ** 2 if 6 <= h <= 22 else 0.55 for h in range(T)]
PV_SHAPE = [max(0.0, math.sin(math.pi * (h - 6) / 12)) for h in range(T)]
TARIFF = Tariff(tuple(20000.0 if 17 <= h < 21 else 12000.0 for h in range(T)), 2000.0, 500.0)
GAP_TOLERANCE = 1e-5  # pu^2: the relaxation is exact to the solver's accuracy on this case


def _buses(feeder, seed=1):
    rng = random.Random(seed)
    return [assets(size(feeder.peak_kw[j] * 1000, rng), feeder.q_ratio[j], LOAD_SHAPE, PV_SHAPE, list(range(T)))
            if feeder.peak_kw[j] else BusAssets.idle(T) for j in range(feeder.buses)]


@pytest.fixture(scope="module")
def solved():
    feeder = case33bw()
    buses = _buses(feeder)
    return feeder, buses, solve(feeder, buses, TARIFF)


def test_power_balance_holds_and_the_relaxation_is_tight(solved):
    feeder, buses, result = solved
    assert result.balance_error_kw < 1e-3
    assert result.relaxation_gap < GAP_TOLERANCE
    # what the substation imports is every bus's net consumption plus the lines' losses
    for t in range(T):
        net = sum(-b.net_export_kw[t] for b in result.buses)
        assert result.substation_kw[t] == pytest.approx(net + result.losses_kw[t], abs=1e-2)
        assert result.losses_kw[t] > 0
    assert feeder.v_min - 1e-6 <= result.v_min_pu <= result.v_max_pu <= feeder.v_max + 1e-6


def test_batteries_stay_within_their_energy_and_power(solved):
    _, buses, result = solved
    for a, s in zip(buses, result.buses):
        assert all(SOC_MIN * a.battery_kwh - 1e-4 <= e <= a.battery_kwh + 1e-4 for e in s.soc_kwh)
        assert s.soc_kwh[-1] == pytest.approx(a.battery_kwh / 2, abs=1e-4)
        assert all(-1e-6 <= p <= a.battery_kw + 1e-4 for p in s.charge_kw + s.discharge_kw)
        assert all(-1e-6 <= used <= avail + 1e-4 for used, avail in zip(s.solar_kw, a.pv_kw))
    # 004 VI: the batteries charge while the sun shines and give it back in the evening peak
    charged = sum(s.charge_kw[t] for s in result.buses for t in range(T) if PV_SHAPE[t] > 0.5)
    discharged = sum(s.discharge_kw[t] for s in result.buses for t in range(17, 21))
    assert charged > 0 and discharged > 0


def test_shapable_loads_get_their_energy_inside_their_window(solved):
    _, buses, result = solved
    for a, s in zip(buses, result.buses):
        assert sum(s.shapable_kw) == pytest.approx(a.shapable_kwh, rel=1e-5, abs=1e-4)
        for t in range(T):
            assert s.shapable_kw[t] <= (a.shapable_kw + 1e-4 if a.shapable_window[t] else 1e-4)


def test_dlmps_are_positive_and_rise_with_losses_down_the_feeder(solved):
    feeder, _, result = solved
    assert all(p > 0 for row in result.dlmp for p in row)
    far = 17  # the end of the main branch
    assert all(result.dlmp[far][t] > result.dlmp[0][t] for t in range(T))


def test_dlmps_equal_the_substation_price_on_a_lossless_feeder():
    feeder = case33bw().scaled(1e-6)
    result = solve(feeder, _buses(feeder), TARIFF)
    for t in range(T):
        marginal = TARIFF.price[t] + 2 * TARIFF.quadratic * result.substation_kw[t] / 1000
        for bus in range(feeder.buses):
            assert result.dlmp[bus][t] == pytest.approx(marginal, rel=1e-3)


def test_preferences_are_bounded_integers_and_sized_as_004():
    rng = random.Random(3)
    prefs = size(100_000, rng)
    assert Preferences.from_ints(prefs.to_ints()) == prefs
    assert (prefs.battery_w, prefs.battery_wh, prefs.pv_peak_w) == (80_000, 320_000, 150_000)
    assert 0 < prefs.shapable_wh <= 500_000 and 4 <= prefs.min_hours <= 10
    assert (prefs.earliest_hour, prefs.latest_hour) == (9, 24)
    assert size(100_000, rng, window_hours=3).min_hours <= 3
    for bad in ([1, 2], prefs.to_ints()[:-1] + [0], [-1] + prefs.to_ints()[1:], [1 << 24] + prefs.to_ints()[1:]):
        with pytest.raises(ValueError):
            Preferences.from_ints(bad)


def _candidate(i, eq, cap=None, eta=1.0, zeta=5000.0, floor=0.05, dlmp=20000.0):
    return Candidate(i, dlmp, eq, cap if cap is not None else 2 * eq, eta, zeta, floor)


def test_ces_id_meets_the_shortage_within_the_budget():
    people = [_candidate(0, 40_000), _candidate(1, 60_000), _candidate(2, 20_000)]
    d = 120_000
    plenty = design(people, d, budget=10**7, supplement_price=10**6)
    assert sum(a.energy_wh for a in plenty.awards) == pytest.approx(d, rel=1e-6)
    assert plenty.supplement_wh == pytest.approx(0, abs=1e-3)
    assert plenty.spent <= 10**7
    for c, a in zip(people, plenty.awards):
        assert a.energy_wh == pytest.approx(c.equilibrium_wh, rel=1e-6)  # zeta steers to u^eq
        assert a.incentive >= c.floor * c.dlmp - 1e-6 and a.incentive > 0
    tight = design(people, d, budget=1_000_000, supplement_price=10**6)
    assert tight.spent <= 1_000_000 + 1e-3
    assert tight.supplement_wh > 0
    assert sum(a.energy_wh for a in tight.awards) + tight.supplement_wh == pytest.approx(d, rel=1e-6)


def test_ces_id_shifts_energy_away_from_a_participant_with_a_high_eta():
    cheap, dear = _candidate(0, 50_000, zeta=100.0), _candidate(1, 50_000, zeta=100.0, eta=3.0)
    result = design([cheap, dear], 100_000, budget=10**8, supplement_price=10**6)
    assert result.awards[0].energy_wh > 50_000 > result.awards[1].energy_wh


POLICY = Policy(max_raises=2, raise_cap_ppm=2_000_000, raise_ppm=500_000, eta_step=0.25, zeta_step=0.25)


def test_algorithm_1_raises_on_refusal_then_supplements():
    weights = {0: Weights(1.0, 5000.0, 0.05), 1: Weights(1.0, 5000.0, 0.05), 2: Weights(1.0, 5000.0, 0.05)}
    first = [Offer(i, 5, 10_000, 20_000, 1000, 1000) for i in range(3)]
    # 0 accepts at once, 1 after one raise (wants 7.5 % of the DLMP), 2 never (wants 50 %)
    acceptance = Acceptance((0, 75_000, 500_000))
    talk = Negotiation(POLICY, dict(weights), first, budget_left=10**6)
    rounds = 0
    while not talk.done:
        for offer in list(talk.open):
            talk.answer(offer, acceptance.accepts(offer))
        raised_now, _ = talk.next_round()
        rounds += 1
        assert all(o.incentive <= o.first_incentive * 2 and o.raises <= 2 for o in raised_now)
    ends = {o.offer.participant: o for o in talk.outcomes}
    assert ends[0].accepted and ends[0].offer.raises == 0
    assert ends[1].accepted and ends[1].offer.incentive == 1500 and ends[1].offer.raises == 1
    assert not ends[2].accepted and ends[2].offer.raises == 2 and ends[2].offer.incentive == 2000
    assert rounds == 3 and talk.raised == 3
    assert talk.budget_left == 10**6 - (10_000 * 500 // 1000) * 2 - 10_000 * 500 // 1000
    # line 9: who refused is now dearer, less worth steering, and starts higher next time
    assert talk.weights[0] == weights[0]
    assert talk.weights[2].eta > talk.weights[1].eta > 1.0
    assert talk.weights[2].zeta < talk.weights[1].zeta < 5000.0
    assert talk.weights[2].floor > talk.weights[1].floor > 0.05


def test_a_raise_needs_budget_and_stops_at_the_threshold():
    offer = Offer(0, 1, 10_000, 20_000, 1000, 1000)
    assert raised(POLICY, offer, budget_left=0) is None
    assert raised(POLICY, offer, budget_left=10**6).incentive == 1500
    at_cap = Offer(0, 1, 10_000, 20_000, 2000, 1000, 1)
    assert raised(POLICY, at_cap, budget_left=10**6) is None


def test_everyone_accepts_by_default_and_drawn_reservations_are_seeded():
    offer = Offer(0, 1, 10_000, 20_000, 1, 1)
    assert Acceptance.everyone(1).accepts(offer)
    a, b = Acceptance.drawn(50, 7, 200_000), Acceptance.drawn(50, 7, 200_000)
    assert a == b and a != Acceptance.drawn(50, 8, 200_000)
    assert all(0 <= r <= 200_000 for r in a.reservation_ppm)


def test_offers_follow_the_equilibrium_from_ces_opf(solved):
    feeder, buses, result = solved
    participants = {0: 6, 1: 18, 2: 25}
    by_participant = {p: buses[b] for p, b in participants.items()}
    weights = {p: Weights(1.0, 5000.0, 0.05) for p in participants}
    exporting = [t for t in range(T) if candidates(t, participants, result, by_participant, weights, 60)]
    assert exporting  # the evening peak: batteries discharge
    t = exporting[0]
    people = candidates(t, participants, result, by_participant, weights, 60)
    d = sum(c.equilibrium_wh for c in people)
    made = offers(t, design(people, d, 10**9, 10**6), {c.participant: c.dlmp for c in people})
    for offer in made:
        eq = equilibrium_wh(result.buses[participants[offer.participant]], 60)[t]
        assert offer.energy_wh in (eq - 1, eq, eq + 1)
        assert offer.dlmp == round(result.dlmp[participants[offer.participant]][t]) and offer.incentive >= 1


def test_meters_show_the_set_point_when_accepted_and_an_idle_battery_when_refused(solved):
    feeder, buses, result = solved
    schedule = result.buses[6]
    setpoints = equilibrium_wh(schedule, 60)
    t = max(range(T), key=lambda k: schedule.discharge_kw[k])
    produced, consumed = reading(schedule, t, 60)
    assert produced - consumed == setpoints[t]
    offer = Offer(0, t, setpoints[t] + 500, 20_000, 1000, 1000)
    produced, consumed = reading(schedule, t, 60, accepted=offer)
    assert produced - consumed == offer.energy_wh
    produced, consumed = reading(schedule, t, 60, refused=True)
    assert produced - consumed < setpoints[t]  # no discharge: less export than asked


def test_the_inputs_digest_changes_with_any_input(solved):
    feeder, buses, _ = solved
    digest = inputs_digest(feeder, buses, TARIFF, 60)
    assert digest == inputs_digest(feeder, list(buses), TARIFF, 60) and len(digest) == 32
    assert digest != inputs_digest(feeder, buses, Tariff(TARIFF.price, 2001.0, 500.0), 60)
    assert digest != inputs_digest(feeder.scaled(1.0001), buses, TARIFF, 60)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 200_000), st.integers(0, 200_000), st.floats(0.2, 5.0),
                          st.floats(0.0, 10_000.0), st.floats(0.0, 0.5), st.integers(1, 40_000)), min_size=1, max_size=6),
       st.integers(0, 10**8), st.floats(0.0, 1.0))
def test_ces_id_never_spends_beyond_its_budget_and_always_covers_the_shortage(people, budget, share) -> None:
    candidates_ = [Candidate(i, dlmp, eq, cap, eta, zeta, floor)
                   for i, (eq, cap, eta, zeta, floor, dlmp) in enumerate(people)]
    d = share * sum(c.equilibrium_wh for c in candidates_)
    result = design(candidates_, d, budget, supplement_price=10**6)
    assert result.spent <= budget * (1 + 1e-6) + 1e-3
    assert sum(a.energy_wh for a in result.awards) + result.supplement_wh >= d * (1 - 1e-6) - 1e-3
    for c, a in zip(candidates_, result.awards):
        assert -1e-6 <= a.energy_wh <= max(c.max_wh, c.equilibrium_wh) * (1 + 1e-6) + 1e-3
        assert a.incentive >= c.floor * c.dlmp * (1 - 1e-6) - 1e-6


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 100_000), st.integers(1, 40_000), st.integers(1, 5_000),
                          st.integers(0, 1_000_000)), min_size=1, max_size=8),
       st.integers(0, 10**7), st.integers(0, 4), st.integers(1_000_000, 5_000_000), st.integers(1, 2_000_000))
def test_algorithm_1_settles_every_offer_within_its_threshold_and_budget(people, budget, max_raises, cap, step) -> None:
    policy = Policy(max_raises, cap, step, 0.25, 0.25)
    made = [Offer(i, 3, energy, dlmp, incentive, incentive) for i, (energy, dlmp, incentive, _) in enumerate(people)]
    acceptance = Acceptance(tuple(r for *_, r in people))
    talk = Negotiation(policy, {i: Weights(1.0, 1.0, 0.01) for i in range(len(made))}, made, budget)
    for _ in range(max_raises + 1):
        for offer in list(talk.open):
            talk.answer(offer, acceptance.accepts(offer))
        talk.next_round()
        assert talk.budget_left >= 0
    assert talk.done and sorted(o.offer.participant for o in talk.outcomes) == list(range(len(made)))
    spent_on_raises = sum(o.offer.escrow - made[o.offer.participant].escrow for o in talk.outcomes)
    assert spent_on_raises <= budget
    for o in talk.outcomes:
        assert o.offer.raises <= max_raises and o.offer.incentive * 1_000_000 <= o.offer.first_incentive * cap
        assert o.accepted == acceptance.accepts(o.offer)
