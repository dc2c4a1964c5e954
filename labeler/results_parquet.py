"""A job's results as Parquet (what Ray Data, Spark and pandas load): the CSV's columns, typed,
top-k as a list of (label, probability), written from the stored results. Each block of stored
rows becomes Arrow columns at once, and blocks are written as row groups of about
ROWS_PER_GROUP rows, so a million-row job holds one row group of Arrow data, not Python rows."""

from __future__ import annotations

from collections.abc import Callable
from typing import IO

from labeler.store import JobStore
from labeler.store.result_text import SEPARATOR, top_k_pairs

ROWS_PER_GROUP = 100_000
# keeps((label, confidence) or None, error): the CSV's row filter (results_io.stored_row_filter)
RowFilter = Callable[[tuple | None, bytes | None], bool]


def schema():  # -> pyarrow.Schema; pyarrow loads only when Parquet is written
    import pyarrow as pa

    return pa.schema([
        ("path", pa.string()), ("label", pa.string()), ("confidence", pa.float64()),
        ("error", pa.string()), ("margin", pa.float64()),
        ("top_k", pa.list_(pa.struct([("label", pa.string()), ("probability", pa.float64())]))),
        ("model", pa.string()),
    ])


class _Columns:
    """One block's columns, filled row by row and turned into an Arrow table at once."""

    def __init__(self) -> None:
        self.path, self.label, self.confidence, self.error = [], [], [], []
        self.margin, self.model, self.offsets = [], [], [0]
        self.top_labels, self.top_probabilities, self.failed = [], [], []

    def labelled(self, path: str, pairs: list[tuple[str, float]], margin: float,
                 model: str) -> None:
        self.path.append(path)
        self.label.append(pairs[0][0])
        self.confidence.append(pairs[0][1])
        self.error.append(None)
        self.margin.append(margin)
        for name, p in pairs:
            self.top_labels.append(name)
            self.top_probabilities.append(p)
        self.offsets.append(len(self.top_labels))
        self.model.append(model)
        self.failed.append(False)

    def failure(self, path: str, error: str) -> None:
        for column in (self.label, self.confidence, self.margin, self.model):
            column.append(None)
        self.path.append(path)
        self.error.append(error)
        self.offsets.append(len(self.top_labels))
        self.failed.append(True)

    def __len__(self) -> int:
        return len(self.path)

    def table(self):
        import pyarrow as pa

        kinds = schema()
        pairs = pa.StructArray.from_arrays(
            [pa.array(self.top_labels, pa.string()),
             pa.array(self.top_probabilities, pa.float64())], names=["label", "probability"])
        top_k = pa.ListArray.from_arrays(pa.array(self.offsets, pa.int32()), pairs,
                                         mask=pa.array(self.failed, pa.bool_()))
        return pa.Table.from_arrays(
            [pa.array(self.path, pa.string()), pa.array(self.label, pa.string()),
             pa.array(self.confidence, pa.float64()), pa.array(self.error, pa.string()),
             pa.array(self.margin, pa.float64()), top_k.cast(kinds.field("top_k").type),
             pa.array(self.model, pa.string())], schema=kinds)


def write_parquet(store: JobStore, job_id: str, sink: IO[bytes], keeps: RowFilter,
                  rows_per_group: int = ROWS_PER_GROUP) -> int:
    """Write the job's results to `sink`, keeping the rows `keeps` accepts; the row count."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    _, models = store.tables(job_id)
    count, pending, held = 0, [], 0
    with pq.ParquetWriter(sink, schema(), compression="zstd") as writer:
        for block in store.stored_blocks(job_id):
            columns = _Columns()
            for path, stored, error in block:
                if stored is None:
                    if keeps(None, error):
                        columns.failure(path, error.decode())
                    continue
                model, margin, top_k = stored.decode().split(SEPARATOR, 2)
                pairs = top_k_pairs(top_k)
                if keeps(pairs[0], None):
                    columns.labelled(path, pairs, float(margin), models[int(model)])
            pending.append(columns.table())
            held += len(columns)
            if held >= rows_per_group:
                writer.write_table(pa.concat_tables(pending), row_group_size=held)
                count, pending, held = count + held, [], 0
        if held or not count:
            writer.write_table(pa.concat_tables(pending) if pending else _Columns().table())
            count += held
    return count
