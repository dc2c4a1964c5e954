"""Parquet results from a real job store: the CSV's rows, typed, filtered the same way."""

import csv
import io

import pyarrow.parquet as pq
import pytest

from labeler.protocol import LabelResult
from labeler.results_io import write_job_results


def _job(store):
    store.create_job("p", ["x.jpg", "y.jpg", "z.jpg"], ["cat;dog", "car"])
    store.record_chunk("p", {
        0: LabelResult("cat;dog", 0.75, 0.5, (("cat;dog", 0.75), ("car", 0.25)), "m:int8:1"),
        2: LabelResult("car", 0.5, 0.0, (("car", 0.5), ("cat;dog", 0.5)), "m:int8:1"),
    }, {1: "corrupt: bad"})


@pytest.mark.parametrize(("label", "below"), [(None, None), ("car", None), ("failed", None),
                                              (None, 0.6)])
def test_parquet_holds_the_csv_rows_typed(store, tmp_path, label, below):
    _job(store)
    write_job_results(store, "p", str(tmp_path / "r.csv"), label, below)
    rows = list(csv.DictReader((tmp_path / "r.csv").open(newline="")))
    count = write_job_results(store, "p", str(tmp_path / "r.parquet"), label, below)
    table = pq.read_table(tmp_path / "r.parquet").to_pylist()
    assert count == len(table) == len(rows)
    for got, want in zip(table, rows, strict=True):
        top_k = ";".join(f"{p['label']}:{p['probability']}" for p in got["top_k"] or [])
        assert (got["path"], got["label"] or "", got["error"] or "", top_k) == (
            want["path"], want["label"], want["error"], want["top_k"])
        assert got["confidence"] == (float(want["confidence"]) if want["confidence"] else None)


def test_parquet_of_a_job_with_no_rows_left_is_a_valid_empty_file(store, tmp_path):
    _job(store)
    assert write_job_results(store, "p", str(tmp_path / "r.parquet"), "car", 0.1) == 0
    assert pq.read_table(tmp_path / "r.parquet").num_rows == 0


def test_parquet_row_groups_are_bounded(store):
    paths = [f"{i:05d}.jpg" for i in range(25_000)]
    store.create_job("big", paths, ["car"])
    store.record_chunk("big", {i: LabelResult("car", 1.0, 1.0, (("car", 1.0),), "m")
                               for i in range(25_000)}, {})
    from labeler.results_io import stored_row_filter
    from labeler.results_parquet import write_parquet

    out = io.BytesIO()
    assert write_parquet(store, "big", out, stored_row_filter(), rows_per_group=10_000) == 25_000
    meta = pq.ParquetFile(io.BytesIO(out.getvalue())).metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [
        10_000, 10_000, 5_000]
