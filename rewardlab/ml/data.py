"""Preference pairs as the ML code sees them: plain records read from a dataset version or a benchmark CSV.

Two inputs, one record type:
- a VidPref dataset-version JSONL (consensus rows carry ``labels``, raw rows carry ``choices``);
- a VideoAlign / VideoGen-RewardBench CSV (``path_A, path_B, prompt, VQ, MQ, TA[, Overall]``, ``A``/``B``/``same``).
Labels are always in the pair's canonical order: ``"A"``, ``"B"``, ``"tie"`` or ``None`` (no label).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

Label = str | None  # "A" | "B" | "tie" | None

_CSV_LABELS = {"A": "A", "B": "B", "same": "tie", "tie": "tie", "": None}


@dataclass(frozen=True)
class PreferencePair:
    prompt: str
    path_a: Path
    path_b: Path
    labels: dict[str, Label]  # dimension key (lower case: "vq", "mq", "ta", "overall") -> label
    split: str = "train"
    pair_id: str = ""
    meta: dict = field(default_factory=dict)


def _resolve(root: Path, path: str) -> Path:
    p = Path(path)
    return p if p.is_absolute() else (root / p).resolve()


def load_pairs_jsonl(path: str | Path, *, video_root: str | Path | None = None, split: str | None = None) -> list[PreferencePair]:
    """Read a dataset version's JSONL; video paths are relative to ``video_root`` (default: the file's folder)."""
    path = Path(path)
    root = Path(video_root) if video_root else path.parent
    pairs = []
    with path.open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            labels = row.get("labels", row.get("choices"))
            if labels is None:
                raise ValueError(f"{path}:{line_no}: row has neither 'labels' nor 'choices'")
            if split and row.get("split", "train") != split:
                continue
            pairs.append(PreferencePair(
                prompt=row["prompt"],
                path_a=_resolve(root, row["video_A"]["path"]),
                path_b=_resolve(root, row["video_B"]["path"]),
                labels={k: v for k, v in labels.items()},
                split=row.get("split", "train"),
                pair_id=str(row.get("pair_id", line_no)),
            ))
    return pairs


def load_rewardbench_csv(path: str | Path, *, video_root: str | Path | None = None) -> list[PreferencePair]:
    """Read a VideoAlign/VideoGen-RewardBench CSV; paths are relative to ``video_root`` (default: its folder)."""
    path = Path(path)
    root = Path(video_root) if video_root else path.parent
    pairs = []
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        missing = {"path_A", "path_B", "prompt"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: missing columns {sorted(missing)}")
        dims = [c for c in ("VQ", "MQ", "TA", "Overall") if c in reader.fieldnames]
        for line_no, row in enumerate(reader, 2):
            labels = {}
            for d in dims:
                value = (row[d] or "").strip()
                if value not in _CSV_LABELS:
                    raise ValueError(f"{path}:{line_no}: column {d} has {value!r}; expected A, B or same")
                labels[d.lower()] = _CSV_LABELS[value]
            pairs.append(PreferencePair(
                prompt=row["prompt"],
                path_a=_resolve(root, row["path_A"]),
                path_b=_resolve(root, row["path_B"]),
                labels=labels,
                split="test",
                pair_id=str(line_no),
                meta={"A_model": row.get("A_model", ""), "B_model": row.get("B_model", "")},
            ))
    return pairs


def load_pairs(path: str | Path, **kwargs) -> list[PreferencePair]:
    """Pick the reader by file extension (.jsonl or .csv)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".jsonl":
        return load_pairs_jsonl(path, **kwargs)
    if suffix == ".csv":
        kwargs.pop("split", None)
        return load_rewardbench_csv(path, **kwargs)
    raise ValueError(f"{path}: unknown pair file type {suffix!r}; use .jsonl (dataset version) or .csv (RewardBench)")


def require_video_files(pairs: list[PreferencePair], source: str) -> None:
    """Fail early, naming a few, when pairs point at video files that are not there."""
    missing = sorted({str(v) for p in pairs for v in (p.path_a, p.path_b) if not Path(v).is_file()})
    if missing:
        raise FileNotFoundError(f"{source}: {len(missing)} video files are missing, e.g. {missing[:3]}")
