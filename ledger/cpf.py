"""The consumption-production function of Proof of Energy, in integers.

The PoE election ranks validators by it and the PoE block incentive scales by it, so it lives in
the ledger, which both the election (consensus) and the incentive (executor) may import.

Siano et al. (003, eq. 9): CPF = 1 / e^{|P - C|}, 0 < CPF <= 1, for a prosumer's production P and
consumption C over a settlement interval. We compute CPF in parts per million with P and C in Wh
scaled by `wh_per_unit` (genesis param `poe_wh_per_unit`; 1000 makes the exponent kWh, as the
paper's examples read): x = |P - C| / wh_per_unit.

`exp_neg_ppm(num, den)` returns floor(1e6 * e^(-num/den)) computed with integers only: argument
halving until x <= 1, a Taylor series at scale 10^30, then squaring back. The fixed-point error
before the final floor is below 10^-20 (relative), so the result is the exact floor except when
1e6*e^-x lies within 10^-14 of an integer, where it may be one less: error <= 1 ppm, checked
against high-precision decimal arithmetic in tests/property/test_cpf.py.
"""

from __future__ import annotations

PPM = 1_000_000
_SCALE = 10**30
_ZERO_BEYOND = 15  # 1e6 * e^-15 < 0.31: every x >= 15 floors to 0 ppm


def exp_neg_ppm(num: int, den: int) -> int:
    """floor(1e6 * exp(-num/den)) for integers num >= 0, den > 0 (error <= 1 ppm)."""
    if num < 0 or den <= 0:
        raise ValueError("exp_neg_ppm needs num >= 0 and den > 0")
    if num >= _ZERO_BEYOND * den:
        return 0
    halvings = 0
    while num > den:  # reduce x = num/den to at most 1
        den *= 2
        halvings += 1
    total = _SCALE
    term = _SCALE
    i = 1
    while term:
        term = term * num // (den * i)
        total = total - term if i % 2 else total + term
        i += 1
    for _ in range(halvings):
        total = total * total // _SCALE
    return total * PPM // _SCALE


def cpf_ppm(produced_wh: int, consumed_wh: int, wh_per_unit: int) -> int:
    """CPF of one prosumer in ppm: 1e6 when production equals consumption, toward 0 apart."""
    return exp_neg_ppm(abs(produced_wh - consumed_wh), wh_per_unit)
