"""The run commands: thin shells over the same services, running here with a progress bar or queueing."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from rewardlab.models import RewardModel, Run, VideoScore
from tests.rewardlab import world

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.slow  # trains
def test_train_evaluate_and_score_from_the_command_line(trained_on):
    settings = [f"--set={k}={v}" for k, v in world.TINY_REWARD_SETTINGS.items()]
    out = StringIO()
    call_command("train_reward", f"--dataset-version={trained_on.version.pk}", f"--base-model={trained_on.base.name}",
                 "--dimensions=vq,mq", "--name=cli", *settings, stdout=out, stderr=StringIO())

    model = RewardModel.objects.get(name="cli")
    assert "succeeded" in out.getvalue() and "created to run in the process that asked for it" in model.source_run.log
    out = StringIO()
    call_command("evaluate_reward", f"--reward-model={model.pk}", f"--dataset-version={trained_on.version.pk}",
                 "--split=test", stdout=out, stderr=StringIO())
    assert "without ties" in out.getvalue() and "(3 decided of 3)" in out.getvalue()
    call_command("score_videos", f"--reward-model={model.pk}", stdout=StringIO(), stderr=StringIO())
    assert VideoScore.objects.filter(reward_model=model).count() == 8

    out = StringIO()
    call_command("score_videos", f"--reward-model={model.pk}", "--queue", stdout=out)
    assert "Queued video scoring run" in out.getvalue() and Run.objects.filter(kind="scoring", status="queued").exists()


def test_a_bad_setting_stops_the_command_with_the_field_to_fix(trained_on):
    with pytest.raises(CommandError, match=r"hyperparameters.lr must be between 0 and 1"):
        call_command("train_reward", f"--dataset-version={trained_on.version.pk}", f"--base-model={trained_on.base}",
                     "--set=lr=7")
    assert not Run.objects.exists()
