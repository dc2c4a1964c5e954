"""`labeler doctor`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


@click.command()
@click.option("--model", type=click.Path(path_type=Path), help="Model bundle folder.")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
@click.option("--bucket", "buckets", multiple=True, metavar="URL",
              help="Also check that this machine can list URL (s3://bucket/prefix), as its "
              "workers would; repeatable. LABELER_ALLOWED_BUCKETS are checked too.")
@click.option("--quiet", is_flag=True, help="No output; exit 1 if any check fails "
              "(for container health checks).")
def doctor(model, buckets, as_json, quiet) -> None:
    """Check the LABELER_* settings, Redis (where, reachability, auth, safety), workers,
    providers, the model bundle and buckets."""
    from labeler.doctor import FAIL, run_checks

    checks = run_checks(model, buckets)
    if as_json:
        click.echo(json.dumps([c.as_dict() for c in checks], indent=2))
    elif not quiet:
        for check in checks:
            click.echo(f"[{check.status:4s}] {check.name}: {check.detail}")
            if check.fix:
                click.echo(f"       fix: {check.fix}")
    sys.exit(1 if any(c.status == FAIL for c in checks) else 0)
