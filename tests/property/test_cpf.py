"""The integer CPF equals floor(1e6 * e^-x) from 50-digit decimal arithmetic, within 1 ppm."""

from __future__ import annotations

import decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.cpf import cpf_ppm, exp_neg_ppm


def _reference(num: int, den: int) -> int:
    with decimal.localcontext() as ctx:
        ctx.prec = 50
        return int((decimal.Decimal(-num) / decimal.Decimal(den)).exp() * 1_000_000)


@settings(max_examples=500)
@given(num=st.integers(0, 40_000), den=st.integers(1, 5_000))
def test_exp_within_one_ppm(num: int, den: int) -> None:
    got, ref = exp_neg_ppm(num, den), _reference(num, den)
    assert ref - 1 <= got <= ref


@settings(max_examples=200)
@given(p=st.integers(0, 10**7), c=st.integers(0, 10**7), unit=st.integers(1, 10_000))
def test_cpf_bounds_and_symmetry(p: int, c: int, unit: int) -> None:
    v = cpf_ppm(p, c, unit)
    assert 0 <= v <= 1_000_000
    assert v == cpf_ppm(c, p, unit)
    assert (v == 1_000_000) == (p == c)
