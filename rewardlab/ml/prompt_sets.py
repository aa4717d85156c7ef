"""The paper's evaluation prompt sets, read by name (torch-free: the forms list them)."""

from __future__ import annotations

import csv
from pathlib import Path

# The paper's evaluation prompt sets ship with the package (MIT, from VideoAlign; see the LICENSE beside them).
PROMPT_SETS_DIR = Path(__file__).resolve().parent.parent / "data" / "prompts"
PROMPT_SETS = tuple(sorted(p.stem for p in PROMPT_SETS_DIR.glob("*.csv")))


def read_prompts(path: str | Path) -> list[str]:
    """Prompts from a bundled set by name (``TA_hard``), a CSV with a ``prompt`` column or a text file with one
    prompt per line."""
    path = PROMPT_SETS_DIR / f"{path}.csv" if str(path) in PROMPT_SETS else Path(path)
    if path.suffix.lower() == ".csv":
        with path.open(encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            if "prompt" not in (reader.fieldnames or []):
                raise ValueError(f"{path}: no 'prompt' column (columns: {reader.fieldnames})")
            return [row["prompt"].strip() for row in reader if row["prompt"].strip()]
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
