"""``rewardbench_<split>.csv``: VideoAlign / VideoGen-RewardBench CSVs, one per split.

Exactly the columns the public VideoAlign training and evaluation scripts read::

    path_A, path_B, A_model, B_model, prompt, fps_A, num_frames_A, fps_B, num_frames_B, VQ, MQ, TA, Overall

Labels are ``A``, ``B`` or ``same`` (a tie); an empty cell means no label (no majority, or the project has
no such dimension). ``VQ/MQ/TA/Overall`` come from the dimensions ``vq/mq/ta/overall``. Paths are relative
to the version folder (``videos/<sha256>.mp4``), the ``data_dir`` VideoAlign joins them with. The CSV has
no split column, hence one file per split. Raw granularity gives one line per judgment.
"""

import csv
from pathlib import Path

from annotation.exports.base import Chunk, Layout, Writer, csv_value

COLUMNS = ["path_A", "path_B", "A_model", "B_model", "prompt", "fps_A", "num_frames_A", "fps_B", "num_frames_B",
           "VQ", "MQ", "TA", "Overall"]
DIMENSION_COLUMNS = {"vq": "VQ", "mq": "MQ", "ta": "TA", "overall": "Overall"}
LABELS = {"A": "A", "B": "B", "tie": "same", None: ""}


def filename(split: str) -> str:
    return f"rewardbench_{split}.csv"


class RewardbenchWriter(Writer):
    def __init__(self, folder: Path, layout: Layout):
        super().__init__(folder, layout)
        self._dims = [d for d in DIMENSION_COLUMNS if d in layout.dimensions]
        self._files = {}
        self._csv = {}
        for split in layout.splits:
            f = (folder / filename(split)).open("w", encoding="utf-8", newline="")
            self._files[split] = f
            self._csv[split] = csv.writer(f, lineterminator="\n")
            self._csv[split].writerow(COLUMNS)

    def _line(self, row: dict) -> list:
        a, b = row["video_A"], row["video_B"]
        outcomes = row[self.layout.outcome_key]
        labels = {DIMENSION_COLUMNS[d]: LABELS[outcomes[d]] for d in self._dims}
        return [a["path"], b["path"], a["model"], b["model"], row["prompt"],
                csv_value(a["fps"]), csv_value(a["num_frames"]), csv_value(b["fps"]), csv_value(b["num_frames"]),
                *(labels.get(c, "") for c in COLUMNS[-4:])]

    def write(self, chunk: Chunk) -> None:
        for row in chunk.rows:
            self._csv[row["split"]].writerow(self._line(row))

    def close(self) -> list[str]:
        for f in self._files.values():
            f.close()
        return [filename(split) for split in self._files]
