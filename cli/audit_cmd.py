"""`labeler audit`."""

from __future__ import annotations

from pathlib import Path

import click

from labeler.errors import import_extra


@click.command()
@click.argument("data")
@click.option("-o", "--out", type=click.Path(path_type=Path), default=Path("audit.csv"),
              show_default=True, help="CSV of the likely mislabelled images, most likely first.")
@click.option("--folds", type=click.IntRange(2, 10), default=3, show_default=True,
              help="Models trained, each without one fold, to judge the images it never saw.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds the folds.")
@click.option("--work", type=click.Path(path_type=Path),
              help="Folder for the fold runs, kept so an interrupted audit continues "
              "(default: OUT with .runs for .csv).")
def audit(data, out, folds, seed, work) -> None:
    """Rank the images of DATA (an image folder or a manifest such as labeler reviewed writes)
    whose label is probably wrong."""
    auditing = import_extra("labeler.training.audit")
    suspects = auditing.audit(data, out, work or out.with_suffix(".runs"), folds=folds,
                              seed=seed)
    click.echo(f"{len(suspects):,} images likely mislabelled, most likely first: {out}")
