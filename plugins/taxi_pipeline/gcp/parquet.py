"""Optional lake format: convert the month's CSV stream to Parquet while it downloads.

Off by default (``NY_TAXI_GCP_FILE_FORMAT=parquet`` turns it on): the lake then holds typed,
columnar files that BigQuery loads without CSV parsing. The conversion streams: pyarrow reads the
decompressed CSV in blocks and each block is written as a row group straight into the upload, so
memory stays bounded by a block, not the month.
"""

from __future__ import annotations

from typing import IO

from taxi_pipeline.specs import TaxiSpec

BLOCK_BYTES = 16 << 20

# BigQuery type -> Arrow type for the Parquet file (BigQuery NUMERIC = decimal(38, 9)).
_ARROW_TYPES = {
    "STRING": lambda pa: pa.string(),
    "INTEGER": lambda pa: pa.int64(),
    "NUMERIC": lambda pa: pa.decimal128(38, 9),
    "TIMESTAMP": lambda pa: pa.timestamp("us"),
}


def arrow_schema(spec: TaxiSpec, columns: list[str] | None = None):
    """The Parquet schema of ``columns`` (default: all the spec's), typed for BigQuery."""
    import pyarrow as pa

    return pa.schema([pa.field(c, _ARROW_TYPES[spec.column(c).bigquery_type](pa)) for c in columns or spec.column_names])


def write_parquet(csv_data, spec: TaxiSpec, out: IO[bytes], label: str) -> int:
    """Convert headerless CSV data (a ``read(size)`` stream with ``columns``) to Parquet in ``out``; returns rows."""
    import pyarrow as pa
    from pyarrow import csv as pacsv
    from pyarrow import parquet as pq

    schema = arrow_schema(spec, csv_data.columns)
    reader = pacsv.open_csv(
        csv_data,
        read_options=pacsv.ReadOptions(column_names=csv_data.columns, block_size=BLOCK_BYTES),
        convert_options=pacsv.ConvertOptions(
            column_types=schema, strings_can_be_null=True, quoted_strings_can_be_null=True
        ),
    )
    rows = 0
    # Not a `with`: on an error the footer must not be written, so the caller's upload is
    # abandoned instead of finalized (closing the writer does not close ``out``).
    writer = pq.ParquetWriter(out, schema, compression="snappy")
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            break
        except pa.ArrowInvalid as exc:  # a value or row that does not fit the spec
            raise ValueError(f"{label}: {exc}") from exc
        writer.write_batch(batch)
        rows += batch.num_rows
    writer.close()
    return rows
