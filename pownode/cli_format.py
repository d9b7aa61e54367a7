"""The help format of every `pownode` command: each option's default is shown, unless its help
already says what the default is."""

from __future__ import annotations

import argparse


class DefaultsFormatter(argparse.HelpFormatter):
    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        shown = action.default not in (None, False, argparse.SUPPRESS) and not isinstance(action, argparse._HelpAction)
        if shown and "default" not in text and action.option_strings:
            text += (" " if text else "") + "(default: %(default)s)"
        return text
