"""A Type 2 crowdsourcee's side of Algorithm 1: whether it accepts an offer, and what its meter
shows it did.

Each participant has a reservation incentive (a share of its DLMP) and accepts an offer whose
incentive is at least that. 004's own run assumes every crowdsourcee accepts
(`Acceptance.everyone`); `Acceptance.drawn` draws reservations from the scenario's seed, so
refusals, raises and supplements happen.

What its meter certifies for an interval: when it accepted an offer, the offer's energy as net
export (the set-point; its battery makes up any difference from the CES-OPF schedule); when it
refused, its own preference (its battery idle: it will not discharge for that price); with no
offer, the CES-OPF schedule it received (the equilibrium at the DLMP, which needs no incentive).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from market.ces.operator_policy import PPM, Offer
from market.ces.opf import BusSchedule


@dataclass(frozen=True)
class Acceptance:
    """Each participant's reservation incentive, in ppm of its DLMP: it accepts an offer whose
    incentive is at least that. All zero: everyone accepts everything (004 VI)."""

    reservation_ppm: tuple[int, ...]

    @classmethod
    def everyone(cls, participants: int) -> "Acceptance":
        return cls((0,) * participants)

    @classmethod
    def drawn(cls, participants: int, seed: int, max_ppm: int) -> "Acceptance":
        """Reservations drawn uniformly from 0..max_ppm, one per participant, from `seed`."""
        rng = random.Random(f"ces-acceptance/{seed}")
        return cls(tuple(rng.randint(0, max_ppm) for _ in range(participants)))

    def accepts(self, offer: Offer) -> bool:
        return offer.incentive * PPM >= self.reservation_ppm[offer.participant] * offer.dlmp


def reading(schedule: BusSchedule, t: int, interval_minutes: int, accepted: Offer | None = None,
            refused: bool = False) -> tuple[int, int]:
    """(produced, consumed) Wh the participant's meter signs for interval t."""
    if refused:
        wh = interval_minutes / 60 * 1000
        return round(schedule.solar_kw[t] * wh), round((schedule.uncontrollable_kw[t] + schedule.shapable_kw[t]) * wh)
    produced, consumed = schedule.energy_wh(t, interval_minutes)
    if accepted is not None:
        gap = accepted.energy_wh - (produced - consumed)
        produced, consumed = produced + max(gap, 0), consumed + max(-gap, 0)
    return produced, consumed
