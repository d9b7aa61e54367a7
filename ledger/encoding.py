"""Canonical encoding: the one way anything hashed or signed is turned into bytes.

A record is a msgpack array of its fields in declaration order (never a map), and a field is an
integer, a byte string, a UTF-8 string, a nested record or a bounded list of those. Floats, maps,
nil, booleans and extension types never appear. Decoding is strict: it rejects oversized input
before parsing, trailing bytes, wrong arity, out-of-range values, and any byte string that is
well-formed msgpack but not the unique encoding the packer would produce (checked by
re-encoding), so that equal values always have equal bytes and equal hashes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import operator
from typing import Any, ClassVar, TypeVar

import msgpack

from ledger.errors import (
    ArityError,
    DecodeError,
    FieldTypeError,
    FloatRejectedError,
    MapRejectedError,
    NonCanonicalError,
    OversizeError,
    RangeError,
    TrailingBytesError,
)

DEFAULT_MAX_SIZE = 1 << 20


def _type_error(value: Any, where: str, expected: str) -> DecodeError:
    """The specific error for a value of the wrong type (floats and maps get their own)."""
    if isinstance(value, float):
        return FloatRejectedError(f"{where}: floats are not allowed in canonical data")
    if isinstance(value, dict):
        return MapRejectedError(f"{where}: maps are not allowed, expected {expected}")
    return FieldTypeError(f"{where}: expected {expected}, got {type(value).__name__}")


class cached_property:  # noqa: N801 - a drop-in for functools.cached_property
    """A value computed on first access and stored in the instance `__dict__`, after which the
    attribute lookup finds it there and never calls this descriptor again.

    functools.cached_property does the same but takes a lock on every first access in Python
    3.11 (the lock was removed in 3.12); records are created by the hundred thousand on the
    node's hot paths, and are never shared between threads while they are being built.
    """

    def __init__(self, func: Any) -> None:
        self.func = func
        self.name = func.__name__
        self.__doc__ = func.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        value = instance.__dict__[self.name] = self.func(instance)
        return value


class Codec:
    """How one field is checked on the way in and shaped on the way out."""

    PLAIN = False  # True when wire() is the identity (the Python value is its own wire form)

    def check(self, value: Any, where: str) -> Any:
        """Validate a decoded wire value and return the Python value for the field."""
        raise NotImplementedError

    def wire(self, value: Any) -> Any:
        """The msgpack-ready form of a Python field value."""
        return value

    def accepts(self, var: str) -> str | None:
        """Source of an expression over the wire value named `var` which, when true, guarantees
        that `check` would return that value itself: a record's generated decoder tests it
        inline and calls `check` only when it is false (to convert the value, or to raise the
        exact error). None: always call `check`."""
        return None


class UInt(Codec):
    PLAIN = True

    def __init__(self, bits: int) -> None:
        self.bits = bits
        self.max = (1 << bits) - 1

    def check(self, value: Any, where: str) -> int:
        if type(value) is not int:
            raise _type_error(value, where, f"uint{self.bits}")
        if value < 0 or value > self.max:
            raise RangeError(f"{where}: {value} is outside uint{self.bits}")
        return value

    def accepts(self, var: str) -> str:
        return f"type({var}) is int and 0 <= {var} <= {self.max}"


class SInt(Codec):
    PLAIN = True

    def __init__(self, bits: int) -> None:
        self.bits = bits
        self.min = -(1 << (bits - 1))
        self.max = (1 << (bits - 1)) - 1

    def check(self, value: Any, where: str) -> int:
        if type(value) is not int:
            raise _type_error(value, where, f"int{self.bits}")
        if value < self.min or value > self.max:
            raise RangeError(f"{where}: {value} is outside int{self.bits}")
        return value

    def accepts(self, var: str) -> str:
        return f"type({var}) is int and {self.min} <= {var} <= {self.max}"


class Bin(Codec):
    """A byte string of exactly `size` bytes, or of `min_len`..`max_len` bytes."""

    PLAIN = True

    def __init__(self, size: int | None = None, *, min_len: int = 0, max_len: int = 1 << 16) -> None:
        self.min_len = size if size is not None else min_len
        self.max_len = size if size is not None else max_len

    def check(self, value: Any, where: str) -> bytes:
        if type(value) is not bytes:
            raise _type_error(value, where, "bytes")
        if not self.min_len <= len(value) <= self.max_len:
            raise RangeError(f"{where}: {len(value)} bytes, expected {self.min_len}..{self.max_len}")
        return value

    def accepts(self, var: str) -> str:
        if self.min_len == self.max_len:
            return f"type({var}) is bytes and len({var}) == {self.max_len}"
        return f"type({var}) is bytes and {self.min_len} <= len({var}) <= {self.max_len}"


class Text(Codec):
    """A UTF-8 string of at most `max_bytes` encoded bytes."""

    PLAIN = True

    def __init__(self, max_bytes: int, *, min_len: int = 0) -> None:
        self.max_bytes = max_bytes
        self.min_len = min_len

    def check(self, value: Any, where: str) -> str:
        if type(value) is not str:
            raise _type_error(value, where, "str")
        # A str of n code points has at most 4n UTF-8 bytes: skip the encode when that fits.
        size = len(value) if len(value) * 4 <= self.max_bytes and self.min_len <= 1 else len(value.encode("utf-8"))
        if not self.min_len <= size <= self.max_bytes:
            raise RangeError(f"{where}: {size} UTF-8 bytes, expected {self.min_len}..{self.max_bytes}")
        return value

    def accepts(self, var: str) -> str:
        # n code points encode to n..4n UTF-8 bytes: within the bounds whatever they are.
        return f"type({var}) is str and {self.min_len} <= len({var}) and len({var}) * 4 <= {self.max_bytes}"


class ListOf(Codec):
    """A list of at most `max_items` elements of one codec; stored as a tuple (immutable)."""

    def __init__(self, item: Codec, max_items: int) -> None:
        self.item = item
        self.max_items = max_items

    def check(self, value: Any, where: str) -> tuple:
        if type(value) is not list:
            raise _type_error(value, where, "array")
        if len(value) > self.max_items:
            raise RangeError(f"{where}: {len(value)} items, at most {self.max_items}")
        check = self.item.check
        return tuple([check(v, where) for v in value])

    def wire(self, value: Any) -> list:
        w = self.item.wire
        return [w(v) for v in value]


class Nested(Codec):
    """A field holding another record."""

    def __init__(self, cls: type["Record"]) -> None:
        self.cls = cls

    def check(self, value: Any, where: str) -> "Record":
        return self.cls.from_wire(value, where)

    def wire(self, value: "Record") -> list:
        return value.to_wire()


class Value(Codec):
    """A generic canonical value: int64/uint64 integer, bytes, str, or a list of values.

    Used where the shape is defined by someone else (contract call arguments), with bounds on
    nesting depth and list length so a hostile value cannot exhaust the decoder.
    """

    INT_MIN = -(1 << 63)
    INT_MAX = (1 << 64) - 1

    def __init__(self, max_depth: int = 4, max_items: int = 256, max_len: int = 4096) -> None:
        self.max_depth = max_depth
        self.max_items = max_items
        self.max_len = max_len

    def check(self, value: Any, where: str, depth: int = 0) -> Any:
        t = type(value)
        if t is int:
            if not self.INT_MIN <= value <= self.INT_MAX:
                raise RangeError(f"{where}: integer outside the 64-bit range")
            return value
        if t is bytes or t is str:
            if len(value) > self.max_len:
                raise RangeError(f"{where}: longer than {self.max_len}")
            return value
        if t is list:
            if depth >= self.max_depth or len(value) > self.max_items:
                raise RangeError(f"{where}: list too deep or too long")
            return tuple([self.check(v, where, depth + 1) for v in value])
        raise _type_error(value, where, "int, bytes, str or array")

    def wire(self, value: Any) -> Any:
        if type(value) is tuple or type(value) is list:
            return [self.wire(v) for v in value]
        return value


class Tagged(Codec):
    """A tagged union: wire form `[tag, [fields...]]`, the tag selecting the record class."""

    def __init__(self, variants: dict[int, type["Record"]]) -> None:
        self.by_tag = dict(variants)
        self.by_cls = {cls: tag for tag, cls in variants.items()}

    def check(self, value: Any, where: str) -> "Record":
        if type(value) is not list:
            raise _type_error(value, where, "[tag, body]")
        if len(value) != 2:
            raise ArityError(f"{where}: tagged value needs 2 items, got {len(value)}")
        tag, body = value
        if type(tag) is not int:
            raise _type_error(tag, f"{where}.tag", "int")
        cls = self.by_tag.get(tag)
        if cls is None:
            raise RangeError(f"{where}: unknown tag {tag}")
        return cls.from_wire(body)

    def wire(self, value: "Record") -> list:
        return [self.by_cls[type(value)], value.to_wire()]

    def tag_of(self, value: "Record") -> int:
        return self.by_cls[type(value)]

    def tag_of_cls(self, cls: type["Record"]) -> int:
        return self.by_cls[cls]


# Common field types.
U8, U16, U32, U64 = UInt(8), UInt(16), UInt(32), UInt(64)
I64 = SInt(64)
HASH = Bin(32)
PUBKEY = Bin(32)
SIGNATURE = Bin(64)
ADDRESS = Bin(20)


R = TypeVar("R", bound="Record")


class Record:
    """Base of every canonical record. Subclasses are made with `@record` and declare `SCHEMA`.

    `encoded` and `hash` are computed once and cached on the instance (frozen dataclasses allow
    `cached_property`, which writes the instance dict directly): re-encoding a transaction at
    every hop would dominate the node's profile.
    """

    SCHEMA: ClassVar[dict[str, Codec]]
    MAX_SIZE: ClassVar[int] = DEFAULT_MAX_SIZE
    _names: ClassVar[tuple[str, ...]]
    _codecs: ClassVar[tuple[Codec, ...]]
    _wheres: ClassVar[tuple[str, ...]]  # "Class.field", prebuilt so success costs no formatting

    def to_wire(self) -> list:
        """The msgpack-ready list of fields. Treat it as read-only: a decoded record returns the
        wire object it was checked from (and a parent's wire shares its children's)."""
        wire = self.__dict__.get("_wire")
        return self._build_wire() if wire is None else wire

    def _build_wire(self) -> list:
        return [c.wire(getattr(self, n)) for n, c in zip(self._names, self._codecs)]

    @classmethod
    def _generic_from_wire(cls: type[R], obj: Any, where: str | None = None) -> R:
        """Validate a decoded array field by field and build the record.

        `@record` gives each class a `from_wire` generated from its schema (`_decoder_source`)
        that does exactly this with each field's usual case tested inline; this generic one is
        its specification (the tests compare the two) and its path for a malformed array.
        The instance is filled directly rather than through the frozen dataclass `__init__`
        (which pays an `object.__setattr__` per field): decoding is on every hot path.
        """
        if type(obj) is not list:
            raise _type_error(obj, where or cls.__name__, f"{cls.__name__} array")
        if len(obj) != len(cls._codecs):
            raise ArityError(f"{where or cls.__name__}: expected {len(cls._codecs)} fields, got {len(obj)}")
        rec = cls.__new__(cls)
        rec.__dict__.update(zip(cls._names, [c.check(v, w) for c, v, w in zip(cls._codecs, obj, cls._wheres)]))
        rec.__dict__["_wire"] = obj  # checked field by field: packing it again gives `encoded` in C
        return rec

    from_wire = _generic_from_wire  # replaced per class by `@record`

    @cached_property
    def encoded(self) -> bytes:
        return pack(self.to_wire())

    @cached_property
    def hash(self) -> bytes:
        return hashlib.sha256(self.encoded).digest()

    @classmethod
    def decode(cls: type[R], data: bytes, *, max_size: int | None = None) -> R:
        obj = unpack(data, max_size=max_size or cls.MAX_SIZE)
        rec = cls.from_wire(obj)
        # Re-packing the parsed wire object (in C) gives the canonical bytes of the same value;
        # from_wire has checked every leaf's type, so a difference is a non-minimal header.
        if pack(obj) != data:
            raise NonCanonicalError(f"{cls.__name__}: bytes are not the canonical encoding")
        rec.__dict__["encoded"] = bytes(data)
        return rec

    def replace(self: R, **changes: Any) -> R:
        return dataclasses.replace(self, **changes)


def record(cls: type[R]) -> type[R]:
    """Make `cls` a frozen dataclass whose wire order is its `SCHEMA` order (checked here)."""
    cls = dataclasses.dataclass(frozen=True)(cls)
    names = tuple(f.name for f in dataclasses.fields(cls))
    if names != tuple(cls.SCHEMA):
        raise TypeError(f"{cls.__name__}: fields {names} do not match SCHEMA {tuple(cls.SCHEMA)}")
    cls._names = names
    cls._codecs = tuple(cls.SCHEMA.values())
    cls._wheres = tuple(f"{cls.__name__}.{n}" for n in names)
    namespace: dict[str, Any] = {}
    exec(_decoder_source(cls), {"codecs": cls._codecs, "wheres": cls._wheres}, namespace)  # noqa: S102
    cls.from_wire = classmethod(namespace["from_wire"])  # type: ignore[assignment]
    if all(c.PLAIN for c in cls._codecs):  # every field is its own wire form: skip the codecs
        if len(names) == 1:
            cls._build_wire = lambda self, _n=names[0]: [getattr(self, _n)]  # type: ignore[method-assign]
        else:
            get = operator.attrgetter(*names)
            cls._build_wire = lambda self: list(get(self))  # type: ignore[method-assign]
        # Its fields are its wire: pack them straight (an account is encoded on every write, and
        # the generic path through to_wire costs three more calls than the packing).
        build = cls._build_wire
        encoded = cached_property(lambda self: _PACK(build(self)))
        encoded.name = "encoded"
        cls.encoded = encoded  # type: ignore[assignment]
    return cls


def _decoder_source(cls: type[Record]) -> str:
    """Source of `cls.from_wire` unrolled over its fields: a field whose codec `accepts` its
    value inline costs a type and bounds test, not a method call (decoding a transaction took
    4.5 us through the generic loop, most of it calling `check` eight times). Anything else
    goes through the same `check` calls as the generic decoder, so errors are identical.
    Generated from the class's own schema only: no outside text reaches `exec`."""
    count = len(cls._codecs)
    values = [f"v{i}" for i in range(count)]
    lines = [
        "def from_wire(cls, obj, where=None):",
        f"    if type(obj) is not list or len(obj) != {count}:",
        "        return cls._generic_from_wire(obj, where)",
        f"    {', '.join(values)}, = obj",
    ]
    for i, codec in enumerate(cls._codecs):
        test = codec.accepts(values[i])
        call = f"{values[i]} = codecs[{i}].check({values[i]}, wheres[{i}])"
        lines.append(f"    if not ({test}): {call}" if test else f"    {call}")
    fields = ", ".join(f"{name!r}: {value}" for name, value in zip(cls._names, values))
    lines += [
        "    rec = cls.__new__(cls)",
        f"    rec.__dict__.update({{{fields}, '_wire': obj}})",
        "    return rec",
    ]
    return "\n".join(lines) + "\n"


