"""Call an ML entry point in this process, or on several GPUs through a launcher child process.

One GPU (or CPU): the function runs here, with the tracker's ``progress`` and ``should_stop``.

Several GPUs (``processes`` > 1 in the run's config): ``RUN_LAUNCHER`` (default torchrun: ``python -m
torch.distributed.run --standalone --nproc_per_node {n} -m rewardlab.child``) starts ``rewardlab/child.py`` in ``n`` processes. Rank 0
appends each progress record as a JSON line to ``launch/progress.jsonl``; this process follows that file
into the tracker, creates ``launch/STOP`` when the run must stop (the children poll it as their
should_stop), and reads ``launch/result.json`` when they exit. The children get SIGTERM if this process
dies, so a killed worker leaves no orphaned training behind; the run then resumes from its checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from rewardlab import conf
from rewardlab.child import ENTRIES, load_entry
from rewardlab.services.runner import RunTracker

POLL_SECONDS = 0.5


def call_ml(entry: str, config, tracker: RunTracker, *, processes: int = 1) -> dict:
    if processes <= 1:
        function = load_entry(entry)
        if ENTRIES[entry].takes_should_stop:
            return function(config, progress=tracker.progress, should_stop=tracker.should_stop)
        return function(config, progress=tracker.progress)
    return launch_and_follow(entry, config, tracker, processes=processes)


def _die_with_parent() -> None:
    # Linux: the launcher gets SIGTERM when the worker process dies (it forwards it to its ranks).
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def launch_and_follow(entry: str, config, tracker: RunTracker, *, processes: int,
                      launcher: str | None = None) -> dict:
    folder = Path(config.output_dir).parent / "launch"
    folder.mkdir(parents=True, exist_ok=True)
    progress_file, stop_file, result_file = folder / "progress.jsonl", folder / "STOP", folder / "result.json"
    for stale in (progress_file, stop_file, result_file):
        stale.unlink(missing_ok=True)
    spec = folder / "spec.json"
    spec.write_text(json.dumps({"entry": entry, "config": dataclasses.asdict(config), "progress_file": str(progress_file),
                                "stop_file": str(stop_file), "result_file": str(result_file)}, indent=1))
    command = shlex.split((launcher or conf.launcher()).format(n=processes, python=sys.executable)) + ["--spec", str(spec)]
    with (folder / "child.log").open("ab") as child_log:
        child = subprocess.Popen(command, stdout=child_log, stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parents[2],
                                 env={**os.environ, "PYTHONUNBUFFERED": "1"},
                                 preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        try:
            offset = 0
            while True:
                exited = child.poll() is not None
                offset = _follow(progress_file, offset, tracker)
                if exited:
                    break
                if tracker.should_stop() and not stop_file.exists():
                    stop_file.touch()
                time.sleep(POLL_SECONDS)
        finally:
            if child.poll() is None:
                child.terminate()
                child.wait()
    if child.returncode != 0:
        tail = (folder / "child.log").read_text(errors="replace")[-4000:]
        raise RuntimeError(f"{command[0]} exited with status {child.returncode}; the end of {folder / 'child.log'}:\n{tail}")
    return json.loads(result_file.read_text())


def _follow(progress_file: Path, offset: int, tracker: RunTracker) -> int:
    """Feed the complete lines written since ``offset`` to the tracker; returns the new offset."""
    if not progress_file.exists():
        return offset
    with progress_file.open("rb") as f:
        f.seek(offset)
        chunk = f.read()
    complete = chunk[: chunk.rfind(b"\n") + 1]
    for line in complete.splitlines():
        if line.strip():
            tracker.progress(json.loads(line))
    return offset + len(complete)
