"""Run-time helpers the instrumented code calls: gas, integer bounds, the value model, safe
builtins.

Every helper checks its operand types itself: an operation outside the language (a float, a
set, comparing unlike types, str % formatting) raises, and the call fails with the exception's
class name as its reason (never its message, which differs between CPython versions). Every
operation whose native cost grows with its operands charges by their size (`vm.values` weights)
before it runs. Allocation is accounted per transaction (`Meter.memory`, monotone, never freed):
a simple, deterministic bound that stops memory bombs before they allocate.

`Ops` holds one transaction's meter and value shapes; `Ops.table()` is the `_vm_*` namespace the
compiled contract code sees, each entry a bound method that reads the same way: check operand
types, charge, operate.
"""

from __future__ import annotations

from operator import indexOf
from typing import Any, Callable, Iterable

from vm.errors import LimitExceeded, OutOfGas
from vm.gas import (CHAR_UNITS, COMPARE_BYTES, GAS, INT_BITS, INT_DIGIT_BITS, LIST_SHIFT_ITEMS, MAX_FRAMES,
                    MAX_ITEMS, MAX_MEMORY, SEARCH_NEEDLE_CAP, TUPLE_UNITS)
from vm.values import Shapes, is_key

BOUND = 1 << INT_BITS
_SEQ = (str, bytes, list, tuple)
_TEXT = (str, bytes)


class Meter:
    """Gas, allocation and frame depth for one transaction (shared by nested contract calls)."""

    __slots__ = ("gas", "limit", "memory", "frames")

    def __init__(self, gas_limit: int) -> None:
        self.gas = gas_limit
        self.limit = gas_limit
        self.memory = 0
        self.frames = 0

    @property
    def used(self) -> int:
        return self.limit - max(self.gas, 0)

    def charge(self, gas: int) -> None:
        self.gas -= gas
        if self.gas < 0:
            raise OutOfGas(f"out of gas (limit {self.limit})")

    def tick(self, gas: int, memory: int = 0) -> None:
        self.gas -= gas
        if self.gas < 0:
            raise OutOfGas(f"out of gas (limit {self.limit})")
        if memory:
            self.alloc(memory)

    def alloc(self, units: int) -> None:
        self.memory += units
        if self.memory > MAX_MEMORY:
            raise LimitExceeded(f"memory bound of {MAX_MEMORY} units exceeded")
        self.charge(GAS["alloc_item"] * units)

    def enter(self) -> None:
        """Called before a contract function's body; `leave` runs only once this returned, so
        a refused entry must not count."""
        if self.frames >= MAX_FRAMES:
            raise LimitExceeded(f"more than {MAX_FRAMES} nested function calls")
        self.charge(GAS["call"])
        self.frames += 1

    def leave(self) -> None:
        self.frames -= 1


def _int(v: Any) -> int:
    if type(v) is int:
        return v
    if type(v) is bool:
        return int(v)
    raise TypeError("integer expected")


def _bounded(r: int) -> int:
    if -BOUND < r < BOUND:
        return r
    raise LimitExceeded(f"integer overflow: result exceeds {INT_BITS} bits")


def _size(n: int) -> int:
    if n > MAX_ITEMS:
        raise LimitExceeded(f"sequence longer than {MAX_ITEMS}")
    return n


def _key(k: Any) -> Any:
    if is_key(k):
        return k
    raise TypeError("dict keys are int (|k| < 2**61 - 1), bool, bytes or str")


