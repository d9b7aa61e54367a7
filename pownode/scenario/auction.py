"""001's auction-based trading (Salian et al., Section IV.A) as a scenario system: one round of
`coalition_auction` per scenario interval, through signed transactions only.

Scenario interval s is delivered in chain interval D = s + LEAD: a round's pledges and
commitments are taken up to D - 3, its reveals in D - 2, it is allocated in D - 1 and settled in
D + 1 on the readings of D, so rounds run as a pipeline. Chain interval 0 deploys the contract,
sets it up (the utility receives forfeits) and has the chain's operator certify it. In chain
interval c, one phase each (see `drivers`):

1. every member's meter signs its reading of chain interval c - 1 (a delivery interval);
2. the market's operator settles round c - 1 and allocates round c + 1 (anyone may; it is one
   sender, so both calls are one phase);
3. the buyers of round c + 2 reveal their bids;
4. the prosumers with a forecast surplus for round c + 3 pledge it, and the members with a
   forecast deficit commit to sealed bids (`market.agents.auction`); a `no_show` fraction of
   bidders, drawn from the seed, never reveal and forfeit their deposits.

Settings (`[auction]`): reserve and cap (a revealed price's range; FIT and TOU by default),
collateral_rate (per kWh pledged; FIT), min_deposit, min_wh (smallest pledge), deposit_step
(bids' deposits are rounded up to it) and no_show. The KPIs are read from the contract's records
in the final state, so a cluster and one process report the same: energy pledged, allocated
(`traded_wh`) and delivered as metered (`delivered_wh`), `error_wh` = allocated - delivered, the
average price buyers paid per delivered kWh, buyers' savings against TOU and sellers' revenue
against FIT, forfeits, `transactions`, and the chain intervals from a round's opening to its
allocation and to its settlement (001's Table 2: the auction's idle time).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ledger.genesis import Genesis
from ledger.keys import PrivateKey
from ledger.state import State
from ledger.transactions import CertifyMarket, ContractDeploy, MeterReading, Transaction
from market.agents.auction import AuctionTrader, SealedBid, auction_secret
from market.contracts import source
from pownode.scenario.community import Community, Member
from pownode.scenario.kpis import market_state_root
from pownode.scenario.phases import GAS, Phases
from pownode.scenario.spec import ScenarioError
from pownode.scenario.systems import Driver, Progress
from pownode.toml_tables import Fields
from vm.machine import contract_address, read_storage, scan_storage

LEAD = 3  # chain interval D = s + LEAD delivers scenario interval s: commitments close at D - 3
CONTRACT = "coalition_auction"
MAX_SLOTS = 64  # coalition_auction's MAX_SELLERS and MAX_BIDS


@dataclass(frozen=True)
class AuctionSettings:
    reserve: int
    cap: int
    collateral_rate: int
    min_deposit: int
    min_wh: int
    deposit_step: int
    no_show: float

    @classmethod
    def read(cls, community: Community) -> "AuctionSettings":
        s = community.scenario
        f = Fields(s.settings, f"{s.name}: auction", ScenarioError)
        reserve = f.number("reserve", 1, 2**31 - 1, s.market.fit, integer=True)
        found = cls(reserve, f.number("cap", reserve, 2**31 - 1, s.market.tou, integer=True),
                    f.number("collateral_rate", 0, 2**31 - 1, s.market.fit, integer=True),
                    f.number("min_deposit", 1, 10**12, 10_000, integer=True),
                    f.number("min_wh", 1, 2**24 - 1, 100, integer=True),
                    f.number("deposit_step", 1, 10**12, 50_000, integer=True), f.number("no_show", 0, 1, 0.0))
        f.done()
        if found.min_wh * found.collateral_rate // 1000 < 1:  # the contract's setup refuses it too
            raise ScenarioError(f"{s.name}: auction: min_wh * collateral_rate must be at least 1000 "
                                f"(the smallest pledge must lock collateral), got {found.min_wh} * {found.collateral_rate}")
        return found


@dataclass(frozen=True)
class RoundOutcome:
    """One round as the contract recorded it (milli-cents, Wh, chain intervals)."""

    interval: int  # scenario interval delivered
    sellers: int
    bids: int
    revealed: int
    pledged_wh: int
    allocated_wh: int
    delivered_wh: int
    proceeds_mc: int  # what buyers paid, split among the sellers
    served_at_tou_mc: int  # what the served energy would have cost at the utility's TOU
    delivered_at_fit_mc: int  # what the delivered energy would have earned at FIT
    forfeited_deposits_mc: int  # of bidders who never revealed
    forfeited_collateral_mc: int  # of sellers, for allocated Wh they did not deliver
    intervals_to_allocation: int
    intervals_to_settlement: int


@dataclass
class AuctionOutcome:
    scenario: str
    rounds: list[RoundOutcome]
    transactions: int
    blocks: int
    fit: int
    tou: int
    state_root: bytes
    times: list[str]  # each round's delivery, local HH:MM
    seconds: float = 0.0
    mode: str = "local"
    totals: dict = field(init=False)  # the KPIs, computed from the rounds

    def __post_init__(self) -> None:
        held = [r for r in self.rounds if r.sellers or r.bids]

        def total(name: str) -> int:
            return sum(getattr(r, name) for r in held)

        def mean(name: str) -> float | None:
            return round(sum(getattr(r, name) for r in held) / len(held), 2) if held else None

        delivered, proceeds = total("delivered_wh"), total("proceeds_mc")
        tou, fit = total("served_at_tou_mc"), total("delivered_at_fit_mc")
        self.totals = {
            "rounds": len(held), "pledged_wh": total("pledged_wh"), "traded_wh": total("allocated_wh"),
            "delivered_wh": delivered, "error_wh": total("allocated_wh") - delivered,
            "average_price": round(proceeds * 1000 / delivered, 1) if delivered else None,
            "buyers_paid_mc": proceeds, "buyers_at_tou_mc": tou,
            "buyers_savings_pct": round(100 * (tou - proceeds) / tou, 2) if tou else None,
            "sellers_revenue_mc": proceeds - total("forfeited_collateral_mc"), "sellers_at_fit_mc": fit,
            "sellers_gain_pct": round(100 * (proceeds - total("forfeited_collateral_mc") - fit) / fit, 2) if fit
            else None,
            "forfeited_deposits_mc": total("forfeited_deposits_mc"),
            "forfeited_collateral_mc": total("forfeited_collateral_mc"),
            "transactions": self.transactions, "blocks": self.blocks,
            "intervals_to_allocation": mean("intervals_to_allocation"),
            "intervals_to_settlement": mean("intervals_to_settlement"),
        }

    def rows(self) -> list[tuple[str, str]]:
        t = self.totals
        return [(name, "-" if t[name] is None else f"{t[name]:,}" if isinstance(t[name], int) else str(t[name]))
                for name in t]

    def to_json(self) -> dict:
        return {"scenario": self.scenario, "system": "auction", "mode": self.mode, "seconds": self.seconds,
                "state_root": self.state_root.hex(), **self.totals, "fit": self.fit, "tou": self.tou,
                "per_round": [asdict(r) for r in self.rounds]}

    def draw(self, out: Path) -> list[Path]:
        """auction-rounds.png: Wh pledged, allocated and delivered, and the average price paid,
        per round."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        out.mkdir(parents=True, exist_ok=True)
        x = [r.interval for r in self.rounds]
        fig, (energy, price) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
        for offset, name, colour in ((-0.27, "pledged_wh", "tab:green"), (0.0, "allocated_wh", "tab:blue"),
                                     (0.27, "delivered_wh", "tab:orange")):
            energy.bar([k + offset for k in x], [getattr(r, name) / 1000 for r in self.rounds], width=0.27,
                       label=name.removesuffix("_wh"), color=colour)
        energy.set_ylabel("kWh")
        energy.legend()
        energy.set_title(f"{self.scenario}: coalition auction rounds (001, IV.A)")
        prices = [r.proceeds_mc / r.delivered_wh if r.delivered_wh else float("nan") for r in self.rounds]
        price.plot(x, prices, "o-", label="average paid", color="tab:purple")
        price.axhline(self.tou / 1000, ls="--", color="tab:red", label="TOU")
        price.axhline(self.fit / 1000, ls="--", color="tab:green", label="FIT")
        price.set_ylabel("cents per kWh")
        step = max(1, len(x) // 12)
        price.set_xticks(x[::step], self.times[::step])
        price.set_xlabel("delivery (local time)")
        price.legend()
        path = out / "auction-rounds.png"
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return [path]


class AuctionRunner(Phases):
    """Signs and submits the auction's phases."""

    def __init__(self, community: Community, genesis: Genesis, driver: Driver, progress: Progress) -> None:
        self.settings = AuctionSettings.read(community)  # first: a typo is an error before anything runs
        super().__init__(genesis, driver)
        self.community = community
        self.progress = progress
        self.auction = contract_address(community.deployer.address, hashlib.sha256(source(CONTRACT).encode()).digest())
        market = community.scenario.market
        self.traders = [AuctionTrader(m.household, m.group.bid_markup) for m in community.members]
        self.fit, self.tou = market.fit, market.tou
        self.opened: set[int] = set()  # delivery intervals of rounds someone pledged or committed to
        self.sealed: dict[int, list[tuple[Member, SealedBid]]] = {}

    def _auction(self, key: PrivateKey, function: str, *args, value: int = 0) -> Transaction:
        return self._call_to(self.auction, key, function, *args, value=value)

    def run_auction(self) -> None:
        n = self.community.scenario.intervals
        last = n - 1 + LEAD + 1  # the last round is settled the interval after its delivery
        for c in range(last + 1):
            self.driver.enter(c)
            if c == 0:
                self._setup_auction()
            else:
                self._delivery_readings(c - 1)
                self._settle_and_allocate(c - 1, c + 1)
                self._reveal(c + 2)
            self._pledge_and_commit(c + LEAD)
            self.progress(c, last)

    def _scenario_interval(self, delivery: int) -> int | None:
        s = delivery - LEAD
        return s if 0 <= s < self.community.scenario.intervals else None

    def _setup_auction(self) -> None:
        a, deployer = self.settings, self.community.deployer
        self._phase([self._sign(deployer, ContractDeploy(source(CONTRACT), GAS), self.fee)], "deploy the auction")
        self._phase([self._auction(deployer, "setup", self.community.utility.address, a.reserve, a.cap,
                                   a.collateral_rate, a.min_deposit, a.min_wh),
                     self._sign(self.community.operator, CertifyMarket(self.auction, 1))], "auction setup")

    def _delivery_readings(self, delivery: int) -> None:
        s = self._scenario_interval(delivery)
        if s is not None:
            self._phase([self._sign(m.meter, MeterReading(delivery, *m.reading(s))) for m in self.community.members],
                        f"readings of interval {delivery}")

    def _settle_and_allocate(self, settle: int, allocate: int) -> None:
        txs = [self._auction(self.community.deployer, function, d)
               for function, d in (("settle", settle), ("allocate", allocate)) if d in self.opened]
        self._phase(txs, f"settle round {settle}, allocate round {allocate}")

    def _reveal(self, delivery: int) -> None:
        rng = random.Random(f"{self.community.scenario.seed}/no-show/{delivery}")
        txs = [self._auction(m.key, "reveal", delivery, b.energy_wh, b.price, b.salt)
               for m, b in self.sealed.pop(delivery, []) if rng.random() >= self.settings.no_show]
        self._phase(txs, f"reveals for round {delivery}")

    def _pledge_and_commit(self, delivery: int) -> None:
        s = self._scenario_interval(delivery)
        if s is None:
            return
        a, txs, sealed, pledged = self.settings, [], [], 0
        for m, trader in zip(self.community.members, self.traders):
            wh = trader.pledge(s, LEAD, LEAD, a.min_wh)
            if wh is not None and pledged < MAX_SLOTS:
                pledged += 1
                txs.append(self._auction(m.key, "pledge", delivery, wh, value=wh * a.collateral_rate // 1000))
                continue
            secret = auction_secret(m.key.seed, self.genesis.chain_id, self.auction)
            b = trader.bid(s, LEAD, LEAD, delivery, a.reserve, a.cap, secret, a.deposit_step, a.min_deposit)
            if b is not None and len(sealed) < MAX_SLOTS:
                sealed.append((m, b))
                txs.append(self._auction(m.key, "commit", delivery, b.commitment(self.auction, m.key.address),
                                         value=b.deposit))
        if txs:
            self.opened.add(delivery)
            self.sealed[delivery] = sealed
        self._phase(txs, f"pledges and commitments for round {delivery}")


def _round(state: State, auction: bytes, delivery: int, fit: int, tou: int) -> RoundOutcome:
    r = read_storage(state, auction, f"r:{delivery}")
    if r is None:
        return RoundOutcome(delivery - LEAD, *[0] * 13)
    if r[0] != 2:
        raise ScenarioError(f"round {delivery} ended unsettled (status {r[0]})")
    bids = [b for _, b in scan_storage(state, auction, f"b:{delivery}:", MAX_SLOTS)]
    sellers = [s for _, s in scan_storage(state, auction, f"s:{delivery}:", MAX_SLOTS)]
    deposits = sum(b[2] for b in bids if b[5] == 0)  # never revealed; the rest of r[11] is collateral
    return RoundOutcome(delivery - LEAD, r[2], r[3], r[12], r[1], r[8], r[9], r[10],
                        sum(b[8] * tou // 1000 for b in bids), sum(s[5] * fit // 1000 for s in sellers),
                        deposits, r[11] - deposits, r[6] - r[5], r[7] - r[5])


def run(community: Community, genesis: Genesis, driver: Driver, progress: Progress) -> AuctionOutcome:
    """The system's entry point (`systems.runner_for("auction")`): runs every round, stops the
    driver and reads the outcome from the final state."""
    runner = AuctionRunner(community, genesis, driver, progress)
    runner.run_auction()
    driver.stop()
    state = driver.state()
    rounds = [_round(state, runner.auction, s + LEAD, runner.fit, runner.tou)
              for s in range(community.scenario.intervals)]
    return AuctionOutcome(community.scenario.name, rounds, runner.transactions, driver.stats().blocks,
                          runner.fit, runner.tou, market_state_root(state, community),
                          [community.timeline.at(r.interval).strftime("%H:%M") for r in rounds])
