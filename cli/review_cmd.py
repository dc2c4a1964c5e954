"""`labeler reviewed`: the labels people gave in Label Studio, as a manifest to train on."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("export", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Manifest to write (CSV: path,label,source), for labeler train.")
@click.option("--keep-unreviewed", is_flag=True,
              help="Also keep the model's label of images nobody reviewed (source "
              "'predicted'); by default only reviewed images go in.")
def reviewed(export, output, keep_unreviewed) -> None:
    """Turn a Label Studio project's JSON EXPORT of labeler tasks into a manifest of the
    reviewed labels: corrected, accepted (the model's label submitted) or annotated."""
    from labeler import labelstudio
    from labeler.manifest import write_manifest

    review = labelstudio.reviewed_labels(labelstudio.read_export(export),
                                         keep_unreviewed=keep_unreviewed)
    write_manifest(review.labels, output)
    click.echo(f"{review.summary()}; wrote {output}")