def int_units(magnitude: int) -> int:
    """Allocation units (words) of a new int object of at most this magnitude."""
    digits = max(1, -(-abs(magnitude).bit_length() // INT_DIGIT_BITS))
    return (24 + 4 * digits + 7) // 8


def str_units(n: int) -> int:
    """Allocation units (words) of str(n): an ASCII str is 49 bytes and one per character, and
    n has at most bit_length * log10(2) + 1 digits (77/256 > log10(2)), plus a sign."""
    digits = n.bit_length() * 77 // 256 + 2
    return (49 + digits + 7) // 8


def _int_or_bool(v: Any) -> bool:
    t = type(v)
    return t is int or t is bool


class Ops:
    """The `_vm_*` helpers and safe builtins of one transaction."""

    def __init__(self, meter: Meter) -> None:
        self.meter = meter
        self.charge = meter.charge
        self.alloc = meter.alloc
        self.shapes = Shapes(meter.charge, meter.alloc)

    # --- arithmetic ----------------------------------------------------------------------

    def add(self, a: Any, b: Any) -> Any:
        if type(a) is int and type(b) is int:
            r = a + b
            if -BOUND < r < BOUND:
                return r
            raise LimitExceeded(f"integer overflow: result exceeds {INT_BITS} bits")
        if type(a) is type(b) and type(a) in _SEQ:
            self.alloc(_size(len(a) + len(b)))
            return a + b  # elements of valid containers are valid; depth does not grow
        return _bounded(_int(a) + _int(b))

    def sub(self, a: Any, b: Any) -> int:
        if type(a) is int and type(b) is int:
            r = a - b
            if -BOUND < r < BOUND:
                return r
            raise LimitExceeded(f"integer overflow: result exceeds {INT_BITS} bits")
        return _bounded(_int(a) - _int(b))

    def mul(self, a: Any, b: Any) -> Any:
        if type(a) is int and type(b) is int:
            if a.bit_length() + b.bit_length() > INT_BITS + 1:
                raise LimitExceeded(f"integer overflow: result exceeds {INT_BITS} bits")
            return _bounded(a * b)
        if type(a) in _SEQ:
            a, b = b, a
        if type(b) in _SEQ:
            n = _int(a)
            self.alloc(_size(len(b) * max(n, 0)))
            return b * n
        return _bounded(_int(a) * _int(b))

    def floordiv(self, a: Any, b: Any) -> int:
        return _bounded(_int(a) // _int(b))

    def mod(self, a: Any, b: Any) -> int:
        return _int(a) % _int(b)  # |a % b| < |b|: no new bound needed; str % is a TypeError

    def pow(self, a: Any, b: Any) -> int:
        a, b = _int(a), _int(b)
        if b < 0:
            raise ValueError("negative exponent")
        if abs(a) > 1 and (a.bit_length() - 1) * b > INT_BITS:
            raise LimitExceeded(f"integer overflow: power exceeds {INT_BITS} bits")
        return _bounded(a**b)

    def lshift(self, a: Any, b: Any) -> int:
        a, b = _int(a), _int(b)
        if b < 0:
            raise ValueError("negative shift")
        if a and a.bit_length() + b > INT_BITS:
            raise LimitExceeded(f"integer overflow: shift exceeds {INT_BITS} bits")
        return _bounded(a << b)

    def rshift(self, a: Any, b: Any) -> int:
        a, b = _int(a), _int(b)
        if b < 0:
            raise ValueError("negative shift")
        return a >> min(b, INT_BITS + 1)

    def bitand(self, a: Any, b: Any) -> int:
        return _int(a) & _int(b)

    def bitor(self, a: Any, b: Any) -> int:
        return _int(a) | _int(b)

    def bitxor(self, a: Any, b: Any) -> int:
        return _bounded(_int(a) ^ _int(b))

    def invert(self, a: Any) -> int:
        return _bounded(~_int(a))

    # --- comparison and membership -------------------------------------------------------

    def _compare_cost(self, a: Any, b: Any) -> None:
        """Pay for comparing `a` with `b`: CPython stops at the smaller operand."""
        if _int_or_bool(a) or _int_or_bool(b) or a is None or b is None:
            return
        w = self.shapes.weight
        self.charge(GAS["compare_base"] + GAS["compare_unit"] * min(w(a), w(b)))

    def eq(self, a: Any, b: Any) -> bool:
        if type(a) is not int or type(b) is not int:
            self._compare_cost(a, b)
        return a == b

    def ne(self, a: Any, b: Any) -> bool:
        if type(a) is not int or type(b) is not int:
            self._compare_cost(a, b)
        return a != b

    def lt(self, a: Any, b: Any) -> bool:
        if type(a) is not int or type(b) is not int:
            self._compare_cost(a, b)
        return a < b

    def le(self, a: Any, b: Any) -> bool:
        if type(a) is not int or type(b) is not int:
            self._compare_cost(a, b)
        return a <= b

    def gt(self, a: Any, b: Any) -> bool:
        if type(a) is not int or type(b) is not int:
            self._compare_cost(a, b)
        return a > b

    def ge(self, a: Any, b: Any) -> bool:
        if type(a) is not int or type(b) is not int:
            self._compare_cost(a, b)
        return a >= b

    def _search_cost(self, haystack: Any, needle: Any) -> None:
        if type(needle) is not type(haystack):
            raise TypeError("substring search needs two str or two bytes")
        m = min(len(needle), SEARCH_NEEDLE_CAP)
        width = 1 if haystack.isascii() else 4  # bytes per character CPython compares
        self.charge(GAS["search_unit"] * (1 + width * (len(haystack) * m + len(needle)) // COMPARE_BYTES))

    def _scan_cost(self, seq: Any, item: Any) -> None:
        """Pay for comparing `item` with each element of a list or tuple."""
        self.charge(GAS["compare_unit"] * min(self.shapes.weight(seq), len(seq) * self.shapes.weight(item)))

    def contains(self, item: Any, container: Any) -> bool:
        """`item in container` (the compiler passes the operands in source order)."""
        t = type(container)
        if t is dict:
            if not is_key(item):
                if type(item) is list or type(item) is dict:
                    raise TypeError("unhashable type")
                return False  # no key of another type (or a wider int) can be present
            self._key_cost(item)
            return item in container
        if t is list or t is tuple:
            self._scan_cost(container, item)
            return item in container
        if t is str or t is bytes:
            if type(item) is int and t is bytes:
                self.charge(1 + len(container) // COMPARE_BYTES)  # a byte value: one memchr
                return item in container
            self._search_cost(container, item)
            return item in container
        if t is range:
            # range's fast path takes exact ints only; anything else would be found by iterating
            # the whole range, and no non-int value equals a range element.
            return _int(item) in container if _int_or_bool(item) else False
        raise TypeError("'in' needs a list, tuple, dict, str, bytes or range")

    def not_contains(self, item: Any, container: Any) -> bool:
        return not self.contains(item, container)

    # --- subscripts ----------------------------------------------------------------------

    def _key_cost(self, key: Any) -> None:
        """Pay for hashing a str/bytes key and comparing it with an equal stored key (CPython
        compares the bytes unless both are the same object)."""
        t = type(key)
        if t is str or t is bytes:
            self.charge(GAS["compare_unit"] * self.shapes.weight(key))

    def _paid_key(self, key: Any) -> Any:
        """`key` checked and paid for as a dict store pays (displays, dict(), setitem)."""
        key = _key(key)
        self._key_cost(key)
        return key

    def getitem(self, obj: Any, key: Any) -> Any:
        t = type(key)
        if t is int or t is bool:
            return obj[key]
        if (t is str or t is bytes) and type(obj) is dict:
            self._key_cost(key)
            return obj[key]
        raise TypeError("an index is an int; a dict key is int, bool, bytes or str")

    def slice(self, obj: Any, lo: Any, hi: Any, step: Any) -> Any:
        if type(obj) not in _SEQ:
            raise TypeError("slice of a non-sequence")
        for bound in (lo, hi, step):
            if bound is not None and not _int_or_bool(bound):
                raise TypeError("slice bounds are integers")
        out = obj[lo:hi:step]
        self.alloc(len(out))
        return out

    def setitem(self, obj: Any, key: Any, value: Any) -> None:
        if type(obj) is dict:
            key = self._paid_key(key)
            value = self.shapes.element(value)
            if key not in obj:
                _size(len(obj) + 1)
                self.alloc(1)
            obj[key] = value
        elif type(obj) is list:
            if not _int_or_bool(key):
                raise TypeError("list indices are integers")
            obj[key] = self.shapes.element(value)
        else:
            raise TypeError("item assignment only into a list or dict")

    def delitem(self, obj: Any, key: Any) -> None:
        if type(obj) is dict:
            self._key_cost(_key(key))
            del obj[key]
        elif type(obj) is list:
            if not _int_or_bool(key):
                raise TypeError("list indices are integers")
            self._shift(obj)
            del obj[key]
        else:
            raise TypeError("del only from a list or dict")

    def _shift(self, obj: list) -> None:
        self.charge(GAS["list_shift"] * (1 + len(obj) // LIST_SHIFT_ITEMS))

    # --- displays ------------------------------------------------------------------------

    def make_list(self, *items: Any) -> list:
        return self.shapes.elements(items)

    def make_tuple(self, *items: Any) -> tuple:
        return self.shapes.tuple_of(items)

    def make_dict(self, *flat: Any) -> dict:
        """`{k0: v0, k1: v1}` compiles to make_dict(k0, v0, k1, v1): Python's evaluation order."""
        out: dict = {}
        element = self.shapes.element
        for i in range(0, len(flat), 2):
            out[self._paid_key(flat[i])] = element(flat[i + 1])
        return out

    # --- safe builtins -------------------------------------------------------------------

    def bounded_list(self, items: Iterable[Any]) -> list:
        """A list of an iterable's elements, paid for before it is built: a slot per element,
        and the objects made for them: an int per element of a range (as wide as its widest
        bound), a str per character of a non-ASCII str (bytes give ints CPython shares)."""
        t = type(items)
        if t is list or t is tuple or t is dict or t is bytes or (t is str and items.isascii()):
            self.alloc(_size(len(items)))
            return list(items)  # elements of a valid container (keys of a dict) are valid
        if t is str:
            self.alloc(_size(len(items)) * (1 + CHAR_UNITS))
            return list(items)
        if t is not range:
            raise TypeError("expected a list, tuple, dict, str, bytes or range")
        self.alloc(_size(len(items)) * (1 + int_units(max(abs(items.start), abs(items.stop)))))
        return list(items)

    def _rows(self, n: int, width: int) -> None:
        """Pay for a list of `n` new tuples of `width` items (enumerate, zip, items)."""
        self.alloc(n * (1 + TUPLE_UNITS + width))

    def _sort_cost(self, items: list) -> None:
        n = len(items)
        if n < 2:
            return
        self.charge(n)  # finding the heaviest element
        heaviest = max(self.shapes.weight(x) for x in items)
        self.charge(GAS["compare_unit"] * n * n.bit_length() * heaviest)

    def b_len(self, v: Any) -> int:
        if type(v) not in (list, tuple, dict, str, bytes, range):
            raise TypeError("len() of a list, tuple, dict, str, bytes or range")
        return len(v)

    def b_range(self, *a: Any) -> range:
        return range(*[_int(x) for x in a])

    def b_abs(self, x: Any) -> int:
        return abs(_int(x))

    def b_bool(self, x: Any = False) -> bool:
        return bool(x)  # every VM type's truth is O(1)

    def b_divmod(self, a: Any, b: Any) -> tuple:
        return (self.floordiv(a, b), self.mod(a, b))

    def _extreme(self, pick: Callable[..., Any], a: tuple) -> Any:
        if not a:
            raise TypeError("min()/max() need arguments")
        items = self.bounded_list(a[0]) if len(a) == 1 else list(a)
        if len(items) > 1:
            self.charge(len(items))
            self.charge(GAS["compare_unit"] * len(items) * max(self.shapes.weight(x) for x in items))
        return pick(items)

    def b_min(self, *a: Any) -> Any:
        return self._extreme(min, a)

    def b_max(self, *a: Any) -> Any:
        return self._extreme(max, a)

    def b_list(self, items: Any = ()) -> list:
        return self.bounded_list(items)

    def b_tuple(self, items: Any = ()) -> tuple:
        items = self.bounded_list(items)
        self.alloc(TUPLE_UNITS + len(items))
        return self.shapes.tuple_of(items)

    def b_dict(self, items: Any = ()) -> dict:
        if type(items) is dict:
            self.alloc(_size(len(items)))
            return dict(items)
        pairs = self.bounded_list(items)
        out: dict = {}
        element = self.shapes.element
        for pair in pairs:
            if type(pair) is not tuple or len(pair) != 2:
                raise TypeError("dict() takes (key, value) pairs")
            out[self._paid_key(pair[0])] = element(pair[1])
        return out

    def b_sorted(self, items: Any, reverse: Any = False) -> list:
        out = self.bounded_list(items)
        self._sort_cost(out)
        out.sort(reverse=bool(reverse))
        return out

    def b_reversed(self, items: Any) -> list:
        return self.bounded_list(items)[::-1]

    def b_enumerate(self, items: Any) -> list:
        items = self.bounded_list(items)
        self._rows(len(items), 2 + int_units(len(items)))  # each row's index is a new int too
        tuple_of = self.shapes.tuple_of
        return [tuple_of((i, x)) for i, x in enumerate(items)]

    def b_zip(self, *its: Any) -> list:
        self.charge(GAS["call"] * len(its))  # a list built per column, a helper call each
        columns = [self.bounded_list(i) for i in its]
        self._rows(min(map(len, columns), default=0), len(columns))
        tuple_of = self.shapes.tuple_of
        return [tuple_of(row) for row in zip(*columns)]

    def b_str(self, v: Any = "") -> str:
        if type(v) is str:
            return v
        n = _int(v)  # ints only: 256-bit values print in at most 78 digits
        self.alloc(str_units(n))
        return str(n)

    # --- methods -------------------------------------------------------------------------

    def _method(self, obj: Any, kinds: tuple[type, ...]) -> None:
        if type(obj) not in kinds:
            raise TypeError("method not available on this type")
        self.charge(GAS["method"])

    def m_append(self, obj: Any, v: Any) -> None:
        self._method(obj, (list,))
        _size(len(obj) + 1)
        self.alloc(1)
        obj.append(self.shapes.element(v))

    def m_extend(self, obj: Any, items: Any) -> None:
        self._method(obj, (list,))
        more = self.bounded_list(items)
        _size(len(obj) + len(more))
        obj.extend(self.shapes.elements(more))

    def m_insert(self, obj: Any, i: Any, v: Any) -> None:
        self._method(obj, (list,))
        _size(len(obj) + 1)
        self.alloc(1)
        self._shift(obj)
        obj.insert(_int(i), self.shapes.element(v))

    def m_pop(self, obj: Any, *a: Any) -> Any:
        self._method(obj, (list, dict))
        if type(obj) is list:
            if a and not _int_or_bool(a[0]):
                raise TypeError("list indices are integers")
            self._shift(obj)
            return obj.pop(*a)
        if not a:
            raise TypeError("dict.pop() needs a key")
        self._key_cost(_key(a[0]))
        return obj.pop(a[0], *a[1:])

    def _find(self, obj: Any, item: Any) -> None:
        if type(obj) is str or type(obj) is bytes:
            if type(item) is int and type(obj) is bytes:
                self.charge(1 + len(obj) // COMPARE_BYTES)
            else:
                self._search_cost(obj, item)
        else:
            self._scan_cost(obj, item)

    def m_index(self, obj: Any, item: Any) -> int:
        """list.index() would format repr() of a missing item into its error, work on every
        slot of the item (tuples share theirs: a few units can stand for 64**8 slots) that
        nothing pays for; operator.indexOf finds the same element and says only that it failed."""
        self._method(obj, _SEQ)
        self._find(obj, item)
        if type(obj) is list or type(obj) is tuple:
            return indexOf(obj, item)
        return obj.index(item)

    def m_count(self, obj: Any, item: Any) -> int:
        self._method(obj, _SEQ)
        self._find(obj, item)
        return obj.count(item)

    def m_get(self, obj: Any, key: Any, default: Any = None) -> Any:
        self._method(obj, (dict,))
        if not is_key(key):
            return default if type(key) in (int, tuple, type(None)) else _key(key)
        self._key_cost(key)
        return obj.get(key, default)

    def m_keys(self, obj: Any) -> list:
        self._method(obj, (dict,))
        self.alloc(len(obj))
        return list(obj.keys())

    def m_values(self, obj: Any) -> list:
        self._method(obj, (dict,))
        self.alloc(len(obj))
        return list(obj.values())

    def m_items(self, obj: Any) -> list:
        self._method(obj, (dict,))
        self._rows(len(obj), 2)
        tuple_of = self.shapes.tuple_of
        return [tuple_of(pair) for pair in obj.items()]

    def _affix(self, obj: Any, affix: Any) -> None:
        """startswith/endswith take one str or bytes like `obj` (no tuple of candidates)."""
        self._method(obj, _TEXT)
        if type(affix) is not type(obj):
            raise TypeError("startswith()/endswith() take one affix of the same type")
        self.charge(self.shapes.weight(affix))

    def m_startswith(self, obj: Any, prefix: Any) -> bool:
        self._affix(obj, prefix)
        return obj.startswith(prefix)

    def m_endswith(self, obj: Any, suffix: Any) -> bool:
        self._affix(obj, suffix)
        return obj.endswith(suffix)

    def m_hex(self, obj: Any) -> str:
        self._method(obj, (bytes,))
        self.alloc(2 * len(obj))
        return obj.hex()

    # --- the namespace -------------------------------------------------------------------

    def table(self) -> dict[str, Callable[..., Any]]:
        """The names compiled code calls: `_vm_<helper>` and the safe builtins."""
        meter = self.meter
        out: dict[str, Callable[..., Any]] = {"_vm_tick": meter.tick, "_vm_enter": meter.enter,
                                               "_vm_leave": meter.leave}
        for name in HELPERS:
            out["_vm_" + name] = getattr(self, _ATTR.get(name, name))
        for name in BUILTINS:
            out[name] = getattr(self, "b_" + name)
        return out


# Helper names as the compiler emits them (`_vm_<name>`), and the method behind each when the
# name is a Python keyword or builtin.
_ATTR = {"and": "bitand", "or": "bitor", "xor": "bitxor", "list": "make_list", "tuple": "make_tuple",
         "dict": "make_dict", "in": "contains", "not_in": "not_contains"}
HELPERS = ("add", "sub", "mul", "floordiv", "mod", "pow", "lshift", "rshift", "and", "or", "xor", "invert",
           "eq", "ne", "lt", "le", "gt", "ge", "in", "not_in", "getitem", "slice", "setitem", "delitem",
           "list", "tuple", "dict",
           "m_append", "m_extend", "m_insert", "m_pop", "m_index", "m_count", "m_get", "m_keys", "m_values",
           "m_items", "m_startswith", "m_endswith", "m_hex")
BUILTINS = ("len", "range", "min", "max", "abs", "list", "dict", "tuple", "str", "enumerate", "zip", "sorted",
            "reversed", "divmod", "bool")
