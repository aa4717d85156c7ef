"""``dataset.parquet``: the JSONL rows as nested columns (structs for videos and per-dimension outcomes).

One row group per chunk, written as the rows stream in, so memory stays flat however large the version.
"""

from pathlib import Path

import pyarrow.parquet as pq

from annotation.exports.base import Chunk, Layout, Writer


class ParquetWriter(Writer):
    filename = "dataset.parquet"

    def __init__(self, folder: Path, layout: Layout):
        super().__init__(folder, layout)
        self._writer = pq.ParquetWriter(folder / self.filename, layout.arrow_schema, compression="snappy")

    def write(self, chunk: Chunk) -> None:
        self._writer.write_batch(chunk.batch)

    def close(self) -> list[str]:
        self._writer.close()
        return [self.filename]
