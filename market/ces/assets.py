"""A crowdsourcee's assets (004 III.A.1-3) and the preferences it posts on chain.

Every bus of the feeder has an uncontrollable load, a stationary battery, solar panels and a
shapable load, sized as 004's Section VI sizes them from the bus's peak uncontrollable load P:
the battery's power 80 % of P with 4 hours of storage, solar peaking at 150 % of P, and a shapable
load of up to 5 P hours of energy, charged over at least 4-10 hours between 9 am and midnight.

A Type 2 crowdsourcee posts these as `Preferences` (its operational constraints X, Algorithm 1
line 1): integers, so the chain stores them and anyone can rebuild the operator's inputs. The
operator turns them into `BusAssets` (kW and kWh per interval) with two public shapes: the
uncontrollable load's over the day (a BDEW profile) and the solar panels' (pvlib clear sky), both
normalised to a peak of 1.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields

MAX_WH = (1 << 24) - 1  # the kernels' energy bound
BATTERY_POWER_SHARE = 0.8  # of the bus's peak uncontrollable load (004 VI)
BATTERY_HOURS = 4
SOLAR_SHARE = 1.5
SHAPABLE_PEAK_HOURS = 5  # energy up to 5 x the peak power
SHAPABLE_HOURS = (4, 10)  # charged over 4-10 hours
SHAPABLE_WINDOW = (9, 24)  # local hours: 9 am to midnight


@dataclass(frozen=True)
class Preferences:
    """What a participant posts with `prefer(day, prefs)`: W, Wh and local hours, all integers.
    The shapable load charges within [earliest_hour, latest_hour) at up to
    shapable_wh / min_hours W, so it needs at least `min_hours` hours."""

    uncontrollable_peak_w: int
    battery_wh: int
    battery_w: int
    pv_peak_w: int
    shapable_wh: int
    earliest_hour: int
    latest_hour: int
    min_hours: int

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_WH:
                raise ValueError(f"preferences: {f.name} must be an integer 0..{MAX_WH}, not {value!r}")
        if not 0 <= self.earliest_hour < self.latest_hour <= 24:
            raise ValueError("preferences: the shapable load's window needs 0 <= earliest < latest <= 24")
        if not 1 <= self.min_hours <= self.latest_hour - self.earliest_hour:
            raise ValueError("preferences: min_hours must be 1 .. the window's length")

    def to_ints(self) -> list[int]:
        return [getattr(self, f.name) for f in fields(self)]

    @classmethod
    def from_ints(cls, values: list[int]) -> "Preferences":
        if len(values) != len(fields(cls)):
            raise ValueError(f"preferences: {len(fields(cls))} integers, not {len(values)}")
        return cls(*values)


def size(peak_w: float, rng: random.Random, window_hours: int = SHAPABLE_WINDOW[1] - SHAPABLE_WINDOW[0]) -> Preferences:
    """004 VI's sizes for a bus whose uncontrollable load peaks at `peak_w`; the shapable load's
    energy (up to 5 peak hours) and hours (4-10) drawn from `rng`. `window_hours`: how much of the
    9 am-midnight window the horizon covers (a short horizon's); the hours never exceed it."""
    hours = min(rng.randint(*SHAPABLE_HOURS), window_hours)
    if hours < 1:
        raise ValueError("the horizon does not reach the shapable loads' window (9 am to midnight)")
    energy = peak_w * SHAPABLE_PEAK_HOURS * rng.uniform(0.2, 1.0)
    return Preferences(round(peak_w), round(BATTERY_POWER_SHARE * peak_w * BATTERY_HOURS),
                       round(BATTERY_POWER_SHARE * peak_w), round(SOLAR_SHARE * peak_w), round(energy),
                       SHAPABLE_WINDOW[0], SHAPABLE_WINDOW[1], hours)


@dataclass(frozen=True)
class BusAssets:
    """One bus's assets over the horizon, as CES-OPF takes them: kW per interval and kWh."""

    uncontrollable_kw: tuple[float, ...]
    q_ratio: float  # the uncontrollable load's reactive power per unit of active power
    pv_kw: tuple[float, ...]  # what the panels can produce (curtailable)
    battery_kw: float
    battery_kwh: float
    shapable_kwh: float
    shapable_kw: float
    shapable_window: tuple[bool, ...]  # per interval: may the shapable load charge

    @property
    def intervals(self) -> int:
        return len(self.uncontrollable_kw)

    @classmethod
    def idle(cls, intervals: int) -> "BusAssets":
        """A bus with nothing on it (the substation's, or a bus without load)."""
        return cls((0.0,) * intervals, 0.0, (0.0,) * intervals, 0.0, 0.0, 0.0, 0.0, (False,) * intervals)


def assets(prefs: Preferences, q_ratio: float, load_shape: list[float], pv_shape: list[float],
           hours: list[int]) -> BusAssets:
    """The operator's view of a participant's preferences: `load_shape` and `pv_shape` per
    interval (peak 1), `hours` the local hour each interval starts in."""
    if not len(load_shape) == len(pv_shape) == len(hours):
        raise ValueError("one shape value and one hour per interval")
    window = tuple(prefs.earliest_hour <= h < prefs.latest_hour for h in hours)
    return BusAssets(tuple(prefs.uncontrollable_peak_w / 1000 * s for s in load_shape), q_ratio,
                     tuple(prefs.pv_peak_w / 1000 * s for s in pv_shape), prefs.battery_w / 1000,
                     prefs.battery_wh / 1000, prefs.shapable_wh / 1000, prefs.shapable_wh / 1000 / prefs.min_hours,
                     window)
