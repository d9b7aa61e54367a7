"""What a smart meter publishes on MQTT, read into a typed reading, or refused with the reason.

Two forms are accepted on the meter's `.../reading` topic (UTF-8 JSON, at most 4 KiB):

* pownode's own: `{"interval": 1234, "produced_wh": 1200, "consumed_wh": 300}`, or with
  `"time_ms"` (any time inside the interval, Unix milliseconds) instead of `"interval"`;
* Siano et al.'s (003, V.E) key-value JSON, as their energy management system sends it:
  `{"clientId": ..., "reqId": ..., "date": "2018-01-01 00:00:00", "operation": "reading",
  "parameters": {"produced": {"unit": "kWh", "value": "1.2"}, "consumed": {"unit": "Wh",
  "value": "300"}, "cpf": 0.72}}`, where `date` (UTC) is inside the interval. The `cpf` the
  meter claims is kept only to report beside the chain's own: the chain computes CPF from the
  certified readings (003 eq. 9), and the EMS `signature` is not the chain's, which is the
  gateway's meter key over the reading transaction.

Energies become whole Wh, exactly (a decimal string, never a float; anything a 40-digit decimal
cannot hold exactly is refused), and must be below the chain's limit per interval and
direction. The interval must be one the meter has measured: ended (the chain refuses a reading
of an interval that has not, `reading-too-early`, and a claim taken mid-interval would make the
meter's real reading conflict with it), allowing a meter clock CLOCK_SKEW_MS ahead of the
gateway's, and at most MAX_AGE_INTERVALS behind the current one (a late reading, not a forged
history).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Context, Decimal, Inexact, InvalidOperation, Overflow, localcontext

from ledger.genesis import Genesis
from ledger.executor import MAX_READING_WH

MAX_MESSAGE_BYTES = 4096
MAX_AGE_INTERVALS = 2 * 96 * 7  # two weeks of 15-minute intervals
CLOCK_SKEW_MS = 5_000  # how far ahead of the gateway's clock a meter's may run
UNITS = {"wh": 1, "kwh": 1000}
EXACT = Context(prec=40, traps=[Inexact, InvalidOperation, Overflow])


class BadReading(ValueError):
    """A meter message that is not a reading: the reason goes back on the meter's error topic."""


@dataclass(frozen=True)
class MeterMessage:
    interval: int
    produced_wh: int
    consumed_wh: int
    claimed_cpf: float | None = None  # 003's field, as the meter sent it (off chain, a float is fine)


def _wh(value: object, unit: object, field: str) -> int:
    if not isinstance(unit, str) or unit.lower() not in UNITS:
        raise BadReading(f"{field}: unit must be Wh or kWh, not {unit!r}")
    if isinstance(value, bool) or not isinstance(value, (str, int)) or len(str(value)) > 40:
        raise BadReading(f"{field}: value must be a number as a string or an integer, not {value!r}")
    try:
        with localcontext(EXACT):
            exact = Decimal(str(value)) * UNITS[unit.lower()]
    except ArithmeticError:  # not a number, or not exact
        raise BadReading(f"{field}: {value!r} is not an exact number") from None
    if not exact.is_finite() or exact != exact.to_integral_value() or not 0 <= exact < MAX_READING_WH:
        raise BadReading(f"{field}: {value} {unit} is not a whole number of Wh from 0 to {MAX_READING_WH - 1}")
    return int(exact)


def _count(doc: dict, field: str) -> int:
    value = doc.get(field)
    if type(value) is not int or not 0 <= value < MAX_READING_WH:
        raise BadReading(f"{field} must be an integer from 0 to {MAX_READING_WH - 1}, not {value!r}")
    return value


def parse(payload: bytes, genesis: Genesis, now_ms: int) -> MeterMessage:
    """The reading in `payload`, for an interval the meter could have measured at `now_ms`."""
    if len(payload) > MAX_MESSAGE_BYTES:
        raise BadReading(f"a reading message is at most {MAX_MESSAGE_BYTES} bytes")
    try:
        doc = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadReading("not UTF-8 JSON") from None
    if not isinstance(doc, dict):
        raise BadReading("expected a JSON object")
    found = _siano(doc, genesis) if "parameters" in doc else _pownode(doc, genesis)
    current = genesis.interval_of(now_ms)
    if found.interval >= genesis.interval_of(now_ms + CLOCK_SKEW_MS):
        raise BadReading(f"interval {found.interval} has not ended (the gateway's clock is in interval {current}): "
                         "publish a reading once its interval has ended")
    if found.interval < current - MAX_AGE_INTERVALS:
        raise BadReading(f"interval {found.interval} is not one the meter could have measured now: from "
                         f"{max(0, current - MAX_AGE_INTERVALS)} on")
    return found


def _pownode(doc: dict, genesis: Genesis) -> MeterMessage:
    if "interval" in doc:
        interval = doc["interval"]
        if type(interval) is not int or interval < 0:
            raise BadReading(f"interval must be a non-negative integer, not {interval!r}")
    elif type(doc.get("time_ms")) is int and 0 <= doc["time_ms"] < 1 << 62:
        interval = genesis.interval_of(doc["time_ms"])
    else:
        raise BadReading("expected interval (or time_ms), produced_wh and consumed_wh")
    return MeterMessage(interval, _count(doc, "produced_wh"), _count(doc, "consumed_wh"))


def _siano(doc: dict, genesis: Genesis) -> MeterMessage:
    p = doc["parameters"]
    if not isinstance(p, dict) or doc.get("operation", "reading") != "reading":
        raise BadReading("003 form: operation must be \"reading\" with a parameters object")
    try:
        when = datetime.strptime(str(doc.get("date")), "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)
    except ValueError:
        raise BadReading("003 form: date must be \"YYYY-MM-DD HH:MM:SS\" (UTC)") from None
    energies = []
    for field in ("produced", "consumed"):
        e = p.get(field)
        if not isinstance(e, dict):
            raise BadReading(f"003 form: parameters.{field} must be {{\"unit\": ..., \"value\": ...}}")
        energies.append(_wh(e.get("value"), e.get("unit"), f"parameters.{field}"))
    cpf = p.get("cpf")
    if cpf is not None and (not isinstance(cpf, (int, float)) or isinstance(cpf, bool) or not 0 <= cpf <= 1):
        raise BadReading("003 form: parameters.cpf must be a number from 0 to 1")
    return MeterMessage(genesis.interval_of(int(when.timestamp() * 1000)), energies[0], energies[1],
                        None if cpf is None else float(cpf))
