"""Energy profiles for market agents, from the field's libraries, as integer Wh per interval.

- Household loads: demandlib's BDEW standard load profiles (h0 households, g0-g6 businesses,
  l0-l2 farms), scaled to the annual consumption, 15-minute values summed to the interval.
- PV: pvlib. Clear-sky irradiance (Ineichen, with pvlib's Linke turbidity climatology) for the
  location, transposed to the panel's tilt and azimuth (Hay-Davies), a SAPM cell temperature
  model, and PVWatts DC power with `losses` for the inverter and wiring.
- Or any column of a CSV file of Wh per interval.

Floats are fine here: these are an agent's private data. What reaches a transaction (a meter's
reading, an order) is the integer Wh these functions return, rounded once, in one place.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

BDEW_PROFILES = ("h0", "g0", "g1", "g2", "g3", "g4", "g5", "g6", "l0", "l1", "l2")
QUARTER = timedelta(minutes=15)


@dataclass(frozen=True)
class Timeline:
    """`intervals` intervals of `minutes` minutes from `start` (timezone-aware, local time)."""

    start: datetime
    intervals: int
    minutes: int

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ValueError("the scenario's start needs a UTC offset, e.g. 2026-06-21T03:00:00+09:00")
        if self.minutes % 15 or self.minutes <= 0:
            raise ValueError(f"interval_minutes must be a positive multiple of 15, not {self.minutes}")

    @property
    def quarters_per_interval(self) -> int:
        return self.minutes // 15

    def at(self, k: int) -> datetime:
        return self.start + timedelta(minutes=self.minutes * k)


def _to_wh(values: list[float]) -> list[int]:
    """kWh per interval to whole Wh, keeping the running total exact (cumulative rounding): the
    day's sum of integers equals the rounded sum of the floats."""
    out, total, given = [], 0.0, 0
    for v in values:
        total += v * 1000.0
        wh = max(0, round(total) - given)
        out.append(wh)
        given += wh
    return out


def household_load(timeline: Timeline, annual_kwh: float, profile: str = "h0") -> list[int]:
    """Wh consumed per interval by a consumer of the BDEW class `profile` using `annual_kwh` a year."""
    import demandlib.bdew as bdew
    import pandas as pd

    if profile not in BDEW_PROFILES:
        raise ValueError(f"profile must be one of {', '.join(BDEW_PROFILES)}, not {profile!r}")
    if not 0 < annual_kwh <= 1_000_000:
        raise ValueError(f"annual_kwh must be in (0, 1,000,000], not {annual_kwh}")
    start = timeline.start.replace(tzinfo=None)
    end = timeline.at(timeline.intervals).replace(tzinfo=None)
    quarters: list[float] = []
    for year in range(start.year, end.year + 1):  # the BDEW profiles are per calendar year
        series = bdew.ElecSlp(year).get_scaled_profiles({profile: annual_kwh})[profile]
        window = series[(series.index >= pd.Timestamp(max(start, datetime(year, 1, 1))))
                        & (series.index < pd.Timestamp(min(end, datetime(year + 1, 1, 1))))]
        quarters += [float(v) for v in window.to_numpy()]
    q = timeline.quarters_per_interval
    return _to_wh([sum(quarters[k * q:(k + 1) * q]) for k in range(timeline.intervals)])


@dataclass(frozen=True)
class Site:
    latitude: float
    longitude: float
    altitude: float = 0.0


def pv_output(timeline: Timeline, site: Site, kwp: float, tilt: float = 30.0, azimuth: float = 180.0,
              losses: float = 0.14, temp_air: float = 20.0, wind_speed: float = 1.0) -> list[int]:
    """Wh produced per interval by `kwp` kW of panels at `tilt` degrees facing `azimuth` (180 is
    south), under clear skies."""
    import pandas as pd
    import pvlib

    if not 0 < kwp <= 10_000:
        raise ValueError(f"pv_kwp must be in (0, 10,000], not {kwp}")
    times = pd.date_range(timeline.start, periods=timeline.intervals * timeline.quarters_per_interval, freq=QUARTER)
    times = times + QUARTER / 2  # each quarter's midpoint
    location = pvlib.location.Location(site.latitude, site.longitude, altitude=site.altitude)
    sun = location.get_solarposition(times)
    sky = location.get_clearsky(times, solar_position=sun)
    poa = pvlib.irradiance.get_total_irradiance(
        tilt, azimuth, sun["apparent_zenith"], sun["azimuth"], sky["dni"], sky["ghi"], sky["dhi"],
        dni_extra=pvlib.irradiance.get_extra_radiation(times), model="haydavies")["poa_global"].fillna(0.0)
    params = pvlib.temperature.TEMPERATURE_MODEL_PARAMETERS["sapm"]["open_rack_glass_polymer"]
    cell = pvlib.temperature.sapm_cell(poa, temp_air, wind_speed, **params)
    dc_w = pvlib.pvsystem.pvwatts_dc(poa, cell, kwp * 1000.0, -0.004)
    kwh = (dc_w.clip(lower=0.0) * (1.0 - losses) / 1000.0 * 0.25).to_numpy()
    q = timeline.quarters_per_interval
    return _to_wh([float(kwh[k * q:(k + 1) * q].sum()) for k in range(timeline.intervals)])


def csv_column(path: Path, column: str, intervals: int) -> list[int]:
    """The first `intervals` rows of `column` in a CSV of Wh per interval (a header row, then
    one row per interval)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or column not in rows[0]:
        raise ValueError(f"{path}: no column {column!r}")
    if len(rows) < intervals:
        raise ValueError(f"{path}: {len(rows)} rows, the scenario needs {intervals}")
    out = []
    for i, row in enumerate(rows[:intervals]):
        try:
            wh = int(row[column])
        except ValueError:
            raise ValueError(f"{path} row {i + 2}: {column} is not a whole number of Wh: {row[column]!r}") from None
        if not 0 <= wh < 1 << 24:
            raise ValueError(f"{path} row {i + 2}: {wh} Wh is out of range")
        out.append(wh)
    return out
