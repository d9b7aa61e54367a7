"""Key files: one Ed25519 seed per file, JSON, readable by its owner only."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ledger.keys import PrivateKey


def write_key(path: str | Path, key: PrivateKey) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"public_key": key.public_key.hex(), "address": key.address.hex(), "seed": key.seed.hex()}
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise FileExistsError(f"{path} already exists: a key file is never overwritten (choose another path)") from None
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")


def read_key(path: str | Path) -> PrivateKey:
    try:
        doc = json.loads(Path(path).read_text())
        key = PrivateKey(bytes.fromhex(doc["seed"]))
    except FileNotFoundError:
        raise ValueError(f"{path}: no such key file") from None
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"{path}: not a pownode key file (JSON with a 32-byte hex \"seed\")") from None
    if key.public_key.hex() != doc.get("public_key", key.public_key.hex()):
        raise ValueError(f"{path}: seed and public key do not match")
    return key
