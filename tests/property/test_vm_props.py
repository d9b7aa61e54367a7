"""Random programs from the contract language: same receipts (result, gas, reason, events) in
two fresh VMs and after the state round-trips through LevelDB; gas is monotone in loop count."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.database import LevelDB
from tests.vm.helpers import Harness

NAMES = ("a", "b", "c")
OPS = ("+", "-", "*", "//", "%", "&", "|", "^")

leaf = st.one_of(st.integers(-10_000, 10_000).map(str), st.sampled_from(NAMES))
expr = st.recursive(leaf, lambda inner: st.tuples(inner, st.sampled_from(OPS), inner).map(
    lambda t: f"({t[0]} {t[1]} {t[2]})"), max_leaves=6)
name = st.sampled_from(NAMES)


def _indent(lines: list[str], depth: int = 1) -> list[str]:
    return ["    " * depth + line for line in lines]


stmt = st.one_of(
    st.tuples(name, expr).map(lambda t: [f"{t[0]} = {t[1]} % 1000003"]),
    st.tuples(expr, expr, name, expr, expr).map(lambda t: [
        f"if {t[0]} < {t[1]}:", f"    {t[2]} = {t[3]} % 1000003", "else:", f"    {t[2]} = {t[4]} % 1000003"]),
    st.tuples(st.integers(0, 12), name, expr).map(lambda t: [
        f"for i in range({t[0]}):", f"    {t[1]} = ({t[1]} * 31 + {t[2]} + i) % 1000003"]),
    st.tuples(st.integers(0, 5), expr).map(lambda t: [f"put('k{t[0]}', {t[1]} % 1000003)"]),
    expr.map(lambda e: [f"lst.append({e} % 97)", "emit('step', len(lst))"]),
    st.integers(0, 5).map(lambda k: [f"a = (a + get('k{k}', 7)) % 1000003"]),
)


@st.composite
def programs(draw) -> str:
    body = [line for s in draw(st.lists(stmt, min_size=1, max_size=8)) for line in s]
    lines = ["def run(a, b, c):", "    lst = []", *_indent(body),
             "    put('final', [a % 1000003, b % 1000003, c % 1000003, lst])",
             "    return [a % 1000003, b % 1000003, c % 1000003, len(lst)]"]
    return "\n".join(lines) + "\n"


args_st = st.tuples(*[st.integers(-(10**6), 10**6)] * 3)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(source=programs(), args=args_st)
def test_same_receipts_in_fresh_vms_and_after_storage_round_trip(source: str, args, tmp_path_factory) -> None:
    first, second = Harness(), Harness()
    receipts = []
    for h in (first, second):
        contract, deployed = h.deploy(source)
        assert deployed.status == 0, deployed.reason
        receipts.append((h.call(contract, "run", *args), h.call(contract, "run", *args)))
    assert receipts[0] == receipts[1]
    assert first.chain.state.root() == second.chain.state.root()

    path = tmp_path_factory.mktemp("vm") / "db"
    stored = Harness(LevelDB(path, create=True))
    contract, _ = stored.deploy(source)
    stored.chain.store.db.close()
    reopened = Harness(LevelDB(path))  # a fresh VM over state loaded from disk
    again = (reopened.call(contract, "run", *args), reopened.call(contract, "run", *args))
    reopened.chain.store.db.close()
    assert again == receipts[0]


# The stored and returned value is one bit, so its encoded size (which gas charges per byte) is the
# same for every loop count: only the iterations differ.
LOOP = "def run(n):\n    s = 0\n    for i in range(n):\n{body}\n    put('s', s % 2)\n    return s % 2\n"
loop_expr = st.recursive(st.one_of(st.integers(-999, 999).map(str), st.sampled_from(("i", "s"))),
                         lambda inner: st.tuples(inner, st.sampled_from(("+", "-", "*", "&", "|", "^")), inner).map(
                             lambda t: f"({t[0]} {t[1]} {t[2]})"), max_leaves=5)


@settings(max_examples=25, deadline=None)
@given(body=st.lists(loop_expr, min_size=1, max_size=3), n=st.integers(0, 40), more=st.integers(1, 40))
def test_gas_is_monotone_in_loop_count(body: list[str], n: int, more: int) -> None:
    lines = "\n".join(f"        s = (s * 31 + {e}) % 1000003" for e in body)
    h = Harness()
    contract, deployed = h.deploy(LOOP.format(body=lines))
    assert deployed.status == 0, deployed.reason
    fewer, longer = h.call(contract, "run", n), h.call(contract, "run", n + more)
    assert fewer.status == 0 and longer.status == 0, (fewer.reason, longer.reason)
    assert fewer.gas_used < longer.gas_used
