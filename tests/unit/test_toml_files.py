"""A manifest or scenario file that cannot be read is named with the reason, as a bad field is,
not with Python's errno text."""

from __future__ import annotations

from pathlib import Path

import pytest

from pownode.cli import main


@pytest.mark.parametrize("command", [["e2e"], ["scenario", "run"]])
def test_a_missing_or_binary_file_is_named_with_the_reason(tmp_path: Path, capsys, command: list[str]) -> None:
    missing = tmp_path / "missing.toml"
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00 not text")
    assert main([*command, str(missing)]) == 1
    said = capsys.readouterr().err
    assert f"{missing}: cannot read it (No such file or directory)" in said or "no scenario file" in said, said
    assert main([*command, str(binary)]) == 1
    said = capsys.readouterr().err
    assert f"{binary}: not TOML (not UTF-8 text)" in said and "Errno" not in said, said
