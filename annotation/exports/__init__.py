"""Dataset version files. One writer per format; one pass over the rows feeds them all.

A version folder (``EXPORT_ROOT/<project_id>/v<number>/``) holds::

    manifest.json            what was asked (filters, granularity, splits, seed), counts, files, hashes
    SHA256SUMS               sha256 of every data file; the version's sha256 is the sha256 of this file
    dataset.jsonl            format "jsonl"
    dataset.csv              format "csv"
    dataset.parquet          format "parquet"
    hf/                      format "hf": a datasets.DatasetDict folder (load_from_disk)
    rewardbench_<split>.csv  format "rewardbench": VideoAlign CSV columns, one file per split
    videos/ | videos.tar | videos.zip   optional: videos/<sha256>.mp4 that the rows' paths point to
"""

from annotation.exports.base import GRANULARITIES, Chunk, Layout, Writer
from annotation.exports.flat_csv import FlatCsvWriter
from annotation.exports.hf_datasets import HfDatasetsWriter
from annotation.exports.jsonl import JsonlWriter
from annotation.exports.parquet import ParquetWriter
from annotation.exports.rewardbench import RewardbenchWriter
from annotation.exports.videos import INCLUDE_VIDEOS

WRITERS: dict[str, type[Writer]] = {
    "jsonl": JsonlWriter,
    "csv": FlatCsvWriter,
    "parquet": ParquetWriter,
    "hf": HfDatasetsWriter,
    "rewardbench": RewardbenchWriter,
}
FORMATS = tuple(WRITERS)
MANIFEST_FILE = "manifest.json"

__all__ = ["FORMATS", "GRANULARITIES", "INCLUDE_VIDEOS", "MANIFEST_FILE", "WRITERS", "Chunk", "Layout", "Writer"]
