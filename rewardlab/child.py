"""One process of a multi-GPU run, started by a launcher: ``torchrun ... -m rewardlab.child --spec spec.json``.

No Django here: the worker that launched us (rewardlab/services/distributed.py) owns the database. Rank 0
writes progress records as JSON lines and the result as JSON; every rank stops when the stop file appears
(the ML code broadcasts rank 0's decision, so all ranks stop at the same step).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Entry:
    module: str
    config: str
    function: str
    takes_should_stop: bool


ENTRIES = {
    "train_reward": Entry("rewardlab.ml.train_reward", "RewardTrainConfig", "train_reward", True),
    "run_alignment": Entry("rewardlab.ml.align", "AlignConfig", "run_alignment", True),
    "train_latent_reward": Entry("rewardlab.ml.flow_nrg", "LatentRewardTrainConfig", "train_latent_reward", False),
}


def load_entry(name: str, part: str = "function") -> Callable:
    entry = ENTRIES[name]
    return getattr(importlib.import_module(entry.module), getattr(entry, part))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spec", required=True, help="JSON: entry, config, progress_file, stop_file, result_file")
    spec = json.loads(Path(parser.parse_args(argv).spec).read_text())
    config = load_entry(spec["entry"], "config")(**spec["config"])
    rank0 = int(os.environ.get("RANK", "0")) == 0
    progress_file, stop_file = Path(spec["progress_file"]), Path(spec["stop_file"])

    def progress(record: dict) -> None:
        if rank0:
            with progress_file.open("a") as f:
                f.write(json.dumps(record, default=float) + "\n")

    kwargs: dict = {"progress": progress}
    if ENTRIES[spec["entry"]].takes_should_stop:
        kwargs["should_stop"] = stop_file.exists
    result = load_entry(spec["entry"])(config, **kwargs)
    if rank0:
        tmp = Path(spec["result_file"] + ".tmp")
        tmp.write_text(json.dumps(result, default=str))
        os.replace(tmp, spec["result_file"])


if __name__ == "__main__":
    main()