def _reject_ext(code: int, data: bytes) -> Any:
    raise FieldTypeError(f"msgpack extension type {code} is not allowed")


# One packer for the process: `msgpack.packb` builds a Packer per call, which is most of the cost
# of packing a small record (about 0.44 us of 0.54 here, and the node packs a dozen per
# transaction). Sharing it is safe: the C Packer packs a whole object holding the GIL (we pass no
# `default` hook, so no Python code runs in between) and empties its buffer on success and on
# error. The pure-Python fallback has no such guarantee, so without the C extension each call
# gets its own Packer as before.
_PACK = (msgpack.Packer(use_bin_type=True).pack if msgpack.Packer.__module__ == "msgpack._cmsgpack"
         else lambda obj: msgpack.packb(obj, use_bin_type=True))


def pack(obj: Any) -> bytes:
    """Encode an already-canonical wire object (lists, ints, bytes, str)."""
    return _PACK(obj)


# A msgpack array's header in the shortest form, as `pack` writes it before the elements.
pack_array_header = msgpack.Packer(use_bin_type=True).pack_array_header


def pack_encoded(items: list[bytes]) -> bytes:
    """`pack` of a list from its elements' encodings: a msgpack array is its header followed by
    its elements' encodings, so the bytes are those of packing the elements' wire forms. For
    records that hold others whose `encoded` is already known (a block's transactions), where
    building and packing their wire forms again costs several times as much."""
    return pack_array_header(len(items)) + b"".join(items)


