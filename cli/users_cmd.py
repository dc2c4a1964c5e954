"""`labeler users`: the users file of `labeler serve --auth users`."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.group()
def users() -> None:
    """Names and password hashes for the web page's sign-in (labeler serve --auth users)."""


@users.command("add")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("name")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from standard input (for scripts) instead of asking.")
def add(file, name, password_stdin) -> None:
    """Add NAME to FILE (made if missing, readable by its owner only), or change its
    password. Only an argon2 hash of the password is written."""
    from labeler.web.users import add_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < 8:
        raise click.UsageError("a password needs at least 8 characters")
    new = add_user(file, name, password)
    click.echo(f"{'added' if new else 'changed the password of'} {name} in {file}")
