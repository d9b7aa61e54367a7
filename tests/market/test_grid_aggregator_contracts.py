"""002's hybrid market (main, P2P in ZONE mode, P2G), the double auction, and 003's aggregator
auction paid on metered delivery, on hand-computed numbers and against the reference."""

from __future__ import annotations

from ledger.transactions import CertifyMarket
from market import reference
from tests.market.helpers import FEE, NET, ContractChain, interval_time
from tests.market.test_p2p_contract import (CAP, CONSUMERS, CREDIT, DOUBLE, FIT, I0, OPERATOR, P_SER, PROSUMERS,
                                            TOU, UTILITY, ZONE, W, Market)

HOURLY = [15_000] * 24
HOURLY[18] = 20_000
PEAK = [1 if 17 <= h <= 21 else 0 for h in range(24)]
OFF_PEAK = [1 if h < 6 else 0 for h in range(24)]
A, B = NET.users[1], NET.users[2]
ANYONE = NET.users[12]  # a member with no order in the rounds below


def _grid(c: ContractChain) -> bytes:
    grid = c.deploy("grid", UTILITY)
    c.run(grid, UTILITY, "setup", 1_200_000, 950_000, HOURLY, PEAK, OFF_PEAK)
    return grid


def test_grid_prices_by_hour_and_bills_only_for_allowed_markets() -> None:
    c = ContractChain()
    grid = _grid(c)
    # 002 Algorithm 3: +20 % at peak, -5 % off-peak (the factors are configuration).
    assert [c.run(grid, A, "price", h) for h in (18, 3, 12)] == [24_000, 14_250, 15_000]
    stranger = c.block([c.call(grid, A, "bill", A.address, 0, 1, 1, 0, 0)])[0]
    assert stranger.status == 1 and "allowed market" in stranger.reason
    refused = c.block([c.call(grid, A, "allow", A.address)])[0]
    assert refused.status == 1 and "utility only" in refused.reason


def _hybrid(any_zone: int) -> tuple[Market, bytes, bytes]:
    """002's three contracts: main owns the P2P market (ZONE mode) and routes to the grid."""
    m = ContractChain()
    m.block([], interval_time(I0 - 3))
    grid = _grid(m)
    p2p = m.deploy("p2p_market", OPERATOR)
    main = m.deploy("main", OPERATOR)
    m.run(p2p, OPERATOR, "setup", ZONE, FIT, TOU, 800_000, P_SER, 1, 2, UTILITY.address, 1, grid, any_zone, main)
    m.run(main, OPERATOR, "setup", p2p, grid)
    m.run(grid, UTILITY, "allow", p2p)
    calls = [m.call(main, OPERATOR, "register", k.address, i % 3, 1 if k in PROSUMERS else 0)
             for i, k in enumerate(PROSUMERS + CONSUMERS)]
    calls += [m.call(p2p, k, "deposit", value=CREDIT) for k in PROSUMERS + CONSUMERS + (UTILITY,)]
    assert all(r.status == 0 for r in m.block(calls, interval_time(I0 - 1)))
    return m, main, p2p


