"""The flag reference (docs/reference.md) and the settings table (docs/operations.md),
generated from the Click commands and the settings table themselves, so they never drift apart
(tests/test_cli_surface.py checks both files hold exactly this text).

    python -m labeler.cli.reference            # flags
    python -m labeler.cli.reference settings   # LABELER_* variables
"""

from __future__ import annotations

import click

from labeler.cli.main import cli


def _commands(group: click.Group, prefix: str = ""):
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            yield from _commands(command, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}", command


def _default(option: click.Option) -> str:
    if option.is_flag and not option.secondary_opts:
        return ""
    if isinstance(option.show_default, str):
        return option.show_default
    default = option.default
    if callable(default) or default is None or default is getattr(click.core, "UNSET", None):
        return ""
    if option.is_flag:
        return option.opts[0] if default else option.secondary_opts[0]
    return str(default)


def flag_reference() -> str:
    lines = ["| command | option | default | meaning |", "| --- | --- | --- | --- |"]
    for name, command in _commands(cli):
        for param in command.params:
            if not isinstance(param, click.Option) or param.name == "help":
                continue
            opts = " / ".join(f"`{o}`" for o in (*param.opts, *param.secondary_opts))
            meaning = " ".join((param.help or "").split()).replace("|", "\\|")
            if isinstance(param.type, click.Choice):
                meaning = f"{meaning} One of: {', '.join(param.type.choices)}.".strip()
            lines.append(f"| `labeler {name}` | {opts} | {_default(param)} | {meaning} |")
    return "\n".join(lines) + "\n"


def settings_reference() -> str:
    from labeler.settings import DEFAULT_BUNDLE, VARIABLES

    lines = ["| variable | default | allowed | meaning |", "| --- | --- | --- | --- |",
             "| `LABELER_HOME` | `$XDG_STATE_HOME/labeler` or `~/.local/state/labeler` | a "
             "folder | embedded Redis, logs, caches |"]
    for name, variable in VARIABLES.items():
        default = variable.default
        shown = ("the shipped bundle" if default == DEFAULT_BUNDLE
                 else "unset" if default in (None, ()) else str(default))
        lines.append(f"| `{name}` | {shown} | {variable.allowed} | {variable.meaning} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import sys

    print(settings_reference() if sys.argv[1:] == ["settings"] else flag_reference(), end="")
