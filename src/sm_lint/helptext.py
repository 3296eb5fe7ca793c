"""One help layout for every command: `check` (argparse, kept off typer for start-up speed) and the
typer commands render their `--help` through `render`, so both read the same:

    Usage: sm-lint COMMAND [OPTIONS] ARGS

    Description.

    Arguments:
      NAME  What it is.

    Options:
      -f, --format text|json|...  What it does (default: text).
      -h, --help                  Show this message and exit.

Short option first, `METAVAR` after the names, choices as `a|b|c`, every default written once as
"(default: X)" inside the sentence. Standard library only, imported only when help is asked for:
`sm-lint check`'s start-up does not pay for it.
"""
from __future__ import annotations

import enum
import shutil
import textwrap
from typing import Any, Iterable, List, Optional, Sequence, Tuple

Row = Tuple[str, str]  # (names and metavar, description)
Section = Tuple[str, List[Row]]

HELP_TEXT = "Show this message and exit."
MAX_NAME_COLUMN = 34


def default_text(value: Any) -> Optional[str]:
    """How a default reads in help, or None when it says nothing (unset, off, empty)."""
    if isinstance(value, enum.Enum):
        value = value.value
    if value is None or value is False or value == "" or (isinstance(value, (list, tuple)) and not value):
        return None
    if value is True:
        return "yes"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return str(value)


def describe(text: Optional[str], default: Any = None) -> str:
    """The sentence of one option: its help, with "(default: X)" added unless the help says it."""
    text = " ".join((text or "").split())
    shown = default_text(default)
    if shown is None or "(default:" in text:
        return text
    if text.endswith("."):
        return f"{text[:-1]} (default: {shown})."
    return f"{text} (default: {shown})." if text else f"(default: {shown})."


def option_names(names: Iterable[str], metavar: Optional[str]) -> str:
    """`-o, --output FILE`: short names first, each spelling once, then the metavar."""
    ordered = sorted(dict.fromkeys(names), key=lambda name: (name.startswith("--"),))
    return ", ".join(ordered) + (f" {metavar}" if metavar else "")


def render(usage: str, description: str, sections: Sequence[Section], width: Optional[int] = None) -> str:
    if width is None:
        width = max(60, min(100, shutil.get_terminal_size((80, 24)).columns - 2))
    lines = [f"Usage: {usage}", ""]
    for paragraph in [p for p in description.strip().split("\n\n") if p.strip()]:
        lines += textwrap.wrap(" ".join(paragraph.split()), width) + [""]
    rows = [row for _, section_rows in sections for row in section_rows]
    column = min(MAX_NAME_COLUMN, max((len(names) for names, _ in rows), default=0) + 4)
    for heading, section_rows in sections:
        if not section_rows:
            continue
        lines.append(f"{heading}:")
        for names, text in section_rows:
            wrapped = textwrap.wrap(text, max(20, width - column)) or [""]
            if len(names) + 4 <= column:
                lines.append(f"  {names.ljust(column - 2)}{wrapped[0]}".rstrip())
                wrapped = wrapped[1:]
            else:
                lines.append(f"  {names}")
            lines += [" " * column + line for line in wrapped]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


# -- argparse (sm-lint check) -------------------------------------------------------------------------

def from_argparse(parser: Any, usage_args: str) -> str:
    """The help of an argparse parser, in the common layout."""
    import argparse

    sections: List[Section] = []
    help_row: Optional[Row] = None
    for group in parser._action_groups:  # argparse keeps its groups here; there is no public accessor
        title = {"positional arguments": "Arguments", "options": "Options",
                 "optional arguments": "Options"}.get(group.title, group.title)
        rows: List[Row] = []
        for action in group._group_actions:
            if action.help == argparse.SUPPRESS:
                continue
            if isinstance(action, argparse._HelpAction):  # listed last, as click lists --help
                help_row = (option_names(action.option_strings, None), HELP_TEXT)
                continue
            if not action.option_strings:
                name = action.metavar or action.dest.upper()
                rows.append((name + ("..." if action.nargs in ("+", "*") else ""), describe(action.help)))
                continue
            takes_value = action.nargs != 0
            metavar = None
            if takes_value:
                metavar = action.metavar or ("|".join(map(str, action.choices)) if action.choices else action.dest.upper())
            default = None if action.default in (argparse.SUPPRESS,) else action.default
            rows.append((option_names(action.option_strings, metavar), describe(action.help, default)))
        sections.append((title, rows))
    sections.sort(key=lambda section: {"Arguments": 0, "Options": 1}.get(section[0], 2))
    if help_row is not None:
        next(rows for title, rows in sections if title == "Options").append(help_row)
    return render(f"{parser.prog} [OPTIONS] {usage_args}".rstrip(), parser.description or "", sections)


# -- click (the typer commands) -----------------------------------------------------------------------

def _click_metavar(param: Any) -> Optional[str]:
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return None
    if param.metavar:
        return param.metavar
    choices = getattr(param.type, "choices", None)
    if choices:
        return "|".join(str(getattr(choice, "value", choice)) for choice in choices)
    return {"integer": "N", "float": "NUMBER", "path": "PATH"}.get(getattr(param.type, "name", ""), "TEXT")


def _argument_name(param: Any) -> str:
    name = param.metavar or (param.name or "").upper()
    return name + ("..." if param.nargs == -1 else "")


def click_usage(ctx: Any) -> str:
    command = ctx.command
    pieces = [ctx.command_path, "[OPTIONS]"]
    for param in command.get_params(ctx):
        if getattr(param, "param_type_name", "") == "argument":
            name = _argument_name(param)
            pieces.append(name if param.required else f"[{name}]")
    if hasattr(command, "commands"):
        pieces.append("COMMAND [ARGS]...")
    return " ".join(pieces)


def from_click(ctx: Any) -> str:
    """The help of a click (typer) command or group, in the common layout."""
    command = ctx.command
    arguments: List[Row] = []
    options: List[Row] = []
    for param in command.get_params(ctx):
        if getattr(param, "hidden", False):
            continue
        if getattr(param, "param_type_name", "") == "argument":
            arguments.append((_argument_name(param), describe(getattr(param, "help", None))))
            continue
        names = [*param.opts, *param.secondary_opts]
        if param.name == "help" or set(names) & set(ctx.help_option_names) == set(names):
            options.append((option_names(names, None), HELP_TEXT))
            continue
        default = None if getattr(param, "is_flag", False) and not param.secondary_opts else param.default
        options.append((option_names(names, _click_metavar(param)), describe(param.help, default)))
    sections: List[Section] = [("Arguments", arguments), ("Options", options)]
    if hasattr(command, "commands"):
        listed = []
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                listed.append((name, describe((sub.short_help or sub.help or "").split("\n\n")[0])))
        sections.append(("Commands", listed))
    return render(click_usage(ctx), command.help or "", sections)
