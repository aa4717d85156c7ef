"""``dataset.csv``: the JSONL fields flattened with dots (``video_A.path``, ``labels.vq``), one row each.

Empty cell = null; booleans are ``true``/``false``; times are ISO 8601 with an offset.
"""

import csv
from pathlib import Path

from annotation.exports.base import Chunk, Layout, Writer, csv_value


def _flatten(row: dict) -> list:
    # Rows nest one level (videos, per-dimension outcomes) and hold only text, numbers and None there, which
    # the csv module writes as wanted; flags and times sit at the top and need csv_value.
    out = []
    for value in row.values():
        if type(value) is dict:
            out.extend(value.values())
        else:
            out.append(csv_value(value))
    return out


class FlatCsvWriter(Writer):
    filename = "dataset.csv"

    def __init__(self, folder: Path, layout: Layout):
        super().__init__(folder, layout)
        self._file = (folder / self.filename).open("w", encoding="utf-8", newline="")
        self._csv = csv.writer(self._file, lineterminator="\n")
        self._csv.writerow(layout.csv_header)

    def write(self, chunk: Chunk) -> None:
        self._csv.writerows(map(_flatten, chunk.rows))

    def close(self) -> list[str]:
        self._file.close()
        return [self.filename]
