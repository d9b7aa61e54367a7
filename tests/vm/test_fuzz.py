"""Grammar-based contract fuzzing with four oracles: the node process never dies, wall time per
gas stays within a fixed multiple of the median, receipts and state roots are identical on
CPython 3.11 and 3.12 (and 3.13 on request), and every receipt's encoding decodes back to it.

Programs are drawn here (hypothesis strategies building source text from the contract language,
plus deliberately hostile snippets), run in subprocesses by `tests/vm/fuzz_runner.py`, and
judged by `tests/vm/crossversion.py`. CI runs POWNODE_FUZZ_EXAMPLES programs drawn
with a fixed derandomised seed; a long campaign with random seeds:

    cd /work/main && .venv/bin/python -m tests.vm.fuzz_runner --campaign 2000

Environment: POWNODE_FUZZ_EXAMPLES (programs, default 100), POWNODE_FUZZ_BATCH (programs per subprocess),
POWNODE_XVER ("3.12" by default; "3.12,3.13", "3.12=/path/to/python", or "" for none),
POWNODE_FUZZ_TIMEOUT (seconds per subprocess, default 120). The other interpreters' venvs are
created once under .venv-xver-<version> (ignored by git) with the runner's few dependencies.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
import time

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from tests.vm import crossversion as cv

EXAMPLES = int(os.environ.get("POWNODE_FUZZ_EXAMPLES", "100"))
BATCH = int(os.environ.get("POWNODE_FUZZ_BATCH", "12"))

# --- the grammar -------------------------------------------------------------------------------

P61 = (1 << 61) - 1
TOPICS = ("t", "ev", "transfer", "x" * 64, "\u00e9v\u00e9nement")
KEYS = ("'k0'", "'k1'", "'k2'", "b'k0'", "b'k1'", "'k'", "''", "'\\u00e9'", "b''")
ENTRIES = ("f0", "f1", "f2")
INT_VARS = ("a", "i0", "i1")
CMP = ("==", "!=", "<", "<=", ">", ">=")
INT_OPS = ("+", "-", "*", "//", "%", "**", "<<", ">>", "&", "|", "^")


def _ascii_str(s: str) -> str:
    return ascii(s)  # \x, \u and \U escapes: the source itself stays ASCII


def _indent(lines: list[str], n: int = 1) -> list[str]:
    return ["    " * n + line for line in lines]


class _Gen:
    """Builds one program's source from hypothesis draws. Expressions are typed (int, str,
    bytes, tuple, list, dict, bool, any) so that programs run for a while before they fail; each
    program draws a `risk`, the chance that a production is one that usually fails (a wrong type,
    an index out of range, a missing key, a division by zero, ...)."""

    def __init__(self, draw) -> None:
        self.draw = draw
        self.loop_vars: list[tuple[str, str]] = []  # (name, type) of enclosing loop variables
        self.risk = draw(st.sampled_from((0.01, 0.05, 0.15, 0.4)))
        self.targets: tuple[str, ...] = ENTRIES  # entry points try_call and call aim at

    # helpers
    def pick(self, options):
        return self.draw(st.sampled_from(options))

    def num(self, lo: int, hi: int) -> int:
        return self.draw(st.integers(lo, hi))

    def chance(self, p: float) -> bool:
        return self.draw(st.integers(0, 999)) < p * 1000

    def risky(self) -> bool:
        return self.chance(self.risk)

    def ints_in_scope(self) -> list[str]:
        return list(INT_VARS) + [n for n, t in self.loop_vars if t == "int"]

    def any_in_scope(self) -> list[str]:
        return [n for n, t in self.loop_vars if t == "any"]

    # --- literals ---------------------------------------------------------------------------

    def int_lit(self, plain: bool = False) -> str:
        kind = self.num(0, 9)
        if plain and kind == 5:
            kind = 4
        if kind <= 3 or (kind >= 4 and not self.risky() and kind != 9):
            v = self.num(-20, 300)
        elif kind == 4:
            v = self.num(-(1 << 63), (1 << 64) - 1)
        elif kind == 5:  # near 2**255 (the widest literal is 255 bits; 2**256 overflows at run time)
            return self.pick(("57896044618658097711785492504343953926634992332820282019728792003956564819967",
                              "(2 ** 255)", "(2 ** 255 - 1)", "(-(2 ** 255))", "(2 ** 256 - 1)", "(2 ** 128)",
                              "((1 << 255) - 1)", "(-(2 ** 256) + 1)"))
        elif kind == 6:  # multiples of 2**61 - 1: the dict-key bound
            v = self.num(-3, 3) * P61 + self.num(-1, 1)
        elif kind == 7:
            v = (1 << self.num(0, 64)) + self.num(-1, 1)
        elif kind == 8:
            v = -(1 << 63) if self.chance(0.5) else (1 << 64) - 1
        else:
            v = self.num(0, 3)
        return f"({v})" if v < 0 else str(v)

    def str_lit(self) -> str:
        kind = self.num(0, 5)
        if kind <= 2:
            return repr(self.draw(st.text(alphabet="abck_ /:0", max_size=6)))
        if kind == 3:  # any Unicode scalar value, written with escapes
            return ascii(self.draw(st.text(max_size=5)))
        if kind == 4:
            return self.pick(("'\\u00e9t\\u00e9'", "'\\u4e2d\\u6587'", "'\\U0001f600'", "'\\u0000'", "'a\\u0301'",
                              "'\\uffff'", "'\\u2028'", "'\\x7f\\x80'", "'\\u00e9'"))
        return repr("a" * self.num(60, 70))  # around the native-comparison literal bound (64)

    def bytes_lit(self) -> str:
        if self.chance(0.15):
            return repr(b"\x00" * self.num(30, 66))
        return repr(self.draw(st.binary(max_size=8)))

    # --- typed expressions ------------------------------------------------------------------

    def small(self, expr: str, mod: int | None = None) -> str:
        """`expr` folded into a small non-negative range unless this production is risky."""
        return expr if self.risky() else f"({expr} % {mod or self.pick((7, 50, 1000))})"

    def int_expr(self, d: int) -> str:
        if d <= 0 or self.chance(0.3):
            return self.int_lit() if self.chance(0.3) else self.pick(self.ints_in_scope())
        k = self.num(0, 23)
        if k <= 6:
            op = self.pick(INT_OPS)
            left, right = self.int_expr(d - 1), self.int_expr(d - 1)
            if op in ("//", "%") and not self.risky():
                right = f"({right} % 97 + 1)"
            elif op in ("**", "<<", ">>") and not self.risky():
                right = f"({right} % {self.pick((8, 64, 256))})"
            return f"({left} {op} {right})"
        if k == 7:
            return f"({self.pick(('-', '~', '+'))}{self.int_expr(d - 1)})"
        if k == 8:
            return f"len({self.pick((self.str_expr, self.bytes_expr, self.list_expr, self.tuple_expr, self.dict_expr))(d - 1)})"
        if k == 9:
            return f"{self.pick(('min', 'max'))}({self.int_expr(d - 1)}, {self.int_expr(d - 1)})"
        if k == 10:
            seq = self.list_expr(d - 1) if self.risky() else self.int_list(d - 1)
            return f"{self.pick(('min', 'max', 'len'))}({seq})"
        if k == 11:
            return f"abs({self.int_expr(d - 1)})"
        if k == 12:
            den = self.int_expr(d - 1)
            return f"divmod({self.int_expr(d - 1)}, {den if self.risky() else f'({den} % 13 + 1)'})[{self.num(-2, 1)}]"
        if k == 13:
            return f"({self.int_expr(d - 1)} if {self.bool_expr(d - 1)} else {self.int_expr(d - 1)})"
        if k == 14:  # counts: any item in a list or tuple, same-type text in str and bytes
            kind = self.num(0, 3)
            if kind == 0:
                return f"{self.str_expr(d - 1)}.count({self.str_expr(d - 1) if not self.risky() else self.any_expr(d - 1)})"
            if kind == 1:
                item = self.pick((self.bytes_expr(d - 1), self.small(self.int_expr(d - 1), 256)))
                return f"{self.bytes_expr(d - 1)}.count({item})"
            return f"{self.pick((self.list_expr, self.tuple_expr))(d - 1)}.count({self.any_expr(d - 1)})"
        if k == 15:
            if self.risky():
                return f"{self.pick((self.list_expr, self.tuple_expr))(d - 1)}.index({self.any_expr(d - 1)})"
            text = self.pick((self.str_expr, self.bytes_expr))(d - 1)
            return f"{text}.index({text}[:{self.num(0, 3)}])"
        if k == 16:
            b = self.bytes_expr(d - 1)
            return f"from_bytes({b if self.risky() else f'{b}[:32]'})"
        if k == 17:
            return self.pick(("height()", "block_time()", "value()", "balance(self_address())", "balance(sender())"))
        if k == 18:
            return f"get({self.pick(('n0', 'n1'))!r}, {self.int_lit()})" if not self.risky() \
                else f"get({self.key()}, {self.int_lit()})"
        if k == 19:
            n = self.pick(('3', '10', '20', 'i0 % 8')) if not self.risky() else self.pick(('31', '32', '40', 'i0 % 40'))
            return f"_h0({n}, {self.int_expr(d - 1)})"
        if k == 20:
            b = self.bytes_expr(d - 1)
            if self.risky():
                return f"{b}[{self.int_expr(d - 1)}]"
            return f"({b} + b'\\x05')[{self.pick(('0', '-1'))}]"
        if k == 21:
            if self.risky():
                return f"range({self.int_expr(d - 1)}, {self.int_expr(d - 1)})[{self.int_expr(d - 1)}]"
            return f"range({self.int_expr(d - 1)}, 2 ** 255, {self.small(self.int_expr(d - 1))} + 1)[{self.num(0, 9)}]"
        if k == 22:
            return f"precompile('sum', {self.int_list(d - 1) if not self.risky() else self.list_expr(d - 1)})"
        return f"from_bytes(to_bytes({self.small(self.int_expr(d - 1), 2 ** 64)}, {self.pick(('8', '32'))}))"

    def int_list(self, d: int) -> str:
        k = self.num(0, 5)
        if k == 0 or d <= 0:
            return "[" + ", ".join(self.int_expr(0) for _ in range(self.num(1, 5))) + "]"
        if k == 1:
            return f"list(range({self.small(self.int_expr(d - 1), 60)}))"
        if k == 2:
            return f"sorted({self.int_list(d - 1)}{', reverse=True' if self.chance(0.3) else ''})"
        if k == 3:
            return f"({self.int_list(d - 1)} + [{self.int_expr(d - 1)}])"
        if k == 4:
            return f"list({self.bytes_expr(d - 1)})"
        return f"{self.int_list(d - 1)}{self.slice(d - 1)}"

    def str_expr(self, d: int) -> str:
        if d <= 0 or self.chance(0.3):
            return self.pick((self.str_lit(), "s", "s0", "K_STR"))
        k = self.num(0, 9)
        if k <= 1:
            return f"({self.str_expr(d - 1)} + {self.str_expr(d - 1)})"
        if k == 2:
            return f"({self.str_expr(d - 1)} * {self.pick(('2', '3', '0', '(-1)', 'i1 % 5'))})"
        if k == 3:
            return f"{self.str_expr(d - 1)}{self.slice(d - 1)}"
        if k == 4:
            s = self.str_expr(d - 1)
            return f"{s}[{self.int_expr(d - 1)}]" if self.risky() else f"({s} + 'z')[{self.pick(('0', '-1'))}]"
        if k == 5:
            return f"str({self.int_expr(d - 1)})"
        if k == 6:
            return f"{self.bytes_expr(d - 1)}.hex()"
        if k == 7:
            return f"get({self.key() if self.risky() else repr('s0')}, {self.str_lit()})"
        if k == 8:
            return f"str({self.str_expr(d - 1)})"
        return f"({self.str_expr(d - 1)} if {self.bool_expr(d - 1)} else {self.str_lit()})"

    def bytes_expr(self, d: int) -> str:
        if d <= 0 or self.chance(0.3):
            return self.pick((self.bytes_lit(), "bb", "b0", "K_BYTES"))
        k = self.num(0, 7)
        if k <= 1:
            return f"({self.bytes_expr(d - 1)} + {self.bytes_expr(d - 1)})"
        if k == 2:
            return f"({self.bytes_expr(d - 1)} * {self.pick(('2', '0', 'i1 % 4'))})"
        if k == 3:
            return f"{self.bytes_expr(d - 1)}{self.slice(d - 1)}"
        if k == 4:
            if self.risky():
                return f"to_bytes({self.int_expr(d - 1)}, {self.pick(('1', '8', '32', '33', '0'))})"
            return f"to_bytes({self.small(self.int_expr(d - 1), 2 ** 64)}, {self.pick(('8', '32'))})"
        if k == 5:
            return f"sha256({self.bytes_expr(d - 1)})"
        if k == 6:
            return "self_address()" if self.chance(0.5) else "sender()"
        return f"get({self.key() if self.risky() else repr('b0')}, b'')"

    def tuple_expr(self, d: int) -> str:
        if d <= 0 or self.chance(0.25):
            return self.pick(("t0", "K_T", "()", "(1,)", f"({self.int_lit()}, {self.str_lit()})"))
        k = self.num(0, 9)
        if k <= 2:
            items = [self.any_expr(d - 1) for _ in range(self.num(1, 4))]
            return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
        if k == 3:
            return f"({self.tuple_expr(d - 1)} + {self.tuple_expr(d - 1)})"
        if k == 4:
            return f"tuple({self.pick((self.list_expr, self.str_expr, self.bytes_expr, self.dict_expr))(d - 1)})"
        if k == 5:
            return f"{self.tuple_expr(d - 1)}{self.slice(d - 1)}"
        if k == 6:
            return f"divmod({self.int_expr(d - 1)}, {self.int_expr(d - 1) if self.risky() else self.num(1, 9)})"
        if k == 7:
            target = self.pick(self.targets + ("nope", "_h0")) if self.risky() else self.pick(self.targets)
            return f"try_call(self_address(), {target!r}, {self.arg_exprs(d - 1)})"
        if k == 8:
            return f"({self.tuple_expr(d - 1)} * {self.pick(('2', '0', 'i1 % 3'))})"
        if self.risky():
            return f"{self.list_expr(d - 1)}[{self.int_expr(d - 1)}]"
        return f"({self.pick(('d0.items()', 'enumerate(l0)', 'zip(l0, l0)'))} + [(0, 0)])[0]"

    def list_expr(self, d: int) -> str:
        if d <= 0 or self.chance(0.25):
            return self.pick(("l0", "[]", "[1, 2, 3]", f"[{self.int_lit()}, {self.str_lit()}, {self.bytes_lit()}]"))
        k = self.num(0, 16)
        if k <= 2:
            return "[" + ", ".join(self.any_expr(d - 1) for _ in range(self.num(0, 4))) + "]"
        if k == 3:
            return f"({self.list_expr(d - 1)} + {self.list_expr(d - 1)})"
        if k == 4:
            return f"list({self.pick((self.tuple_expr, self.str_expr, self.bytes_expr, self.dict_expr, self.range_expr))(d - 1)})"
        if k == 5:
            seq = self.list_expr(d - 1) if self.risky() else self.pick((self.int_list, self.str_list))(d - 1)
            return f"sorted({seq}{', reverse=True' if self.chance(0.3) else ''})"
        if k == 6:
            return f"reversed({self.pick((self.list_expr, self.tuple_expr, self.str_expr, self.range_expr))(d - 1)})"
        if k == 7:
            return f"{self.list_expr(d - 1)}{self.slice(d - 1)}"
        if k == 8:
            return f"{self.dict_expr(d - 1)}.{self.pick(('keys', 'values', 'items'))}()"
        if k == 9:
            return f"enumerate({self.pick((self.list_expr, self.str_expr, self.tuple_expr))(d - 1)})"
        if k == 10:
            return f"zip({self.list_expr(d - 1)}, {self.pick((self.list_expr, self.str_expr, self.range_expr))(d - 1)})"
        if k == 11:
            limit = self.pick(("1", "4", "256", "257", "0")) if self.risky() else self.pick(("1", "4", "256"))
            return f"scan({self.pick(KEYS)}, {limit})"
        if k == 12:
            return f"({self.list_expr(d - 1)} * {self.pick(('2', '3', '0', 'i1 % 4'))})"
        if k == 13:
            return self.int_list(d - 1)
        if k == 14:
            return f"get({self.key() if self.risky() else repr('l0')}, [])"
        if k == 15:
            return self.str_list(d - 1)
        return f"list({self.list_expr(d - 1)})"

    def str_list(self, d: int) -> str:
        k = self.num(0, 2)
        if k == 0 or d <= 0:
            return "[" + ", ".join(self.str_expr(0) for _ in range(self.num(1, 4))) + "]"
        if k == 1:
            return f"list({self.str_expr(d - 1)})"
        return f"sorted({self.str_list(d - 1)})"

    def range_expr(self, d: int) -> str:
        if self.risky():
            return "range(" + ", ".join(self.int_expr(d - 1) for _ in range(self.num(1, 3))) + ")"
        step = self.pick(("", ", 1", ", 3", ", -1", ", -7"))
        return f"range({self.small(self.int_expr(d - 1), 50)}, {self.small(self.int_expr(d - 1), 50)}{step})"

    def dict_key(self, d: int) -> str:
        k = self.num(0, 5)
        if k <= 1:
            return str(self.num(-5, 20))
        if k == 2:
            return self.str_lit()
        if k == 3:
            return self.bytes_lit()
        if k == 4:
            return f"({self.num(-2, 2)} * {P61} + {self.num(-1, 1) if self.risky() else 0})"
        if self.risky():
            return self.pick((self.int_expr, self.str_expr, self.bytes_expr, self.any_expr))(d - 1)
        return self.pick((self.small(self.int_expr(d - 1)), self.str_expr(d - 1), self.bytes_expr(d - 1)))

    def dict_expr(self, d: int) -> str:
        if d <= 0 or self.chance(0.3):
            return self.pick(("d0", "{}", "{1: 'one', 'k': b'v', b'k': (1, 2)}"))
        k = self.num(0, 4)
        if k <= 1:
            pairs = [f"{self.dict_key(d - 1)}: {self.any_expr(d - 1)}" for _ in range(self.num(0, 4))]
            return "{" + ", ".join(pairs) + "}"
        if k == 2:
            return f"dict({self.dict_expr(d - 1)})"
        if k == 3:
            keys = self.list_expr(d - 1) if self.risky() else self.pick((self.int_list, self.str_list))(d - 1)
            return f"dict(zip({keys}, {self.list_expr(d - 1)}))"
        return f"dict(enumerate({self.list_expr(d - 1)}))"

    def bool_expr(self, d: int) -> str:
        if d <= 0 or self.chance(0.15):
            return self.pick(("True", "False", f"bool({self.int_expr(0)})", "(i0 > i1)", "(len(l0) > 2)"))
        k = self.num(0, 13)
        if k <= 2:
            if self.risky():
                kind = self.pick((self.int_expr, self.str_expr, self.bytes_expr, self.tuple_expr, self.list_expr, self.any_expr))
                return f"({kind(d - 1)} {self.pick(CMP)} {self.pick((kind, self.any_expr))(d - 1)})"
            kind = self.pick((self.int_expr, self.int_expr, self.str_expr, self.bytes_expr))
            op = self.pick(CMP)
            if self.chance(0.2):
                kind, op = self.pick((self.tuple_expr, self.list_expr, self.dict_expr)), self.pick(("==", "!="))
            return f"({kind(d - 1)} {op} {kind(d - 1)})"
        if k == 3:  # chained
            kind = self.pick((self.int_expr, self.str_expr, self.bytes_expr) + ((self.tuple_expr,) if self.risky() else ()))
            return f"({kind(d - 1)} {self.pick(CMP)} {kind(d - 1)} {self.pick(CMP)} {kind(d - 1)})"
        if k <= 6:  # membership
            op = self.pick(("in", "not in"))
            kind = self.num(0, 5)
            if self.risky():
                container = self.pick((self.list_expr, self.tuple_expr, self.dict_expr, self.str_expr,
                                       self.bytes_expr, self.range_expr))(d - 1)
                return f"({self.any_expr(d - 1)} {op} {container})"
            if kind == 0:
                return f"({self.any_expr(d - 1)} {op} {self.pick((self.list_expr, self.tuple_expr))(d - 1)})"
            if kind == 1:
                return f"({self.dict_key(d - 1)} {op} {self.dict_expr(d - 1)})"
            if kind == 2:
                return f"({self.str_expr(d - 1)} {op} {self.str_expr(d - 1)})"
            if kind == 3:
                item = self.pick((self.bytes_expr(d - 1), self.small(self.int_expr(d - 1), 256)))
                return f"({item} {op} {self.bytes_expr(d - 1)})"
            if kind == 4:
                return f"({self.int_expr(d - 1)} {op} {self.range_expr(d - 1)})"
            return f"({self.any_expr(d - 1)} {op} {self.pick(('range(2 ** 255)', 'range(-5, 5)', 'd0', 'K_T'))})"
        if k == 7:
            lits = ", ".join(self.pick((self.int_lit, self.str_lit, self.bytes_lit))() for _ in range(self.num(1, 5)))
            return f"({self.any_expr(d - 1)} {self.pick(('in', 'not in'))} ({lits},))"
        if k == 8:
            return f"({self.bool_expr(d - 1)} {self.pick(('and', 'or'))} {self.bool_expr(d - 1)})"
        if k == 9:
            return f"(not {self.bool_expr(d - 1)})"
        if k == 10:
            text = self.pick((self.str_expr, self.bytes_expr))
            return f"{text(d - 1)}.{self.pick(('startswith', 'endswith'))}({text(d - 1)})"
        if k == 11:
            return f"bool({self.any_expr(d - 1)})"
        if k == 12:
            return f"({self.any_expr(d - 1)} is {self.pick(('None', 'not None'))})"
        return f"(get({self.key()}) is None)"

    def any_expr(self, d: int) -> str:
        scope = self.any_in_scope()
        if scope and self.chance(0.15):
            return self.pick(scope)
        kind = self.pick((self.int_expr, self.int_expr, self.str_expr, self.bytes_expr, self.tuple_expr,
                          self.list_expr, self.bool_expr))
        return kind(d)

    def slice(self, d: int) -> str:
        parts = [self.pick(("", "", "1", "-1", "2", "i1 % 7", self.int_expr(max(d, 0)))) for _ in range(2)]
        if self.chance(0.4):
            parts.append(self.pick(("", "2", "-1", "-2", "i0 % 3 + 1") + (("0", "i0 % 3") if self.risky() else ())))
        return "[" + ":".join(parts) + "]"

    def key(self) -> str:
        if self.risky():
            return self.pick(("s0", "b0", "str(i0)", "('k' * 300)", "1", "'\\u00e9' * 70"))
        return self.pick(KEYS)

    def arg_exprs(self, d: int) -> str:
        """Arguments for an entry point (a, s, bb), sometimes ill-typed or too many."""
        if not self.risky():
            return f"{self.small(self.int_expr(d))}, {self.str_expr(d)}, {self.bytes_expr(d)}"
        return ", ".join(self.any_expr(d) for _ in range(self.num(0, 4)))

    # --- statements -------------------------------------------------------------------------

    def simple(self, d: int) -> list[str]:
        k = self.num(0, 40)
        e = 2 if d > 1 else 3
        iv = self.pick(("i0", "i1"))
        if k <= 4:
            value = self.int_expr(e)
            return [f"{iv} = {value if self.risky() else f'({value}) % 1000003'}"]
        if k == 5:
            op = self.pick(('+=', '-=', '*=', '//=', '%=', '^=', '|=', '&=', '<<=', '>>='))
            value = self.int_expr(e)
            if not self.risky():
                value = f"({value}) % {8 if op in ('<<=', '>>=') else 97} + 1"
            return [f"{iv} {op} {value}"]
        if k == 6:
            return [f"s0 = {self.str_expr(e)}"]
        if k == 7:
            return [f"s0 += {self.str_expr(e)}"]
        if k == 8:
            return [f"b0 = {self.bytes_expr(e)}"]
        if k == 9:
            return [f"t0 = {self.tuple_expr(e)}"]
        if k == 10:
            return [f"l0 = {self.list_expr(e)}"]
        if k == 11:
            return [f"d0 = {self.dict_expr(e)}"]
        if k <= 13:
            return [f"l0.append({self.any_expr(e)})"]
        if k == 14:
            return [f"l0.insert({self.int_expr(1)}, {self.any_expr(e)})"]
        if k == 15:
            return [f"l0.extend({self.pick((self.list_expr, self.tuple_expr, self.str_expr, self.dict_expr, self.range_expr))(e)})"]
        if k == 16:
            if self.risky():
                return [f"x{d} = l0.pop({self.pick(('', '0', '-1', self.int_expr(1)))})"]
            return ["if l0:", f"    x{d} = l0.pop({self.pick(('', '0', '-1'))})"]
        if k <= 18:
            return [f"d0[{self.dict_key(e)}] = {self.any_expr(e)}"]
        if k == 19:
            if self.risky():
                return [f"del d0[{self.dict_key(e)}]" if self.chance(0.5) else f"del l0[{self.int_expr(1)}]"]
            key = self.dict_key(e)
            return [f"if {key} in d0:", f"    del d0[{key}]"] if self.chance(0.5) \
                else ["if len(l0) > 1:", f"    del l0[{self.pick(('0', '-1', '1'))}]"]
        if k == 20:
            return [f"x{d} = d0.pop({self.dict_key(e)}{'' if self.risky() else ', None'})"]
        if k == 21:
            return [f"x{d} = d0.get({self.dict_key(e)}{', 0' if self.chance(0.5) else ''})"]
        if k == 22:
            if self.risky():
                return [f"l0[{self.int_expr(1)}] = {self.any_expr(e)}"]
            return ["if l0:", f"    l0[{self.pick(('0', '-1'))}] = {self.any_expr(e)}"]
        if k <= 24:
            if self.risky():
                return [f"put({self.key()}, {self.any_expr(e)})"]
            kind = self.num(0, 4)
            if kind == 0:
                return [f"put({self.pick(('n0', 'n1'))!r}, ({self.int_expr(e)}) % 1000003)"]
            if kind == 1:
                return [f"put('s0', {self.str_expr(e)})"]
            if kind == 2:
                return [f"put('b0', {self.bytes_expr(e)})"]
            if kind == 3:
                return [f"put('l0', {self.pick((self.int_list, self.str_list))(e)})"]
            return [f"put({self.pick(KEYS)}, {self.any_expr(e)})"]
        if k == 25:
            return [f"delete({self.key()})"]
        if k <= 27:
            return [f"emit({ascii(self.pick(TOPICS))}, " + ", ".join(self.any_expr(e) for _ in range(self.num(0, 3))) + ")"]
        if k == 28:
            return [f"require({self.bool_expr(e) if self.risky() else 'True'}, {self.str_lit()})"]
        if k == 29:
            return [f"if {self.bool_expr(e) if self.risky() else 'i0 == -12345'}:", f"    revert({self.str_expr(1)})"]
        if k <= 31:
            target = self.pick(self.targets + ("nope",)) if self.risky() else self.pick(self.targets)
            return [f"t0 = try_call(self_address(), {target!r}, {self.arg_exprs(e)})"]
        if k == 32:
            if self.risky():
                return [f"x{d} = call(self_address(), {self.pick(self.targets)!r}, {self.arg_exprs(e)})"]
            return ["if height() < 0:", f"    x{d} = call(self_address(), {self.pick(self.targets)!r}, 1, '', b'')"]
        if k == 33:
            n = self.pick(('0', '5', '20', 'i0 % 20')) if not self.risky() else self.pick(('31', '33', 'i0 % 40'))
            return [f"{iv} = _h0({n}, {self.int_expr(1)})"]
        if k == 34:
            n = self.pick(('1', '3')) if not self.risky() else self.pick(('7', '8', '9', '30'))
            return [f"t0 = _h1({n}, {'t0' if self.risky() else '(1, 2)'})"]
        if k == 35:
            if self.risky():
                return [f"transfer(sender(), {self.pick(('1', '0', 'value()', '10 ** 15'))})"]
            return ["if balance(self_address()) > 0:", "    transfer(sender(), 1)"]
        if k == 36:
            return [f"x{d} = ed25519_verify({self.bytes_expr(1)}, {self.bytes_expr(1)}, {self.bytes_expr(1)})"]
        if k == 37 and self.risky():  # conditionally bound: an UnboundLocalError when not taken
            return [f"if {self.bool_expr(1)}:", f"    u{d} = {self.int_expr(1)}", f"i1 = u{d}"]
        if k <= 39:
            return [f"x{d} = {self.any_expr(e)}", f"emit('x', x{d})"]
        return ["pass"]

    def compound(self, d: int) -> list[str]:
        k = self.num(0, 6)
        if k <= 1:
            lines = [f"if {self.bool_expr(2)}:", *_indent(self.block(d - 1))]
            if self.chance(0.5):
                lines += ["else:", *_indent(self.block(d - 1))]
            return lines
        if k <= 3:
            var = f"j{d}"
            bound = self.pick(("3", "10", "50", "i1 % 20", "len(l0)", "0", "200"))
            self.loop_vars.append((var, "int"))
            body = self.block(d - 1, loop=True)
            self.loop_vars.pop()
            return [f"for {var} in range({bound}):", *_indent(body)]
        if k == 4:
            var = f"e{d}"
            it = self.pick((self.list_expr, self.tuple_expr, self.str_expr, self.bytes_expr, self.dict_expr))(2)
            self.loop_vars.append((var, "any"))
            body = self.block(d - 1, loop=True)
            self.loop_vars.pop()
            return [f"for {var} in {it}:", *_indent(body)]
        if k == 5:
            var = f"k{d}"
            self.loop_vars.append((var, "any"))
            body = self.block(d - 1, loop=True)
            self.loop_vars.pop()
            target = f"{var}, v{d}" if self.chance(0.5) else var
            source = "d0.items()" if "," in target else self.pick(("d0.keys()", "enumerate(l0)", "list(d0)") +
                                                                    (("d0",) if self.risky() else ()))
            return [f"for {target} in {source}:", *_indent(body)]
        var = f"w{d}"
        self.loop_vars.append((var, "int"))
        body = self.block(d - 1, loop=True)
        self.loop_vars.pop()
        cond = f"{var} < {self.pick(('5', '30', 'i1 % 9'))}"
        if self.chance(0.4):
            cond += f" and {self.bool_expr(1)}"
        return [f"{var} = 0", f"while {cond}:", f"    {var} += 1", *_indent(body)]

    def block(self, d: int, loop: bool = False) -> list[str]:
        out: list[str] = []
        for _ in range(self.num(1, 4)):
            if loop and self.chance(0.08):
                out += [f"if {self.bool_expr(1)}:", f"    {self.pick(('break', 'continue'))}"]
            elif d > 0 and self.chance(0.3):
                out += self.compound(d)
            else:
                out += self.simple(d)
        return out

    def hostile(self) -> list[str]:
        """Snippets aimed at the metering: each must end in a receipt, quickly."""
        n = self.num(0, 22)
        if n == 0:  # deep tuple nesting in a loop (shape sharing)
            return ["t0 = ()", f"for j in range({self.num(6, 12)}):", "    t0 = (t0, t0, t0)", "emit('depth', len(t0))"]
        if n == 1:  # wide and nested: structurally equal, never identical
            w = self.num(100, 4000)
            return [f"t0 = (1,) * {w}", f"t1 = (1,) * {w}", f"for j in range({self.num(2, 8)}):",
                    "    t0 = (t0, t0)", "    t1 = (t1, t1)", "i0 = (t0 == t1)", "l0 = [t0, t1, t0]",
                    f"i1 = l0.count(t1) + len(sorted(l0)) + ({self.pick(('t1 in l0', 't0 < t1', 'max(l0) == t0'))})"]
        if n == 2:  # huge repetition
            return [f"s0 = 'ab' * {self.num(1000, 40000)}", f"b0 = b'\\x00' * {self.num(1000, 65536)}",
                    f"l0 = [0] * {self.num(1000, 65536)}", f"t0 = (s0,) * {self.num(10, 5000)}",
                    f"i0 = len(s0 * {self.pick(('2', '1', '100'))})"]
        if n == 3:  # big membership tests
            return [f"l0 = list(range({self.num(1000, 60000)}))",
                    f"i0 = ({self.pick(('-1', '59999', 'l0[-1]', 's0', '(1, 2)', 'b0'))} in l0)",
                    "t0 = tuple(l0)", "i1 = (-5 in t0) + (2 ** 200 in t0) + t0.count(7)"]
        if n == 4:  # worst-case substring search
            m = self.num(8, 70)
            return [f"s0 = 'a' * {self.num(10000, 65000)}", f"x = 'a' * {m - 1} + 'b'",
                    "i0 = (x in s0) + s0.count(x) + len(s0.startswith(x) * 'y')",
                    f"for j in range({self.num(1, 50)}):", "    i1 = i1 + (x in s0)"]
        if n == 5:  # bytes search and counts of single bytes
            return [f"b0 = b'\\x00' * {self.num(10000, 65536)}", "i0 = b0.count(0) + b0.count(b'\\x00\\x01')",
                    f"for j in range({self.num(1, 100)}):", "    i1 += (1 in b0) + (b'\\x01' in b0)"]
        if n == 6:  # dict keys at the int bound, many of them
            return ["d0 = {}", f"for j in range({self.num(100, 20000)}):",
                    f"    d0[{P61 - 1} - j * {self.pick(('1', str(P61 // 70000), '2 ** 40'))}] = j",
                    f"i0 = len(d0) + d0.get({P61 - 1}, 0)", f"d0[{P61}] = 1"]
        if n == 7:  # sorting long strings sharing a prefix
            return ["l0 = []", f"for j in range({self.num(50, 2000)}):",
                    f"    l0.append('p' * {self.num(100, 3000)} + str(j % 97))", "l0 = sorted(l0)",
                    "i0 = len(l0) + (l0[0] < l0[-1])", "l0 = sorted(l0, reverse=True)"]
        if n == 8:  # 256-bit arithmetic in a loop
            return ["i0 = 2 ** 255 - 1", f"for j in range({self.num(10, 3000)}):",
                    "    i1 = (i0 * (j % 2) + i0 // (j + 1)) % (2 ** 255)", "    i0 = (i0 ^ i1) - j",
                    "s0 = str(i0) * 100", "i1 = i0 ** 2"]
        if n == 9:  # deep recursion through a helper, and through try_call
            return [f"i0 = _h0({self.pick(('31', '32', '200', '100000'))}, 1)"]
        if n == 10:
            return [f"t0 = try_call(self_address(), {self.pick(self.targets)!r}, {self.pick(('i0', '1'))}, s0, b0)",
                    "t1 = try_call(self_address(), 'f0', 0, '', b'')"]
        if n == 11:  # mutating a dict while iterating it (a RuntimeError, outside try_call's list)
            return ["d0 = {1: 2, 3: 4}", "for k in d0:", "    d0[k * 10 + 1] = k"]
        if n == 12:  # list growing while iterated: bounded by gas and the memory bound
            return ["l0 = [1]", "for e in l0:", "    l0.append(e + 1)"]
        if n == 13:  # equal big keys that are not identical: uncharged hashing/compares?
            lit = "q" * self.num(500, 4000)
            return [f"d0 = {{{lit[:-1]!r} + 'q': 1}}", f"for j in range({self.num(100, 5000)}):",
                    f"    i0 += d0[{lit!r}]", f"    i1 += ({lit!r} in d0)"]
        if n == 14:  # event and storage bounds
            return [f"for j in range({self.num(1, 80)}):", f"    emit('e', b'x' * {self.pick(('10', '1000', '1030'))})",
                    f"put('big', b'y' * {self.pick(('65000', '65536', '70000'))})",
                    "put('deep', [[[[1]]]])", "put('deeper', [[[[[1]]]]])"]
        if n == 15:  # scan the contract's own storage repeatedly
            return ["for j in range(300):", "    put('k' + str(j), b'v' * 800)",
                    f"l0 = scan('k', {self.pick(('256', '100', '300'))})", "i0 = len(l0)"]
        if n == 16:  # big lists compared and sorted
            return [f"l0 = list(range({self.num(1000, 30000)}))", "l1 = list(l0)", "l1[-1] = -1",
                    "i0 = (l0 == l1) + (l0 < l1) + len(sorted(l0 + l1)) + len(reversed(l0))",
                    "i1 = max(l0) + min(l1) + len(zip(l0, l1)) + len(enumerate(l0))"]
        if n == 17:  # copies of a big dict
            return ["d0 = {}", f"for j in range({self.num(1000, 30000)}):", "    d0[j] = j",
                    "for j in range(20):", "    d1 = dict(d0)", "    l0 = d1.items()", "i0 = len(d1)"]
        if n == 18:  # slicing with extreme bounds and steps
            return ["l0 = list(range(1000))", "i0 = len(l0[2 ** 255:]) + len(l0[-(2 ** 255)::7])",
                    "s0 = 'xyz' * 1000", "s0 = s0[::-1][:: 2 ** 70]", "i1 = len(l0[::0])"]
        if n == 19:  # big shifts and powers around the bounds
            return ["i0 = (0 << 2 ** 255) + (1 >> 2 ** 255) + (1 ** (2 ** 255)) + ((-1) ** (2 ** 255 - 1))",
                    "i1 = 0 ** (2 ** 255)", "i0 = 2 ** 255 * 2 - 1", "i1 = -(2 ** 255) * 2 + 1", "i0 = i0 + 1"]
        if n == 20:  # range membership with wide values
            return ["r = range(-(2 ** 255), 2 ** 255, 3)", "i0 = (2 ** 254 in r) + (True in r) + ('x' in r)",
                    "i1 = r[2 ** 254] % 7", "i0 = len(r)"]
        if n == 21:  # a precompile over a long list
            return [f"l0 = [1] * {self.num(1000, 65536)}", "i0 = precompile('sum', l0)",
                    "i1 = precompile('sum', tuple(l0)) + precompile('sum', [2 ** 255, 2 ** 255])"]
        # non-ASCII text through the value model: shapes of str that is not ASCII
        return [f"s0 = '\\u00e9' * {self.num(100, 30000)}", "t0 = (s0, s0, s0)", "i0 = (t0 == (s0, s0, s0))",
                "l0 = [s0, s0 + 'x']", "i1 = l0.index(s0 + 'x') + s0.count('\\u00e9\\u00e9')", "put('u', s0)"]

    def escape(self) -> list[str]:
        """How the entry point `g` fails (or not): exceptions inside and outside the set that
        try_call turns into (0, reason)."""
        return self.pick((
            ["if height() < 0:", "    u = 1", "i1 = u"],  # UnboundLocalError
            ["d0 = {1: 2}", "for k in d0:", "    d0[k + 1] = k"],  # RuntimeError: dict changed size
            ["i0 = _h0(40, 1)"],  # LimitExceeded: frames
            ["i0 = 1 // (i0 - i0)"],  # ZeroDivisionError
            ["revert('no')"],
            ["l0 = [1]", "i0 = l0[5]"],  # IndexError
            ["i0 = {}['k']"],  # KeyError
            ["i0 = 'a' < 1"],  # TypeError
            ["t0 = try_call(self_address(), 'g', a + 1, s, bb)"],  # nested until the call-depth bound
            ["put('g', a)", "emit('g', a)"],
        ))

    def deploy_hostile(self) -> str | None:
        """Whole functions that test the compiler: deep blocks, language edges, newer syntax."""
        n = self.num(0, 9)
        if n == 0:
            depth = self.num(17, 23)  # CPython's limit of statically nested blocks is 20
            lines = [("    " * (i + 1)) + f"for q{i} in range(1):" for i in range(depth)]
            return "def deep():\n" + "\n".join(lines) + "\n" + "    " * (depth + 1) + "pass\n"
        if n == 1:
            depth = self.num(40, 50)
            return "def nest():\n    return " + "(" * depth + "1" + ")" * depth + "\n"
        if n == 2:
            depth = self.num(20, 50)
            return "def nest2():\n    return " + "-" * depth + "1 + " + "[" * 10 + "1" + "]" * 10 + "\n"
        if n == 3:
            return self.pick(("def gen[T](x):\n    return x\n", "type X = int\n", "def m(x):\n    match x:\n        case 1:\n            return 1\n",
                              "def fs():\n    return f\"{'a' 'b'}\"\n", "def w():\n    return 1if 1else 2\n",
                              "def w2():\n    return 0x1for\n", "def u():\n    return '\\N{BULLET}'\n",
                              "def u2():\n    return '\\ud800'\n", "def e():\n    return 1 is 1\n",
                              "def lit():\n    return 115792089237316195423570985008687907853269984665640564039457584007913129639936\n"))
        if n == 4:
            return "def many():\n" + "".join(f"    v{i} = {i}\n" for i in range(self.num(100, 2000))) + "    return v0\n"
        if n == 5:
            return "def chain():\n    return " + " < ".join(str(i) for i in range(self.num(2, 300))) + "\n"
        if n == 6:
            return "def ops():\n    return " + " + ".join("i" for _ in range(self.num(2, 3000))).replace("i", "1") + "\n"
        if n == 7:
            return "def kw():\n    return sorted([3, 1], key=len)\n"
        if n == 8:
            return "def bigstr():\n    return " + repr("z" * self.num(1000, 30000)) + "\n"
        return None


@st.composite
def programs(draw) -> dict:
    g = _Gen(draw)
    head = [f"K_STR = {g.str_lit()}", f"K_BYTES = {g.bytes_lit()}",
            f"K_T = (1, {g.str_lit()}, {g.bytes_lit()}, (2, (3, {g.int_lit(plain=True)})), ())",
            f"K_INT = {g.int_lit(plain=True)}", "",
            "def _h0(n, x):", "    if n <= 0:", "        return x",
            f"    return _h0(n - 1, {draw(st.sampled_from(('(x * 3 + n) % 1000003', 'x + n', 'x ^ (n << 200)', '-x')))})",
            "", "def _h1(n, t):", "    if n <= 0:", "        return t", "    return _h1(n - 1, (t, n))", ""]
    body_lines: list[str] = []
    entries = draw(st.integers(1, 3))
    with_g = g.chance(0.3)
    g.targets = ENTRIES[:entries] + (("g",) if with_g else ())
    for k in range(entries):
        lines = ["i0 = a", f"i1 = {g.int_lit()}", "s0 = s", "b0 = bb", "t0 = (a, s)", "l0 = [1, 2, 3]",
                 "d0 = {1: 'x', 'k': b'y'}"]
        if with_g and g.chance(0.5):
            lines.append(f"t0 = {g.pick(('try_call', 'try_call', 'call'))}(self_address(), 'g', i0 % 1000, s0, b0)")
        if g.chance(0.2):
            lines += g.hostile()
        lines += g.block(3)
        if g.chance(0.15):
            lines += g.hostile()
        ret = draw(st.integers(0, 9))
        if ret <= 3:
            lines.append(f"return {g.any_expr(2)}")
        elif ret <= 6:
            lines.append("return [i0 % 1000, i1 % 1000, s0[:20], b0[:20], len(l0), len(d0), len(t0)]")
        elif ret == 7:
            lines.append("return i0")  # may be wider than 64 bits: cannot leave the call
        elif ret == 8:
            lines.append(f"return {g.dict_expr(1) if g.chance(0.5) else 'None'}")
        body_lines += [f"def {ENTRIES[k]}(a, s, bb):", *_indent(lines), ""]
    if with_g:  # an entry point that fails in some way, for try_call and call to meet
        body = [g.block(1), g.escape()]
        if g.chance(0.5):
            body.reverse()
        lines = ["i0 = a", "i1 = 0", "s0 = s", "b0 = bb", "l0 = []", "d0 = {}", "t0 = ()", *body[0], *body[1],
                 "return i0 % 1000"]
        body_lines += ["def g(a, s, bb):", *_indent(lines), ""]
    extra = g.deploy_hostile() if g.chance(0.06) else None
    source = "\n".join(head + body_lines) + "\n" + (extra or "")
    calls = []
    for _ in range(draw(st.integers(1, 5))):
        fn = draw(st.sampled_from(g.targets)) if not g.risky() else draw(st.sampled_from(("nope", "_h0", "f0")))
        if not g.risky():
            args = [draw(st.integers(-1000, 10**6)), draw(st.text(max_size=6)), {"hex": draw(st.binary(max_size=6)).hex()}]
        elif g.chance(0.5):
            args = [draw(st.integers(-(1 << 63), (1 << 64) - 1)), draw(st.text(max_size=6)),
                    {"hex": draw(st.binary(max_size=40)).hex()}]
        else:
            args = draw(st.lists(st.integers(0, 9) | st.text(max_size=3) | st.lists(st.integers(0, 3), max_size=3),
                                 max_size=4))
        gas = draw(st.sampled_from((30_000, 200_000, 1_000_000, 1_000_000, 3_000_000)))
        value = 5 if g.risky() else 0
        calls.append([fn, args, gas, value])
    return {"source": source, "calls": calls}


def draw_programs(n: int, seed: int | None = None) -> list[dict]:
    """n distinct programs: derandomised (the same every run) unless a seed is given. Hypothesis
    repeats itself now and then (its generation phase mutates earlier examples), so it draws up
    to twice as many and keeps the first n distinct ones."""
    out: dict[str, dict] = {}

    @settings(max_examples=2 * n, derandomize=seed is None, database=None, deadline=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(programs())
    def collect(program: dict) -> None:
        if len(out) < n:
            out.setdefault(json.dumps(program, sort_keys=True), program)

    if seed is not None:
        collect = hypothesis_seed(seed)(collect)
    with _without_local_constants():
        collect()
    return list(out.values())


@contextlib.contextmanager
def _without_local_constants():
    """Hypothesis mixes in literals it finds in the project's modules imported so far, so the
    same seed would draw other programs after other imports (pytest's conftest, an earlier
    test): switched off while drawing, where the internals allow it."""
    try:
        from hypothesis.internal.conjecture import providers
        from hypothesis.internal.constants_ast import Constants

        original, cache = providers._get_local_constants, providers.CONSTANTS_CACHE.cache
    except (ImportError, AttributeError):  # another Hypothesis: draws may depend on imports
        yield
        return
    empty = Constants()
    providers._get_local_constants = lambda: empty
    cache.clear()
    try:
        yield
    finally:
        providers._get_local_constants = original
        cache.clear()


# --- the tests ---------------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _drawn(n: int) -> tuple[dict, ...]:
    return tuple(draw_programs(n))


@pytest.fixture(scope="session")
def other_pythons() -> tuple[list[str], list[str]]:
    """Venvs for the other interpreters (created once, cached); (pythons, reasons skipped)."""
    found, skipped = [], []
    for version, base in cv.other_interpreters().items():
        python, why = cv.ensure_venv(version, base)
        if python is None:
            skipped.append(f"CPython {version}: {why}")
        else:
            found.append(python)
    return found, skipped


def test_generated_programs_are_ascii_and_mostly_compile() -> None:
    """The grammar itself: the source is ASCII, and most programs deploy (otherwise the fuzzer
    would only exercise the compiler's rejections)."""
    import warnings

    from vm.compiler import compile_contract

    progs = _drawn(EXAMPLES)
    assert len(progs) == EXAMPLES
    ok = 0
    for p in progs:
        assert p["source"].isascii()
        try:
            with warnings.catch_warnings():  # CPython's "is" with a literal, say
                warnings.simplefilter("ignore")
                compile_contract(p["source"])
            ok += 1
        except Exception:  # noqa: BLE001 - CompileError, or CPython's own compiler refusing
            pass
    assert ok >= len(progs) * 0.6, f"only {ok}/{len(progs)} programs compile"


def test_fuzz_oracles(other_pythons, capsys) -> None:
    from ledger.receipts import Receipt

    others, skipped = other_pythons
    started = time.monotonic()
    progs = list(_drawn(EXAMPLES))
    drawn = time.monotonic() - started
    report = cv.fuzz(progs, pythons=[sys.executable, *others], batch_size=BATCH, jobs=2, decode=Receipt.decode)
    with capsys.disabled():
        print(f"\nfuzz: drew {len(progs)} programs in {drawn:.1f} s; {cv.summary(report)}")
    assert not report.failures, report.digest() + "\n(reduce one: save its last line to a file and run " \
        "python -m tests.vm.fuzz_runner --reduce FILE)"
    assert report.statuses.get("call ok", 0) >= 0.05 * report.calls, f"too few calls succeed: {report.statuses}"
    if skipped:
        pytest.skip("cross-version oracle not run: " + "; ".join(skipped))


# --- the oracles' own tests: faults injected through the runner's self-test hooks ---------------


def _marked(program: dict, marker: str) -> dict:
    return {**program, "source": program["source"] + f"# selftest: {marker}\n"}


def test_a_dying_runner_is_reported_with_the_program(monkeypatch) -> None:
    monkeypatch.setenv("POWNODE_FUZZ_SELFTEST", "1")
    progs = list(_drawn(EXAMPLES)[:5])
    progs[2] = _marked(progs[2], "segv at deploy")
    run = cv.run_batch(sys.executable, progs)
    assert run.died and run.returncode == -11 and run.running == 2, run.why()
    assert run.results[0] is not None and run.results[1] is not None and run.results[3] is None
    report = cv.Report()
    cv.check_crashes(report, [run])
    died = [f for f in report.failures if " died " in f]  # (other failures: the node's own bugs)
    assert len(died) == 1
    assert "killed by signal 11" in died[0] and "the single program" in died[0]
    assert "# selftest: segv at deploy" in died[0]


def test_a_hanging_runner_is_stopped_and_reported(monkeypatch) -> None:
    monkeypatch.setenv("POWNODE_FUZZ_SELFTEST", "1")
    progs = [_drawn(EXAMPLES)[0], _marked(_drawn(EXAMPLES)[1], "hang at call")]
    started = time.monotonic()
    run = cv.run_batch(sys.executable, progs, timeout=5)
    assert time.monotonic() - started < 30
    assert run.returncode is None and run.running == 1
    report = cv.Report()
    cv.check_crashes(report, [run], rerun=False)
    died = [f for f in report.failures if " died " in f]
    assert len(died) == 1 and "timed out after 5 s, while running program 1 of 2" in died[0]


def _fake_run(samples: list[tuple[int, float]]) -> cv.BatchRun:
    receipt = {"status": 0, "output": "", "reason": "", "events": [], "encoded": "", "roundtrip": True}
    results = [{"index": i, "receipts": [{**receipt, "gas_used": gas}], "times_us": [us], "python": "x"}
               for i, (gas, us) in enumerate(samples)]
    programs = [{"source": f"def f{i}():\n    pass\n", "calls": []} for i in range(len(samples))]
    return cv.BatchRun("python", programs, results, 0, "", 0.0, None)


def test_timing_oracle_flags_one_slow_call() -> None:
    normal = [(20_000 + 1000 * i, 0.05 * (20_000 + 1000 * i) * (1 + i % 3)) for i in range(20)]
    report = cv.Report()
    cv.check_timing(report, [_fake_run(normal + [(10_000, 10**6)])])  # below the gas floor: ignored
    assert not report.failures
    cv.check_timing(report, [_fake_run(normal + [(25_000, 25_000 * 0.1 * 310)])])
    assert len(report.failures) == 1 and "the deploy took 31.000 us/gas, 310x the median" in report.failures[0]


def test_cross_version_oracle_names_the_receipt() -> None:
    a, b = _fake_run([(30_000, 1.0)]), _fake_run([(30_000, 2.0)])
    report = cv.Report()
    cv.check_same(report, [a], [b])  # timings differ between runs: never compared
    assert not report.failures
    b.results[0] = {**b.results[0], "receipts": [{**b.results[0]["receipts"][0], "status": 1, "reason": "error: X"}]}
    assert not report.failures
    cv.check_same(report, [a], [b])
    assert len(report.failures) == 1 and "at the deploy (" in report.failures[0] and "reason 'error: X'" in report.failures[0]
