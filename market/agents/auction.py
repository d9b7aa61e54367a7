"""Agents of 001's coalition auction (Section IV.A): what a seller pledges and what a buyer bids.

Pure decisions, no keys and no I/O: the scenario signs what these return. A prosumer that
forecasts a surplus for a delivery interval pledges it to the coalition; a member that forecasts
a deficit bids for it individually, at a price between FIT (what the coalition's sellers would get
from the utility) and TOU (what the buyer would pay the utility) drawn from its own valuation, and
commits to the bid's hash before revealing it (`coalition_auction`'s commit-reveal). Floats are
fine here; what reaches a transaction is an integer. Forecast noise and valuations are drawn from
generators seeded by the scenario's seed, the member and the interval, so a run is the same in
every process.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from market.agents.households import Household

MAX_WH = (1 << 24) - 1  # coalition_auction's bound on a pledge or bid
VALUATION_SPREAD = 0.15  # standard deviation of a buyer's valuation around its group's markup


def commitment(auction: bytes, delivery: int, bidder: bytes, energy_wh: int, price: int, salt: bytes) -> bytes:
    """What `coalition_auction.commit` takes: sha256(auction:20 | delivery:8 | bidder:20 |
    energy:4 | price:4 | salt:32), the layout its `reveal` hashes (so it opens in one auction)."""
    return hashlib.sha256(auction + delivery.to_bytes(8, "big") + bidder + energy_wh.to_bytes(4, "big")
                          + price.to_bytes(4, "big") + salt).digest()


def auction_secret(seed: bytes, chain_id: str, auction: bytes) -> bytes:
    """The bidder's secret for one auction on one chain, from its key's seed: a salt revealed in
    one auction (or on another chain with the same key) tells nothing about the salts of another,
    whose bids a revealed salt would let anyone find by trying the few prices in [FIT, TOU]."""
    chain = chain_id.encode()
    return hashlib.sha256(b"pownode/auction-secret/" + seed + len(chain).to_bytes(1, "big") + chain
                          + auction).digest()


def salt_for(secret: bytes, delivery: int) -> bytes:
    """A bid's salt, from a secret only the bidder holds (`auction_secret`): no one can test
    guesses of its price against the commitment before it reveals."""
    return hashlib.sha256(b"pownode/auction-salt/" + secret + delivery.to_bytes(8, "big")).digest()


@dataclass(frozen=True)
class SealedBid:
    """A bid for delivery interval `delivery` as its bidder commits to it and later reveals it."""

    delivery: int
    energy_wh: int
    price: int  # milli-cents per kWh
    salt: bytes
    deposit: int  # milli-cents sent with the commitment (public): covers the escrow

    @property
    def escrow(self) -> int:
        return self.energy_wh * self.price // 1000

    def commitment(self, auction: bytes, bidder: bytes) -> bytes:
        return commitment(auction, self.delivery, bidder, self.energy_wh, self.price, self.salt)


@dataclass(frozen=True)
class AuctionTrader:
    """A member's auction agent: pledges its forecast surplus, bids for its forecast deficit."""

    household: Household
    markup: float  # where its valuation sits between FIT and TOU on average (0..1)

    def pledge(self, interval: int, ahead: int, horizon: int, min_wh: int) -> int | None:
        """Wh to pledge to the coalition for scenario interval `interval`, forecast `ahead`
        intervals early; None without a surplus of at least `min_wh`. Only a prosumer sells."""
        net = self.household.forecast_net_wh(interval, ahead, horizon)
        if not self.household.prosumer or net < min_wh:
            return None
        return min(net, MAX_WH)

    def valuation(self, interval: int, fit: int, tou: int) -> int:
        """Its price for `interval`: FIT + u * (TOU - FIT), u around its markup, strictly inside."""
        u = self.markup + random.Random(f"{self.household.seed}/{self.household.name}/bid/{interval}").gauss(
            0.0, VALUATION_SPREAD)
        return min(max(fit + round(min(max(u, 0.0), 1.0) * (tou - fit)), fit + 1), tou - 1)

    def bid(self, interval: int, ahead: int, horizon: int, delivery: int, fit: int, tou: int, secret: bytes,
            deposit_step: int, min_deposit: int) -> SealedBid | None:
        """Its sealed bid for scenario interval `interval` (chain interval `delivery`), or None
        without a forecast deficit. `secret` is the bidder's `auction_secret` for this auction.
        The deposit is the escrow rounded up to `deposit_step` (and at least `min_deposit`), so it
        tells other bidders little about the bid."""
        net = self.household.forecast_net_wh(interval, ahead, horizon)
        if net >= 0:
            return None
        energy = min(-net, MAX_WH)
        price = self.valuation(interval, fit, tou)
        escrow = energy * price // 1000
        deposit = max(min_deposit, max(1, -(-escrow // deposit_step)) * deposit_step)
        return SealedBid(delivery, energy, price, salt_for(secret, delivery), deposit)
