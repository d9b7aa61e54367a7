"""The gas schedule and the VM's limits: one table, one file.

Static costs are charged per straight-line run of statements and per loop iteration (counted
from the syntax tree at deploy time); dynamic costs by the helpers and API functions that do
work proportional to their input (allocation, storage, hashing, calls).
"""

from __future__ import annotations

GAS = {
    "statement": 1,  # every statement
    "operation": 1,  # every operator, comparison, subscript, call or display in a statement
    "loop_iteration": 2,
    "call": 10,  # entering a contract function
    "alloc_item": 1,  # per element or byte/char/32 allocated by concatenation, repetition, slicing
    "method": 2,
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
    "emit_byte": 2,
    "contract_call": 700,
    "deploy": 2000,
    "deploy_byte": 8,
    "sha256": 60,
    "sha256_word": 12,  # per 32 bytes hashed
    "ed25519_verify": 3000,
    "precompile": 100,  # plus the precompile's own formula
}

INT_BITS = 256  # |integers| < 2**256: overflow is an error, never a silent wrap
MAX_ITEMS = 65_536  # elements (or bytes / characters) in one list, dict, tuple, str or bytes
MAX_MEMORY = 4_000_000  # allocation units (elements, bytes, characters) per transaction
MAX_CALL_DEPTH = 8  # contract-to-contract calls
MAX_FRAMES = 32  # nested function calls inside one contract call (recursion bound)
MAX_EVENTS = 64
MAX_EVENT_BYTES = 1024
MAX_SCAN = 256
MAX_KEY = 256  # bytes in a storage key
MAX_VALUE_BYTES = 65_536  # encoded bytes in a stored, returned or passed value
MAX_VALUE_DEPTH = 4  # nesting of lists in stored, returned or passed values
