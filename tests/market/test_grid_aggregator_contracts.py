"""The P2G / real-time settlement contract and the aggregator auction contract, on hand-computed
numbers."""

from __future__ import annotations

from tests.market.helpers import FEE, NET, ContractChain

UTILITY, A, B = NET.users[16], NET.users[1], NET.users[2]
HOURLY = [15_000] * 24
HOURLY[18] = 20_000
PEAK = [1 if 17 <= h <= 21 else 0 for h in range(24)]
OFF_PEAK = [1 if h < 6 else 0 for h in range(24)]


def _grid(c: ContractChain) -> bytes:
    grid = c.deploy("grid", UTILITY)
    c.run(grid, UTILITY, "setup", UTILITY.address, 7_000, 1_200_000, 950_000, HOURLY, PEAK, OFF_PEAK)
    return grid


def test_grid_prices_settlement_bills_and_funds() -> None:
    c = ContractChain()
    grid = _grid(c)
    # 002 Algorithm 3: +20 % at peak, -5 % off-peak (the factors are configuration).
    assert [c.run(grid, A, "price", h) for h in (18, 3, 12)] == [24_000, 14_250, 15_000]
    c.run(grid, A, "deposit", value=100_000)
    c.run(grid, B, "deposit", value=100_000)
    assert c.run(grid, UTILITY, "fund", value=50_000) == 50_000
    utility_before = c.balance(UTILITY.address)
    fees_before = c.fees[UTILITY.address]

    # Hour 18: A buys 2,500 Wh residual at 24,000 = 60,000; B sells 1,000 Wh back at 7,000 = 7,000.
    assert c.run(grid, UTILITY, "settle_hour", 18, [A.address, B.address], [2_500, 0], [0, 1_000]) == (60_000, 7_000)
    # Real time (000 II.C): A exported 2,200 of a promised 3,000 -> buys 800 at TOU 30,000 = 24,000;
    # B imported 1,500 of a promised 2,000 -> sells 500 at FIT 5,000 = 2,500.
    assert c.run(grid, UTILITY, "settle_realtime", [A.address, B.address], [3_000, -2_000], [2_200, -1_500],
                 30_000, 5_000) == (-24_000, 2_500)
    assert c.run(grid, A, "credit", A.address) == 100_000 - 60_000 - 24_000
    assert c.run(grid, B, "credit", B.address) == 100_000 + 7_000 + 2_500
    assert c.run(grid, A, "bill", A.address) == (2_500, 60_000, 0, 0)
    month = c.time_ms // 2_592_000_000
    assert c.run(grid, B, "monthly_bill", B.address, month) == (0, 0, 1_000, 7_000)
    # The utility received its net earnings: (60,000 - 7,000) + (24,000 - 2,500).
    fees = c.fees[UTILITY.address] - fees_before
    assert c.balance(UTILITY.address) - utility_before == 53_000 + 21_500 - fees
    # The contract holds exactly the credits plus the utility's funds.
    assert c.balance(grid) == 16_000 + 109_500 + 50_000
    before = c.balance(A.address)
    c.run(grid, A, "withdraw", 16_000)
    assert c.balance(A.address) == before + 16_000 - FEE
    assert c.run(grid, A, "credit", A.address) == 0


def test_grid_refuses_strangers_and_overdrafts() -> None:
    c = ContractChain()
    grid = _grid(c)
    c.run(grid, A, "deposit", value=1_000)
    stranger, overdraft = c.block([
        c.call(grid, A, "settle_hour", 18, [A.address], [10], [0]),
        c.call(grid, UTILITY, "settle_hour", 18, [A.address], [100_000], [0]),
    ])
    assert stranger.status == 1 and "utility only" in stranger.reason
    assert overdraft.status == 1 and "credit does not cover" in overdraft.reason
    assert c.run(grid, A, "credit", A.address) == 1_000


def test_aggregator_bid_takes_the_cheapest_offers() -> None:
    c = ContractChain()
    agg = c.deploy("aggregator", UTILITY)
    p = NET.users[1:5]
    c.run(agg, UTILITY, "open_round", 1, 1, 5_000, 15_000, value=75_000)
    offers = [(2_000, 14_000), (1_500, 9_000), (4_000, 16_000), (3_000, 12_000)]
    before = {k.address: c.balance(k.address) for k in p}
    receipts = c.block([c.call(agg, k, "answer", 1, e, price) for k, (e, price) in zip(p, offers)])
    assert all(r.status == 0 for r in receipts)
    agg_before = c.balance(UTILITY.address)
    volume, total, taken = c.run(agg, UTILITY, "close", 1)
    # Below 15,000 in increasing price: 1,500 @ 9,000; 3,000 @ 12,000; 500 of 2,000 @ 14,000.
    assert taken == ((1, 1_500, 13_500), (3, 3_000, 36_000), (0, 500, 7_000))
    assert (volume, total) == (5_000, 56_500)
    for i, pay in ((0, 7_000), (1, 13_500), (2, 0), (3, 36_000)):
        assert c.balance(p[i].address) - before[p[i].address] == pay - FEE
    assert c.balance(UTILITY.address) - agg_before == 75_000 - 56_500 - FEE  # the refund
    assert c.balance(agg) == 0


