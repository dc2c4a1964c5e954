"""`labeler duplicates`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from labeler.context import Context
from labeler.duplicates import MAX_RADIUS, RADIUS
from labeler.job_duplicates import job_duplicates

SHOWN_GROUPS = 10  # on the terminal without -o; the file has them all


@click.command()
@click.argument("job_id")
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="CSV of every group: group, size, path, label, confidence, bits_from_first.")
@click.option("--radius", type=click.IntRange(0, MAX_RADIUS), default=RADIUS, show_default=True,
              help="Signature bits (of 64) two images may differ by and count as one; "
              "0: identical or mirrored only.")
@click.option("--json", "as_json", is_flag=True, help="Print the groups as JSON.")
def duplicates(job_id, output, radius, as_json) -> None:
    """Groups of near-identical images in JOB_ID: the same photo re-encoded, resized,
    brightened or mirrored (from signatures the workers kept while labelling)."""
    found = job_duplicates(Context().store, job_id, radius,
                           shown=None if as_json else SHOWN_GROUPS, out=output)
    if as_json:
        click.echo(json.dumps({"summary": found.summary(), "compared": found.compared,
                               "groups": found.groups,
                               "rows": [row.as_dict() for row in found.rows]}, indent=1))
        return
    click.echo(found.summary())
    previous = None
    for row in found.rows:
        lead = f"group {row.group} ({row.size})" if row.group != previous else ""
        previous = row.group
        click.echo(f"  {lead:<16} {row.path}  {row.label or 'failed'}"
                   f"  {'' if row.confidence is None else f'{row.confidence:.3f}'}"
                   f"  {row.bits_from_first} bits")
    if found.groups > SHOWN_GROUPS:
        click.echo(f"  ... {found.groups - SHOWN_GROUPS:,} more groups"
                   + (f": all in {output}" if output else "; write them all with -o FILE"))
    elif output:
        click.echo(f"written: {output}")
