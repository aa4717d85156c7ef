"""The multi-GPU launch path on the CPU: torchrun starts two ranks (DistributedDataParallel over gloo), the worker
follows rank 0's progress file into the database and reads the result."""

import json
from pathlib import Path

import pytest

from rewardlab.models import RunMetric
from rewardlab.services import runner, submit
from tests.conftest import make_user
from tests.rewardlab import world


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_two_process_run_is_launched_followed_and_registered(trained_on):
    run = submit.reward_run_create(created_by=make_user("ddp", staff=True), dataset_version=trained_on.version,
                                   base_model_path=str(trained_on.base), dimensions=["vq", "mq"],
                                   hyperparameters={**world.TINY_REWARD_SETTINGS, "processes": 2}, enqueue=False)

    done = runner.execute_run(run_id=run.pk)

    assert done.status == "succeeded", done.error
    launch = Path(done.output_dir, "launch")
    records = [json.loads(line) for line in (launch / "progress.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "step" in r] == [1, 2, 3]  # rank 0 writes it, once per step
    assert [r["activity"] for r in records if "activity" in r] == ["loading the base model", "training"]  # once
    assert list(RunMetric.objects.filter(run=done, phase="train").values_list("step", flat=True)) == [1, 2, 3]
    assert done.rewardrun.reward_model.checkpoint_dir == done.rewardrun.checkpoint_dir
    assert "queued on the" not in done.log and run.config["processes"] == 2
