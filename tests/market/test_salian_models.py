"""001's Table 2, "addition of nodes" (easy for the auction, complex for scheduling), as the two
contracts behave: a household nobody named when the contracts were set up joins an auction round
already open, while S1 refuses it until a new schedule names it."""

from __future__ import annotations

from tests.market.helpers import NET, interval_time
from tests.market.test_admm_scheduler import MEMBERS, Scheduler
from tests.market.test_coalition_auction import D, I0, Auction, bid

NEWCOMER = NET.users[13]  # a household with a certified meter that neither test's set-up names


def test_a_newcomer_bids_in_an_open_auction_round_without_any_set_up() -> None:
    a = Auction()  # set up with no list of members: any certified household may take part
    bids = [bid(1_000, 20_000), bid(1_000, 18_000)]
    a.at(I0, a.pledges([1_500]) + a.commits(bids[:1]))
    # The round is open and under way; the newcomer commits to it like any member.
    sealed = bids[1].sealed(NEWCOMER, D, a.address)
    a.at(I0 + 1, [a.on(NEWCOMER, "commit", D, sealed, value=bids[1].deposit)])
    a.at(D - 2, a.reveals(bids[:1]) + [a.on(NEWCOMER, "reveal", D, 1_000, 18_000, bids[1].salt)])
    a.block([], interval_time(D - 1, 1))
    assert a.anyone("allocate", D)[:2] == [1_500, 2]  # the pool went to both bids, the newcomer's too
    assert a.view("round_info", D)[2:4] == [1, 2]


def test_a_newcomer_is_refused_by_a_running_schedule_and_joins_only_a_new_one() -> None:
    assert NEWCOMER not in MEMBERS
    s = Scheduler()
    s.round({k: [0, 0, 0] for k in MEMBERS}, interval_time(I0, 10))
    receipt = s.block([s.on(NEWCOMER, "submit", s.view("current_round")[0], [100, 0, -100])], interval_time(I0, 20))[0]
    assert receipt.status == 1 and "not a member of this schedule" in receipt.reason
    # Joining means a new S1 whose set-up names it: the community's next day-ahead schedule.
    joined = Scheduler(members=MEMBERS + (NEWCOMER,))
    joined.round({**{k: [0, 0, 0] for k in MEMBERS}, NEWCOMER: [100, 0, -100]}, interval_time(I0, 10))
    assert list(joined.view("schedule", NEWCOMER.address)) == [100, 0, -100]
