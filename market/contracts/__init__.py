"""Market contracts, written in the contract language and deployed into the VM.

The `.py` files here are contract sources, not modules to import: `source(name)` reads one.
"""

from __future__ import annotations

from importlib import resources


def source(name: str) -> str:
    return resources.files(__package__).joinpath(f"{name}.py").read_text()