def test_aggregator_round_ids_are_integers_so_rounds_cannot_share_orders() -> None:
    """A str id "1:00" made round "1:00"'s orders match round 1's key prefix: closing both
    refunded one deposit twice, taking another member's money."""
    c = ContractChain()
    agg = c.deploy("aggregator", UTILITY)
    attacker = NET.users[5]
    receipt = c.block([c.call(agg, attacker, "open_round", "1:00", 0, 5_000, 15_000)])[0]
    assert receipt.status == 1
    c.run(agg, UTILITY, "open_round", 1, 1, 5_000, 15_000, value=75_000)
    for args in ((1, 2**31, 9_000), (1, 1_000, 2**31)):  # would make close() fail and lock the deposit
        refused = c.block([c.call(agg, attacker, "answer", *args)])[0]
        assert refused.status == 1 and "bounds" in refused.reason, refused.reason
    volume, total, taken = c.run(agg, UTILITY, "close", 1)
    assert (volume, total, taken) == (0, 0, ())


def test_aggregator_offer_takes_the_highest_bids() -> None:
    c = ContractChain()
    agg = c.deploy("aggregator", UTILITY)
    p = NET.users[1:4]
    c.run(agg, UTILITY, "open_round", 2, 0, 4_000, 11_000)
    bids = [(2_000, 14_000), (3_000, 16_000), (1_000, 10_000)]
    before = {k.address: c.balance(k.address) for k in p}
    c.block([c.call(agg, k, "answer", 2, e, price, value=e * price // 1000) for k, (e, price) in zip(p, bids)])
    agg_before = c.balance(UTILITY.address)
    volume, total, taken = c.run(agg, UTILITY, "close", 2)
    # Above 11,000, highest first: 3,000 @ 16,000 = 48,000; then 1,000 of 2,000 @ 14,000 = 14,000.
    assert taken == ((1, 3_000, 48_000), (0, 1_000, 14_000)) and (volume, total) == (4_000, 62_000)
    assert c.balance(UTILITY.address) - agg_before == 62_000 - FEE
    for i, paid in ((0, 14_000), (1, 48_000), (2, 0)):
        assert c.balance(p[i].address) - before[p[i].address] == -paid - FEE  # deposits refunded
    assert c.balance(agg) == 0
    late = c.block([c.call(agg, p[0], "answer", 2, 10, 20_000, value=200)])[0]
    assert late.status == 1 and "round closed" in late.reason


def test_main_contract_registers_and_routes_to_the_p2p_market() -> None:
    c = ContractChain()
    operator, seller, buyer, stranger = NET.users[0], NET.users[1], NET.users[2], NET.users[3]
    p2p = c.deploy("p2p_market", operator)
    grid = c.deploy("grid", UTILITY)
    main = c.deploy("main", operator)
    assert c.run(main, operator, "setup", p2p, grid, 5_000, 30_000, 800_000, 60_000, 1, 2) == 24_000
    c.run(main, operator, "register", seller.address, 0, 1)
    c.run(main, operator, "register", buyer.address, 0, 0)
    now = c.run(main, buyer, "market_time")
    window = now + 1
    before = c.balance(buyer.address), c.balance(seller.address)
    receipts = c.block([c.call(main, seller, "surplus", window, 2_000, 10_000, 1),
                        c.call(main, buyer, "deficit", window, 1_500, 1, value=1_500 * 24_000 // 1000),
                        c.call(main, stranger, "surplus", window, 2_000, 10_000, 1)])
    assert [r.status for r in receipts] == [0, 0, 1] and "unknown participant" in receipts[2].reason
    direct = c.block([c.call(p2p, stranger, "post_for", stranger.address, window, 1, 10, 10_000, 2)])[0]
    assert direct.status == 1 and "operator only" in direct.reason  # only the main contract routes
    c.block([], time_ms=(window + 1) * 60_000)  # the window closes
    price, volume, trades, paid = c.run(main, buyer, "clear", window)
    # One offer at 10,000 covers the 1,500 Wh demand: p^c = 10,000; 1,500 Wh * 10,000 / 1,000 = 15,000.
    assert (price, volume, trades, paid) == (10_000, 1_500, 1, 15_000)
    assert c.balance(buyer.address) - before[0] == -15_000 - 2 * FEE  # the deficit request and the clear
    assert c.balance(seller.address) - before[1] == 15_000 - FEE
    assert c.balance(p2p) == 0  # every deposit paid out or refunded
