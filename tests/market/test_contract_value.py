"""Which entry points of the market contracts take money: each either reads `value()` (and
accounts for it) or refuses it (`_no_value`), so no call leaves value that nobody is credited
with in a contract. The tests of each contract show the refusals on a chain; this one keeps
every new entry point to the rule."""

from __future__ import annotations

import ast
from importlib import resources

import pytest

CONTRACTS = sorted(f.name[:-3] for f in resources.files("market.contracts").iterdir()
                   if f.name.endswith(".py") and f.name != "__init__.py")


def _calls(node: ast.AST) -> set[str]:
    return {n.func.id for n in ast.walk(node) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}


@pytest.mark.parametrize("name", CONTRACTS)
def test_every_entry_point_accounts_for_value_or_refuses_it(name: str) -> None:
    tree = ast.parse(resources.files("market.contracts").joinpath(f"{name}.py").read_text())
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}

    def handles_value(fn: ast.FunctionDef, seen: frozenset = frozenset()) -> bool:
        called = _calls(fn)
        if "value" in called or "_no_value" in called:
            return True
        return any(handles_value(functions[c], seen | {c}) for c in called
                   if c.startswith("_") and c in functions and c not in seen)

    careless = [f for f, fn in functions.items() if not f.startswith("_") and not handles_value(fn)]
    assert careless == [], f"{name}: entry points that keep value sent with them: {careless}"
