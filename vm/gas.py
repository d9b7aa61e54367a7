"""The gas schedule and the VM's limits: one table, one file.

Static costs are charged per straight-line run of statements and per loop iteration (counted
from the syntax tree at deploy time); dynamic costs by the helpers and API functions that do
work proportional to their input (allocation, comparison, storage, hashing, calls), always
before the work. The per-size entries are set from `benchmarks/vm_pricing.py`, which measures
microseconds per gas for every operation class across operand sizes up to the limits: an entry
is raised when its class costs more than a few times the median per unit of gas.
"""

from __future__ import annotations

GAS = {
    "statement": 1,  # every statement
    "operation": 1,  # every operator, comparison, subscript, call or display in a statement
    "loop_iteration": 2,
    "call": 10,  # entering a contract function
    "alloc_item": 1,  # per element or byte/char allocated by concatenation, repetition, slicing
    "method": 2,
    # Comparison, membership, hashing, sorting: per unit of operand weight (see vm.values: one
    # unit per scalar or container slot, one per COMPARE_BYTES bytes of str or bytes).
    "compare_unit": 1,
    "compare_base": 2,  # a comparison that is not between ints
    # Substring search: per character of the haystack, times the needle length up to
    # SEARCH_NEEDLE_CAP (CPython's search is O(n*m) in the worst case for short needles).
    "search_unit": 1,
    # Moving a list's tail (insert, pop, del at an index): per LIST_SHIFT_ITEMS items shifted.
    "list_shift": 1,
    "storage_get": 200,
    "storage_put": 500,
    "storage_byte": 4,  # per byte read or written (key + value)
    "storage_delete": 200,
    "storage_scan": 200,
    "storage_scan_item": 60,
    "context": 2,  # sender(), height(), ...
    "balance": 100,
    "transfer": 500,
    "emit": 100,
    "encode_byte": 1,  # per byte of a value that leaves a call (storage, return, arguments, events)
    # Per byte a receipt keeps for good in every node's transaction index (a call's output, an
    # event's data), on top of encode_byte: the storage rate (storage_byte), so no way of putting
    # bytes on every node's disk is cheaper than another.
    "receipt_byte": 3,
    "contract_call": 700,
    "code_byte_16": 1,  # per 16 bytes of a called contract's source: loading and running its module
    "deploy": 2000,
    # Compiling costs up to ~6 us per source byte (a tree node per byte or two): the byte price,
    # charged before any parsing, covers it alone; the node price is charged after.
    "deploy_byte": 32,
    "deploy_node": 60,  # per syntax-tree node checked, instrumented and compiled
    "meter_reading": 300,  # one certified reading: the meter record and the reading
    "owner_reading": 200,  # plus meter_reading per certified meter of the owner
    # The claimed record and this market's and all markets' reservation records, read and
    # written; plus meter_reading per certified meter of the owner.
    "claim_delivery": 2000,
    "reserve_delivery": 1500,  # this market's and all markets' reservation records, read and written
    "sha256": 60,
    "sha256_word": 12,  # per 32 bytes hashed
    "ed25519_verify": 3000,
    "precompile": 100,  # plus the precompile's own formula
    "precompile_item": 2,  # per integer passed to or returned from a precompile
}

INT_BITS = 256  # |integers| < 2**256: overflow is an error, never a silent wrap
MAX_ITEMS = 65_536  # elements (or bytes / characters) in one list, dict, tuple, str or bytes
# Allocation units (elements, bytes, characters, words of new objects) per transaction. A unit
# holds at most 72 bytes (a slot and the 256-bit int it refers to), so this bounds what one
# transaction makes a node hold to ~72 MB; the market contracts' busiest call uses 117,288.
MAX_MEMORY = 1_000_000
MAX_CALL_DEPTH = 8  # contract-to-contract calls
# Arguments in one call and parameters of one function: binding keyword arguments compares
# each with every parameter name, and zip() builds a list per argument.
MAX_ARGS = 64
MAX_FRAMES = 32  # nested function calls in one transaction, across its contract calls
MAX_TUPLE_DEPTH = 8  # nesting of tuples (a list or dict holds tuples, so one level more)
MAX_EVENTS = 64
MAX_EVENT_BYTES = 1024
MAX_SCAN = 256
MAX_SCAN_BYTES = 262_144  # bytes of keys and values one scan may read
MAX_KEY = 256  # bytes in a storage key
MAX_VALUE_BYTES = 65_536  # encoded bytes in a stored, returned or passed value
MAX_VALUE_DEPTH = 4  # nesting of lists in stored, returned or passed values
MAX_REASON_BYTES = 256  # UTF-8 bytes of a receipt's reason
MAX_TOPIC_BYTES = 64  # UTF-8 bytes of an event topic

# Allocation units of the objects a builtin makes per element (vm.runtime), in 8-byte words as
# CPython 3.11-3.13 lay them out (with the garbage collector's header where an object has one):
# a unit otherwise stands for a container slot, which holds a reference.
TUPLE_UNITS = 5  # a tuple's header; plus one per item
INT_DIGIT_BITS = 30  # an int is 24 bytes and 4 per 30-bit digit (int_units)
CHAR_UNITS = 10  # a one-character str outside Latin-1 (CPython shares the Latin-1 ones): 64-80 bytes

# Weights of operands (vm.values.weight).
COMPARE_BYTES = 64  # bytes of str/bytes per weight unit
SEARCH_NEEDLE_CAP = 64
LIST_SHIFT_ITEMS = 256

# Source limits checked at deploy, before and after parsing (vm.compiler).
MAX_SOURCE = 64 * 1024
MAX_NODES = 40_000  # syntax-tree nodes in one contract
MAX_NESTING = 48  # depth of the syntax tree (statements and expressions)
# Loops nested in one function. CPython refuses more than 20 statically nested blocks (3.13:
# 21), and the instrumentation adds one (the frame guard's try/finally).
MAX_LOOP_NESTING = 12
