"""Reading a TOML file's tables with errors that name the field: the scenario files and the e2e
manifests are both read this way.

`Fields` reads one table: typed fields with defaults and ranges, choices (with the ones named but
not built yet raising `NotImplementedError`), and `done()` refuses any field nobody read, so a
typo is an error instead of a silently ignored setting.
"""

from __future__ import annotations

import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any

NAMES = {int: "an integer", float: "a number", str: "a string", list: "an array", dict: "a table",
         datetime: "a date-time with a UTC offset", bool: "true or false"}


def read_toml(path: Path, error: type[ValueError]) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: not TOML: {exc}") from None
    except UnicodeDecodeError:
        raise error(f"{path}: not TOML (not UTF-8 text)") from None
    except OSError as exc:
        raise error(f"{path}: cannot read it ({exc.strerror or exc})") from None


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(NAMES.get(k, k.__name__) for k in kinds)


class Fields:
    def __init__(self, doc: Any, where: str, error: type[ValueError]) -> None:
        self.error = error
        if not isinstance(doc, dict):
            raise error(f"{where} must be a table")
        self.doc = doc
        self.where = where
        self.read: set[str] = set()

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None, required: bool = False) -> Any:
        self.read.add(key)
        if key not in self.doc:
            if required:
                raise self.error(f"{self.where}: {key} is required")
            return default
        value = self.doc[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kind):
            raise self.error(f"{self.where}: {key} must be {_kind_name(kind)}, not {value!r}")
        return value

    def number(self, key: str, low: float, high: float, default: float | None = None, integer: bool = False) -> Any:
        value = self.get(key, int if integer else (int, float), default, required=default is None)
        if not low <= value <= high:
            raise self.error(f"{self.where}: {key} must be from {low:g} to {high:g}, not {value!r}")
        return value

    def choice(self, key: str, options: tuple[str, ...], default: str | None, not_built: tuple[str, ...] = (),
               what: str = "") -> str:
        value = self.get(key, str, default, required=default is None)
        if value in not_built:
            raise NotImplementedError(f"{self.where}: {key} {value!r} is not built{what} yet "
                                      f"(built: {', '.join(options)})")
        if value not in options:
            raise self.error(f"{self.where}: {key} must be one of {', '.join(options)}, not {value!r}")
        return value

    def done(self) -> None:
        unknown = sorted(set(self.doc) - self.read)
        if unknown:
            raise self.error(f"{self.where}: unknown fields {unknown}")
