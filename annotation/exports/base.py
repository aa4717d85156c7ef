"""The shape of a dataset version's rows, shared by every writer.

A row is a plain dict, built once by ``annotation.selectors.export_rows`` and handed to each writer in
chunks. Two granularities:

consensus (one row per pair)::

    {"pair_id", "prompt", "video_A": {"path", "model", "sha256", "fps", "num_frames"}, "video_B": {...},
     "labels": {dim: "A"|"B"|"tie"|null}, "agreement": {dim: float}, "n_judgments", "gold", "imported",
     "adjudicated", "split"}

raw (one row per judgment)::

    {"pair_id", "prompt", "video_A", "video_B", "annotator", "choices": {dim: "A"|"B"|"tie"|null},
     "shown_left": "A"|"B"|null, "duration_ms", "created_at", "gold", "imported", "split"}

``gold``: the pair is a gold pair; ``imported``: a judgment came from an import (RewardBench CSV) rather
than an annotator (for consensus: any of the pair's); ``adjudicated``: a manager's decision overrides the vote
on the dimensions it covers; ``agreement``: the share of votes for the majority outcome (rounded to 4 places).

Columnar formats (Parquet, Hugging Face datasets) keep the nesting as structs; CSV flattens it with dots
(``video_A.path``, ``labels.vq``), the way ``pandas.json_normalize`` names columns.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import orjson
import pyarrow as pa

GRANULARITIES = ("consensus", "raw")

VIDEO_TYPE = pa.struct([
    ("path", pa.string()),
    ("model", pa.string()),
    ("sha256", pa.string()),
    ("fps", pa.float64()),
    ("num_frames", pa.int64()),
])


def video_path(sha256: str) -> str:
    """Where a video lives inside a version folder, whether or not the videos were exported."""
    return f"videos/{sha256}.mp4"


@dataclass(frozen=True)
class Layout:
    granularity: str
    dimensions: tuple[str, ...]
    splits: tuple[str, ...]

    @property
    def outcome_key(self) -> str:
        """The per-dimension outcome field: consensus ``labels`` or raw ``choices``."""
        return "labels" if self.granularity == "consensus" else "choices"

    @cached_property
    def arrow_schema(self) -> pa.Schema:
        outcomes = pa.struct([(d, pa.string()) for d in self.dimensions])
        head = [("pair_id", pa.int64()), ("prompt", pa.string()), ("video_A", VIDEO_TYPE), ("video_B", VIDEO_TYPE)]
        if self.granularity == "consensus":
            body = [
                ("labels", outcomes),
                ("agreement", pa.struct([(d, pa.float64()) for d in self.dimensions])),
                ("n_judgments", pa.int32()),
                ("gold", pa.bool_()),
                ("imported", pa.bool_()),
                ("adjudicated", pa.bool_()),
            ]
        else:
            body = [
                ("annotator", pa.string()),
                ("choices", outcomes),
                ("shown_left", pa.string()),
                ("duration_ms", pa.int64()),
                ("created_at", pa.timestamp("us", tz="UTC")),
                ("gold", pa.bool_()),
                ("imported", pa.bool_()),
            ]
        return pa.schema(head + body + [("split", pa.string())])

    @cached_property
    def csv_header(self) -> list[str]:
        return [name for name, _ in _flat_fields(self.arrow_schema)]


def _flat_fields(fields, prefix: str = ""):
    for field in fields:
        if pa.types.is_struct(field.type):
            yield from _flat_fields(field.type, f"{prefix}{field.name}.")
        else:
            yield f"{prefix}{field.name}", field.type


class Chunk:
    """A batch of rows; the Arrow form is built on first use and shared by the columnar writers."""

    def __init__(self, rows: list[dict], layout: Layout):
        self.rows = rows
        self.layout = layout

    @cached_property
    def batch(self) -> pa.RecordBatch:
        return pa.RecordBatch.from_pylist(self.rows, schema=self.layout.arrow_schema)


def json_line(row: dict) -> bytes:
    """One JSONL line: compact UTF-8, keys in row order, times as ISO 8601 with offset (like ``isoformat``).

    orjson, not the standard library: at 182k rows JSON encoding was the largest cost of the export.
    """
    return orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE)


def csv_value(value) -> str | int | float:
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


class Writer:
    """One output format. ``write`` gets every chunk in order; ``close`` returns the files written.

    Paths are relative to the version folder; ``close`` is safe to call twice (the export closes every
    writer again when it fails half way).
    """

    def __init__(self, folder: Path, layout: Layout):
        self.folder = folder
        self.layout = layout

    def write(self, chunk: Chunk) -> None:
        raise NotImplementedError

    def close(self) -> list[str]:
        raise NotImplementedError

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
