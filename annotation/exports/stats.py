"""A version's statistics, counted as the rows stream past (rows arrive grouped by prompt, then pair)."""

from collections import Counter

from annotation.exports.base import Chunk, Layout


class Stats:
    def __init__(self, layout: Layout):
        self.layout = layout
        self.rows = Counter()
        self.pairs = Counter()
        self.prompts = Counter()
        self.models: set[str] = set()
        self.outcomes = Counter()  # (dimension, outcome or None) -> rows
        self._last_pair = None
        self._last_prompt = None

    def add(self, chunk: Chunk) -> None:
        key = self.layout.outcome_key
        self.rows.update(row["split"] for row in chunk.rows)
        self.outcomes.update((d, o) for row in chunk.rows for d, o in row[key].items())
        for row in chunk.rows:
            if row["pair_id"] != self._last_pair:
                self._last_pair = row["pair_id"]
                self.pairs[row["split"]] += 1
                self.models.update((row["video_A"]["model"], row["video_B"]["model"]))
                if row["prompt"] != self._last_prompt:
                    self._last_prompt = row["prompt"]
                    self.prompts[row["split"]] += 1

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    def as_dict(self, *, judgments: int, annotators: int) -> dict:
        return {
            "rows": self.total_rows,
            "pairs": sum(self.pairs.values()),
            "prompts": sum(self.prompts.values()),
            "judgments": judgments,
            "annotators": annotators,
            "models": len(self.models),
            "splits": {s: {"rows": self.rows[s], "pairs": self.pairs[s], "prompts": self.prompts[s]}
                       for s in self.layout.splits},
            self.layout.outcome_key: {d: {"A": self.outcomes[d, "A"], "B": self.outcomes[d, "B"],
                                          "tie": self.outcomes[d, "tie"], "none": self.outcomes[d, None]}
                                      for d in self.layout.dimensions},
        }