def unpack(data: bytes, *, max_size: int = DEFAULT_MAX_SIZE) -> Any:
    """Parse msgpack strictly: size bound first, then no trailing bytes, no extension types."""
    if type(data) is not bytes:
        if isinstance(data, (bytearray, memoryview)):
            data = bytes(data)
        else:
            raise FieldTypeError(f"expected bytes to decode, got {type(data).__name__}")
    if len(data) > max_size:
        raise OversizeError(f"{len(data)} bytes exceeds the limit of {max_size}")
    try:
        return msgpack.unpackb(
            data,
            raw=False,
            use_list=True,
            strict_map_key=True,
            ext_hook=_reject_ext,
        )
    except msgpack.ExtraData as exc:
        raise TrailingBytesError(f"{len(data)} bytes hold one value and trailing bytes") from exc
    except DecodeError:
        raise
    except (ValueError, msgpack.UnpackException, RecursionError) as exc:
        raise DecodeError(f"not valid msgpack: {exc}") from exc


def unpack_bin_list(data: bytes, *, max_items: int, max_len: int, max_size: int) -> list[bytes]:
    """A msgpack array of byte strings (a gossip batch of encoded transactions), read one element
    at a time: an element that is an array, or a byte string over `max_len`, is refused before
    anything inside it is built. `unpack` builds a whole tree before any schema sees it, and a
    frame of nested empty arrays costs it some 70 bytes of memory per byte received."""
    if len(data) > max_size:
        raise OversizeError(f"{len(data)} bytes exceeds the limit of {max_size}")
    unpacker = msgpack.Unpacker(raw=False, max_buffer_size=max(len(data), 1), max_bin_len=max_len,
                                max_str_len=max_len, max_array_len=0, max_map_len=0, max_ext_len=0)
    unpacker.feed(data)
    try:
        count = unpacker.read_array_header()
        if count > max_items:
            raise RangeError(f"{count} items, at most {max_items}")
        items = [unpacker.unpack() for _ in range(count)]
    except DecodeError:
        raise
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise DecodeError(f"not an array of byte strings: {exc}") from exc
    if unpacker.tell() != len(data):
        raise TrailingBytesError(f"{len(data)} bytes hold one array and trailing bytes")
    for item in items:
        if type(item) is not bytes:
            raise _type_error(item, "item", "bytes")
    return items


def pack_fields(*fields: Any) -> bytes:
    """Canonical bytes of a tuple of wire values: used for sign-bytes and storage values."""
    return pack(list(fields))


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()

