"""The README's command-line block cannot drift from the parser: every command and option it
shows exists, and every command the parser has is shown."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from pownode.cli import build_parser

README = Path(__file__).resolve().parents[2] / "README.md"


def _manual_lines() -> list[str]:
    text = README.read_text()
    block = text[text.index("### Command line"):]
    block = block[block.index("```sh\n") + 6:]
    return [line.split("#")[0].strip() for line in block[:block.index("```")].splitlines() if line.strip()]


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> set[str]:
    found = {o for a in parser._actions for o in a.option_strings}
    for child in _subparsers(parser).values():
        found |= _options(child)
    return found


def _command(words: list[str]) -> tuple[str, argparse.ArgumentParser]:
    """The deepest parser the words name (`cluster up`, `tx send`, `scenario`)."""
    parser, path = build_parser(), []
    for word in words:
        children = _subparsers(parser)
        if word not in children:
            break
        parser, path = children[word], path + [word]
    return " ".join(path), parser


def test_every_command_and_option_in_the_readme_exists() -> None:
    shown = set()
    for line in _manual_lines():
        words = line.split()
        assert words[0] == "pownode", line
        name, parser = _command(words[1:])
        shown.add(name.split()[0] if name else "")
        for option in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", line):
            assert option in _options(parser) | {"--help", "--version"}, f"README: {line!r}: no {option} in {name!r}"
    commands = set(_subparsers(build_parser()))
    assert commands <= shown, f"commands the README's manual does not show: {sorted(commands - shown)}"


def test_cluster_actions_have_their_own_help() -> None:
    cluster = _subparsers(build_parser())["cluster"]
    assert set(_subparsers(cluster)) == {"up", "status", "down", "delete"}
    up = _subparsers(cluster)["up"].format_help()
    assert "--nodes" in up and "(default: 4)" in up and "--json" not in up


def test_the_readme_documents_every_config_field_with_its_default() -> None:
    from dataclasses import MISSING, fields

    from pownode.config import NodeConfig

    text = README.read_text()
    table = text[text.index("**`config.json`**"):]
    table = table[:table.index("\n\n", table.index("| field |"))]
    rows = {}
    for line in table[table.index("| field |"):].splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        names = re.findall(r"`(\w+)`", cells[0])
        defaults = cells[1].split(", ") if len(names) > 1 else [cells[1]]
        assert len(defaults) == len(names), line
        rows.update(zip(names, defaults))
    for f in fields(NodeConfig):
        assert f.name in rows, f"README's config.json table lacks {f.name}"
        if isinstance(f.default, bool):  # JSON's spelling
            assert rows[f.name] == str(f.default).lower(), (f.name, rows[f.name])
        elif f.default is not MISSING and isinstance(f.default, int):
            shown = rows[f.name]
            value = int(shown[:-4]) * 1024 * 1024 if shown.endswith(" MiB") else int(shown)
            assert value == f.default, (f.name, rows[f.name])


def test_shell_completion_knows_every_command(tmp_path) -> None:
    import subprocess
    import sys

    script = subprocess.run([sys.executable, "-m", "pownode.cli", "completion", "bash"], capture_output=True, text=True,
                            timeout=60, check=True).stdout
    (tmp_path / "pownode.bash").write_text(script)
    assert subprocess.run(["bash", "-n", str(tmp_path / "pownode.bash")]).returncode == 0  # valid bash
    for command in _subparsers(build_parser()):
        assert command in script
    assert "--consensus" in script and "--open-loop" in script  # options of the commands (one level down)
    # and of every command at any depth: `tx send`'s kinds and their options too
    def leaves(parser: argparse.ArgumentParser, path: str) -> list[str]:
        children = _subparsers(parser)
        return [leaf for name, child in children.items() for leaf in leaves(child, f"{path}_{name}")] or [path]

    for leaf in leaves(build_parser(), "_shtab_pownode"):
        assert f"{leaf.replace('-', '_')}_option_strings=" in script, f"no completion for {leaf}"