def test_002_hybrid_market_matches_by_zone_at_the_lowest_price_and_routes_the_rest_to_the_grid() -> None:
    for any_zone in (0, 1):
        m, main, p2p = _hybrid(any_zone)
        offers = [(3_000, 12_000), (1_000, 9_000), (2_500, 15_000), (500, 11_000)]  # (Wh, price) of PROSUMERS[:4]
        demands = [2_000, 1_800, 3_500, 400]  # CONSUMERS[:4]
        zone = {k.address: i % 3 for i, k in enumerate(PROSUMERS + CONSUMERS)}
        calls = [m.call(main, k, "surplus", W, e, p, 1) for k, (e, p) in zip(PROSUMERS, offers)]
        calls += [m.call(main, k, "deficit", W, d, 1) for k, d in zip(CONSUMERS, demands)]
        assert all(r.status == 0 for r in m.block(calls, interval_time(I0, 100)))
        m.block([], interval_time(W, 10))  # the window closes at interval W
        result = m.run(main, OPERATOR, "clear", W, gas=9_000_000)
        price = reference.lowest_price([p for _, p in offers])
        expected = reference.zone_match(demands, [zone[k.address] for k in CONSUMERS[:4]],
                                        [e for e, _ in offers], [zone[k.address] for k in PROSUMERS[:4]],
                                        price, bool(any_zone))
        assert result[0] == price == 9_000
        trades = [m.run(p2p, OPERATOR, "trade", W, k) for k in range(result[2])]
        assert trades == [(PROSUMERS[i].address, CONSUMERS[j].address, e, pay) for i, j, e, pay in expected]
        bought = [sum(e for _, j, e, _ in expected if j == b) for b in range(4)]
        sold = [sum(e for i, _, e, _ in expected if i == s) for s in range(4)]
        # Interval W starts at 00:00 UTC (off-peak): the grid sells at 15,000 * 0.95 = 14,250.
        grid_price = 14_250
        for j, k in enumerate(CONSUMERS[:4]):
            residual = demands[j] - bought[j]
            spent = sum(pay + e * P_SER // 1000 for _, b, e, pay in expected if b == j) + residual * grid_price // 1000
            assert m.run(p2p, OPERATOR, "credit", k.address) == CREDIT - spent
            assert m.run(main, k, "bill", k.address) == (residual, residual * grid_price // 1000, 0, 0)
            assert m.run(p2p, OPERATOR, "committed", W, k.address) == (0, bought[j], 0, residual, 0)
        for i, k in enumerate(PROSUMERS[:4]):
            surplus = offers[i][0] - sold[i]  # sold back at the market price (002: CPrice = MPrice)
            assert m.run(main, k, "monthly_bill", k.address, interval_time(W) // 2_592_000_000) == (
                0, 0, surplus, surplus * price // 1000)
        assert result[5] == sum(demands) - sum(bought) and result[6] == sum(e for e, _ in offers) - sum(sold)
        if any_zone:
            assert result[5] == 0 or result[6] == 0  # with "any zone" P2P trades as much as it can


def test_double_auction_mechanism_equals_the_reference() -> None:
    m = Market(mechanism=DOUBLE)
    asks = [(2_000, 9_000), (1_000, 14_000), (3_000, 11_000), (2_500, 20_000)]
    bids = [(1_500, 21_000), (2_500, 12_000), (1_000, 10_000), (3_000, 15_000)]
    calls = [m.on(k, "post", W, 1, e, p, 1) for k, (e, p) in zip(PROSUMERS, asks)]
    calls += [m.on(k, "post", W, 0, e, p, 1) for k, (e, p) in zip(CONSUMERS, bids)]
    assert all(r.status == 0 for r in m.block(calls, interval_time(I0, 100)))
    result, _ = m.clear_all(W, time_ms=interval_time(W, 10))
    price, got_b, got_a = reference.double_auction([p for _, p in bids], [e for e, _ in bids],
                                                   [p for _, p in asks], [e for e, _ in asks])
    assert result[0] == price and result[1] == sum(got_b) == sum(got_a)
    trades = [m.view("trade", W, k) for k in range(result[2])]
    for j, k in enumerate(CONSUMERS[:4]):
        assert sum(t[2] for t in trades if t[1] == k.address) == got_b[j]
        spent = sum(t[3] + t[2] * P_SER // 1000 for t in trades if t[1] == k.address)
        assert m.credit(k) == CREDIT - spent
    for i, k in enumerate(PROSUMERS[:4]):
        assert sum(t[2] for t in trades if t[0] == k.address) == got_a[i]
    assert all(t[3] == t[2] * price // 1000 for t in trades)
    assert m.balance(m.address) == m.contract_holdings()


def _certify(c: ContractChain, contract: bytes) -> None:
    assert c.block([(NET.operator, CertifyMarket(contract, 1))])[0].status == 0


def _aggregator() -> tuple[ContractChain, bytes]:
    """A chain at interval I0 with the aggregator contract deployed by the utility."""
    c = ContractChain()
    c.block([], interval_time(I0))
    return c, c.deploy("aggregator", UTILITY)


def test_aggregator_pays_only_for_metered_delivery() -> None:
    c, agg = _aggregator()
    p = NET.users[1:5]
    delivery = I0 + 2
    _certify(c, agg)
    c.run(agg, UTILITY, "open_round", 1, 1, 5_000, 15_000, delivery, 1, value=75_000)
    offers = [(2_000, 14_000), (1_500, 9_000), (4_000, 16_000), (3_000, 12_000)]
    # Each offer deposits its own value as collateral for its delivery.
    receipts = c.block([c.call(agg, k, "answer", 1, e, price, value=e * price // 1000)
                        for k, (e, price) in zip(p, offers)])
    assert all(r.status == 0 for r in receipts)
    agg_before = c.balance(UTILITY.address)
    refunded = c.balance(p[2].address)
    volume, total, taken = c.run(agg, UTILITY, "close", 1)
    # Below 15,000 in increasing price: 1,500 @ 9,000; 3,000 @ 12,000; 500 of 2,000 @ 14,000.
    assert taken == ((1, 1_500, 13_500), (3, 3_000, 36_000), (0, 500, 7_000))
    assert (volume, total) == (5_000, 56_500)
    assert c.balance(UTILITY.address) - agg_before == 75_000 - 56_500 - FEE
    assert c.balance(p[2].address) - refunded == 64_000  # not taken: its collateral returns
    early = c.block([c.call(agg, ANYONE, "settle", 1)], interval_time(delivery, 10))[0]
    assert early.status == 1 and "not ended" in early.reason
    # Metered delivery in the interval: p[1] exported 1,000 of its 1,500; p[3] all 3,000 (and
    # more); p[0]'s meter never reports.
    c.readings(delivery, {2: (1_400, 400), 4: (3_500, 0)}, interval_time(delivery + 1, 1))
    waiting = c.block([c.call(agg, ANYONE, "settle", 1)])[0]
    assert waiting.status == 1 and "waiting for meter readings" in waiting.reason
    before = {k.address: c.balance(k.address) for k in p}
    agg_before = c.balance(UTILITY.address)
    c.block([], interval_time(delivery + 3, 1))
    assert c.run(agg, ANYONE, "settle", 1) == (4_000, 1_000 * 9_000 // 1000 + 36_000)
    # Paid for what it delivered, and that part of its collateral back.
    assert c.balance(p[1].address) - before[p[1].address] == 2 * 9_000
    assert c.balance(p[3].address) - before[p[3].address] == 2 * 36_000
    assert c.balance(p[0].address) == before[p[0].address]  # nothing proved: not paid, collateral forfeited
    # The aggregator: its unspent 56,500 - 45,000, and the collateral of 500 + 500 undelivered Wh.
    assert c.balance(UTILITY.address) - agg_before == 11_500 + 7_000 + 4_500
    assert c.balance(agg) == 0
    assert c.run(agg, ANYONE, "accepted", 1, 1) == (p[1].address, 1_500, 9_000, 13_500, 1_000, 9_000)
    again = c.block([c.call(agg, ANYONE, "settle", 1)])[0]
    assert again.status == 1 and "already settled" in again.reason


def test_aggregator_offer_takes_the_highest_bids_and_charges_metered_consumption() -> None:
    c, agg = _aggregator()
    p = NET.users[1:4]
    delivery = I0 + 2
    _certify(c, agg)
    c.run(agg, UTILITY, "open_round", 2, 0, 4_000, 11_000, delivery, 1)
    bids = [(2_000, 14_000), (3_000, 16_000), (1_000, 10_000)]
    before = {k.address: c.balance(k.address) for k in p}
    c.block([c.call(agg, k, "answer", 2, e, price, value=e * price // 1000) for k, (e, price) in zip(p, bids)])
    volume, total, taken = c.run(agg, UTILITY, "close", 2)
    # Above 11,000, highest first: 3,000 @ 16,000 = 48,000; then 1,000 of 2,000 @ 14,000 = 14,000.
    assert taken == ((1, 3_000, 48_000), (0, 1_000, 14_000)) and (volume, total) == (4_000, 62_000)
    assert c.balance(agg) == 62_000  # the accepted bids' deposits, held until delivery
    late = c.block([c.call(agg, ANYONE, "answer", 2, 10, 20_000, value=200)])[0]
    assert late.status == 1 and "round closed" in late.reason
    # p[1] consumed 2,000 net of its 3,000; p[0] consumed 1,500 net (more than its 1,000).
    c.readings(delivery, {1: (0, 1_500), 2: (500, 2_500)}, interval_time(delivery + 1, 1))
    agg_before = c.balance(UTILITY.address)
    assert c.run(agg, ANYONE, "settle", 2) == (3_000, 14_000 + 32_000)
    assert c.balance(UTILITY.address) - agg_before == 46_000
    for i, paid in ((0, 14_000), (1, 32_000), (2, 0)):
        assert c.balance(p[i].address) - before[p[i].address] == -paid - FEE
    assert c.balance(agg) == 0


def test_aggregator_round_ids_are_integers_so_rounds_cannot_share_orders() -> None:
    """A str id "1:00" made round "1:00"'s orders match round 1's key prefix: closing both
    refunded one deposit twice, taking another member's money."""
    c = ContractChain()
    agg = c.deploy("aggregator", UTILITY)
    attacker = NET.users[5]
    receipt = c.block([c.call(agg, attacker, "open_round", "1:00", 0, 5_000, 15_000, 50, 1)])[0]
    assert receipt.status == 1
    far = c.block([c.call(agg, UTILITY, "open_round", 9, 1, 5_000, 15_000, 10**6, 1, value=75_000)])[0]
    assert far.status == 1 and "delivery must be in one of the next" in far.reason
    c.run(agg, UTILITY, "open_round", 1, 1, 5_000, 15_000, 50, 1, value=75_000)
    for args in ((1, 2**31, 9_000), (1, 1_000, 2**31)):  # would make close() fail and lock the deposit
        refused = c.block([c.call(agg, attacker, "answer", *args)])[0]
        assert refused.status == 1 and "bounds" in refused.reason, refused.reason
    volume, total, taken = c.run(agg, UTILITY, "close", 1)
    assert (volume, total, taken) == (0, 0, ())


def test_main_contract_refuses_strangers_and_direct_routing() -> None:
    m, main, p2p = _hybrid(0)
    stranger = NET.validators[0]
    m.nonces[stranger.address] = 0
    refused = m.block([m.call(main, stranger, "surplus", W, 2_000, 10_000, 1)], interval_time(I0, 100))[0]
    assert refused.status == 1 and "unknown participant" in refused.reason
    direct = m.block([m.call(p2p, PROSUMERS[0], "post_for", PROSUMERS[0].address, W, 1, 10, 10_000, 2)])[0]
    assert direct.status == 1 and "operator only" in direct.reason  # only the main contract routes
    assert m.run(main, OPERATOR, "market_time") == I0


def test_a_full_zone_window_clears_in_one_transaction() -> None:
    """A window filled to the per-member limit by every member must still clear within one
    transaction's gas, or a member could lock everyone's credit by filling it."""
    m, main, p2p = _hybrid(1)
    rng = __import__("random").Random(3)
    calls = []
    for k in PROSUMERS + CONSUMERS:
        for n in range(16):
            if k in PROSUMERS:
                e = rng.randint(1, 16_000_000)
                calls.append(m.call(main, k, "surplus", W, e, rng.randint(FIT + 1, CAP - 1), n, value=e * TOU // 1000))
            else:
                e = rng.randint(1, 16_000_000)
                calls.append(m.call(main, k, "deficit", W, e, n, value=e * (TOU + P_SER) // 1000))
    receipts = m.block(calls, interval_time(I0, 100))
    assert all(r.status == 0 for r in receipts), [r.reason for r in receipts if r.status][:3]
    extra = m.block([m.call(main, PROSUMERS[0], "surplus", W, 10, 9_000, 99)])[0]
    assert extra.status == 1 and "at most 16 orders per member" in extra.reason
    m.block([], interval_time(W, 10))
    receipt = m.block([m.call(main, OPERATOR, "clear", W, gas=10_000_000)])[0]
    assert receipt.status == 0, receipt.reason
    assert receipt.gas_used < 8_000_000  # headroom below the chain's 10,000,000 per transaction


def test_only_the_deployer_sets_a_contract_up() -> None:
    c = ContractChain()
    p2p = c.deploy("p2p_market", OPERATOR)
    grid = c.deploy("grid", UTILITY)
    thief = NET.users[5]
    taken = c.block([c.call(p2p, thief, "setup", 0, FIT, TOU, 800_000, P_SER, 1, 2, thief.address, 1, b"", 0,
                            thief.address),
                     c.call(grid, thief, "setup", 1_200_000, 950_000, HOURLY, PEAK, OFF_PEAK)])
    assert all(r.status == 1 and "only the deployer" in r.reason for r in taken)


def test_one_delivery_is_paid_once_across_rounds() -> None:
    """Two rounds for the same delivery interval both read the same meter: the chain's claims
    make the second pay only for export the first did not already settle."""
    c, agg = _aggregator()
    _certify(c, agg)
    seller = NET.users[1]
    delivery = I0 + 2
    for round_id in (1, 2):
        c.run(agg, UTILITY, "open_round", round_id, 1, 1_000, 15_000, delivery, 1, value=15_000)
        c.run(agg, seller, "answer", round_id, 1_000, 14_000, value=14_000)
        c.run(agg, UTILITY, "close", round_id)
    c.readings(delivery, {1: (1_000, 0)}, interval_time(delivery + 1, 1))  # exported 1,000 Wh once
    before = c.balance(seller.address)
    assert c.run(agg, ANYONE, "settle", 1) == (1_000, 14_000)
    assert c.run(agg, ANYONE, "settle", 2) == (0, 0)
    assert c.balance(seller.address) - before == 2 * 14_000  # one payment, one collateral back
    assert c.balance(agg) == 0


def test_a_round_never_closed_is_cancelled_and_every_deposit_returns() -> None:
    c, agg = _aggregator()
    bidders = NET.users[1:3]
    delivery = I0 + 2
    c.run(agg, UTILITY, "open_round", 7, 0, 4_000, 11_000, delivery, 500)
    small = c.block([c.call(agg, bidders[0], "answer", 7, 100, 14_000, value=1_400)])[0]
    assert small.status == 1 and "minimum" in small.reason
    for k in bidders:
        c.run(agg, k, "answer", 7, 2_000, 14_000, value=28_000)
    spam = [c.call(agg, bidders[0], "answer", 7, 500, 12_000, value=6_000) for _ in range(4)]
    statuses = [r.status for r in c.block(spam)]
    assert statuses == [0, 0, 0, 1]  # four answers per answerer
    early = c.block([c.call(agg, ANYONE, "cancel_round", 7)])[0]
    assert early.status == 1 and "may still close" in early.reason
    c.block([], interval_time(delivery, 1))
    late = c.block([c.call(agg, bidders[1], "answer", 7, 1_000, 14_000, value=14_000)])[0]
    assert late.status == 1 and "answers close" in late.reason
    before = {k.address: c.balance(k.address) for k in bidders}
    c.run(agg, ANYONE, "cancel_round", 7)
    assert c.balance(bidders[0].address) - before[bidders[0].address] == 28_000 + 3 * 6_000
    assert c.balance(bidders[1].address) - before[bidders[1].address] == 28_000
    assert c.balance(agg) == 0


def test_a_bidder_whose_meter_is_silent_pays_in_full() -> None:
    c, agg = _aggregator()
    _certify(c, agg)
    bidder = NET.users[1]
    delivery = I0 + 2
    c.run(agg, UTILITY, "open_round", 3, 0, 2_000, 11_000, delivery, 1)
    c.run(agg, bidder, "answer", 3, 2_000, 14_000, value=28_000)
    c.run(agg, UTILITY, "close", 3)
    c.block([], interval_time(delivery + 3, 1))  # its meter never reports; the grace period ends
    assert c.run(agg, ANYONE, "settle", 3) == (2_000, 28_000)
    assert c.balance(agg) == 0


def test_settling_against_meters_needs_a_certified_aggregator() -> None:
    c, agg = _aggregator()
    c.run(agg, UTILITY, "open_round", 4, 1, 1_000, 15_000, I0 + 2, 1, value=15_000)
    c.run(agg, NET.users[1], "answer", 4, 1_000, 14_000, value=14_000)
    c.run(agg, UTILITY, "close", 4)
    c.block([], interval_time(I0 + 3, 1))
    refused = c.block([c.call(agg, ANYONE, "settle", 4)])[0]
    assert refused.status == 1 and "certify" in refused.reason


def test_a_free_offer_cannot_capture_a_round() -> None:
    """An answer needs a certified meter, and an offer's collateral is forfeited for what it
    does not deliver: offering the whole quantity at price 1 and delivering nothing costs it."""
    c, agg = _aggregator()
    _certify(c, agg)
    delivery = I0 + 2
    c.run(agg, UTILITY, "open_round", 5, 1, 1_000, 15_000, delivery, 1, value=15_000)
    stranger = NET.validators[0]  # funded, but no certified meter
    c.nonces[stranger.address] = 0
    refused = c.block([c.call(agg, stranger, "answer", 5, 1_000, 1, value=1)])[0]
    assert refused.status == 1 and "certified meter" in refused.reason
    griefer = NET.users[3]
    c.run(agg, griefer, "answer", 5, 1_000, 1_000, value=1_000)
    assert c.run(agg, UTILITY, "close", 5)[2] == ((0, 1_000, 1_000),)
    c.block([], interval_time(delivery + 3, 1))  # it delivers nothing
    before = c.balance(griefer.address), c.balance(UTILITY.address)
    assert c.run(agg, ANYONE, "settle", 5) == (0, 0)
    assert c.balance(griefer.address) == before[0]
    assert c.balance(UTILITY.address) - before[1] == 1_000 + 1_000  # its unspent payment and the collateral


def test_the_grid_and_main_contracts_refuse_value_they_could_never_pay_out() -> None:
    """Attack (money locked): the grid contract and the main contract took value with every call,
    and no function of theirs moves money (main passes on only what `surplus` and `deficit`
    carry), so whatever a member sent with a view, a clear or a bill stayed in the contract for
    good: its balance differed from what it owes (nothing). Now every such call refuses value."""
    m, main, p2p = _hybrid(0)
    grid = m.run(main, OPERATOR, "contracts")[1]
    money = m.total_money()
    calls = [(grid, "price", (3,)), (grid, "bill_of", (A.address,)), (grid, "monthly_bill", (A.address, 0)),
             (grid, "allow", (A.address,)), (grid, "bill", (A.address, 0, 1, 1, 0, 0)),
             (main, "market_time", ()), (main, "clear", (W,)), (main, "trading_result", (W,)),
             (main, "bill", (A.address,)), (main, "monthly_bill", (A.address, 0)), (main, "contracts", ()),
             (main, "register", (ANYONE.address, 0, 0))]
    for contract, function, args in calls:
        sender = UTILITY if function == "allow" else OPERATOR if function == "register" else A
        receipt = m.block([m.call(contract, sender, function, *args, value=1_000)])[0]
        assert receipt.status == 1 and "value" in receipt.reason, (function, receipt.reason)
    assert m.balance(grid) == 0 and m.balance(main) == 0
    assert m.total_money() == money  # fees move to the validators, nothing is minted or burned
    # The calls that carry money still do: a deficit's value goes on to the P2P market.
    before = m.balance(p2p)
    m.run(main, A, "deficit", W, 1_000, 7, value=50_000)
    assert m.balance(p2p) == before + 50_000 and m.balance(main) == 0


def test_the_aggregator_refuses_value_where_it_takes_none() -> None:
    """Attack (money locked): only `open_round` and `answer` account for the value sent with
    them; `close`, `cancel_round`, `settle` and the views took value too and kept it in the
    contract, paid out to no one. Now they refuse it."""
    c, agg = _aggregator()
    _certify(c, agg)
    c.run(agg, UTILITY, "open_round", 1, 1, 5_000, 15_000, I0 + 2, 1, value=75_000)
    money = c.total_money()
    for sender, function, args in ((UTILITY, "close", (1,)), (ANYONE, "cancel_round", (1,)), (ANYONE, "settle", (1,)),
                                   (ANYONE, "result", (1,)), (ANYONE, "accepted", (1, 0))):
        receipt = c.block([c.call(agg, sender, function, *args, value=1_000)])[0]
        assert receipt.status == 1 and "value" in receipt.reason, (function, receipt.reason)
    assert c.balance(agg) == 75_000 and c.total_money() == money
