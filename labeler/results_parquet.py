"""A job's results as Parquet (what Ray Data, Spark and pandas load): the CSV's columns, typed,
top-k as a list of (label, probability), written a row group at a time from the stored results,
so a million-row job takes bounded memory."""

from __future__ import annotations

from typing import IO

from labeler.store import JobStore
from labeler.store.result_text import CsvFields

ROWS_PER_GROUP = 100_000


def schema():
    import pyarrow as pa

    return pa.schema([
        ("path", pa.string()), ("label", pa.string()), ("confidence", pa.float64()),
        ("error", pa.string()), ("margin", pa.float64()),
        ("top_k", pa.list_(pa.struct([("label", pa.string()), ("probability", pa.float64())]))),
        ("model", pa.string()),
    ])


class _Columns:
    """One row group's columns, filled row by row and turned into a table at once."""

    def __init__(self) -> None:
        self.path, self.label, self.confidence, self.error = [], [], [], []
        self.margin, self.model, self.offsets = [], [], [0]
        self.top_labels, self.top_probabilities, self.failed = [], [], []

    def labelled(self, path: str, f: tuple[str, str, str, str, str]) -> None:
        self.path.append(path)
        self.label.append(f[0])
        self.confidence.append(float(f[1]))
        self.error.append(None)
        self.margin.append(float(f[2]))
        for pair in f[3].split(";"):
            name, _, p = pair.rpartition(":")
            self.top_labels.append(name)
            self.top_probabilities.append(float(p))
        self.offsets.append(len(self.top_labels))
        self.model.append(f[4])
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

        pairs = pa.StructArray.from_arrays(
            [pa.array(self.top_labels, pa.string()),
             pa.array(self.top_probabilities, pa.float64())], names=["label", "probability"])
        top_k = pa.ListArray.from_arrays(pa.array(self.offsets, pa.int32()), pairs,
                                         mask=pa.array(self.failed, pa.bool_()))
        return pa.Table.from_arrays(
            [pa.array(self.path, pa.string()), pa.array(self.label, pa.string()),
             pa.array(self.confidence, pa.float64()), pa.array(self.error, pa.string()),
             pa.array(self.margin, pa.float64()), top_k.cast(schema().field("top_k").type),
             pa.array(self.model, pa.string())], schema=schema())


def write_parquet(store: JobStore, job_id: str, sink: IO[bytes], keeps,
                  rows_per_group: int = ROWS_PER_GROUP) -> int:
    """Write the job's results to `sink`, keeping the rows `keeps(fields, error)` accepts (the
    CSV's filter); returns the row count."""
    import pyarrow.parquet as pq

    _, models = store.tables(job_id)
    fields_of = CsvFields(models)
    count = 0
    with pq.ParquetWriter(sink, schema(), compression="zstd") as writer:
        columns = _Columns()
        for block in store.stored_blocks(job_id):
            for path, stored, error in block:
                fields = fields_of(stored) if stored is not None else None
                if not keeps(fields, error):
                    continue
                if fields is not None:
                    columns.labelled(path, fields)
                else:
                    columns.failure(path, error.decode())
            if len(columns) >= rows_per_group:
                writer.write_table(columns.table())
                count, columns = count + len(columns), _Columns()
        if len(columns) or not count:
            writer.write_table(columns.table())
            count += len(columns)
    return count
