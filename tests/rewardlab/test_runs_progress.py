"""Run progress that tells the truth: it never goes back (phases are weighted, and the win rate counts both
models' videos as one pass), and a phase says what it is doing before its first step."""

import pytest

from rewardlab.models import Run
from rewardlab.services import runner, submit
from tests.conftest import make_user
from tests.rewardlab import world

pytestmark = pytest.mark.django_db(transaction=True)

TINY_FRAMES = {"num_frames": 1, "height": 32, "width": 64}
TINY_SAMPLING = {"num_frames": 5, "height": 32, "width": 32, "steps": 2, "guidance_scale": 1.0}


@pytest.mark.slow  # trains a reward model and aligns
def test_an_alignment_run_with_a_win_rate_only_moves_forward_and_says_what_it_does():
    project = world.build_project()
    version = world.export_version(project)
    admin = make_user("progress_admin", staff=True)
    reward = submit.reward_run_create(created_by=admin, dataset_version=version, base_model_path=str(world.tiny_reward_base()),
                                      dimensions=["vq", "mq"], hyperparameters=world.TINY_REWARD_SETTINGS, enqueue=False)
    assert runner.execute_run(run_id=reward.pk).status == "succeeded"
    run = submit.alignment_run_create(
        created_by=admin, dataset_version=version, method="flow_dpo", base_model_path=str(world.tiny_generator()),
        reward_model=reward.reward_model, hyperparameters={
            "max_steps": 3, "batch_size": 2, "micro_batch_size": 2, "lora_r": 4, "lora_alpha": 8, "win_rate_prompts": 2,
            "sampling": TINY_SAMPLING, **TINY_FRAMES}, enqueue=False)

    seen = []  # what the database says after every report: (phase, activity, step, total, progress)

    def record(tracker):
        row = Run.objects.get(pk=run.pk)
        seen.append((row.phase, row.activity, row.step, row.total_steps, row.progress))

    assert runner.execute_run(run_id=run.pk, on_progress=record).status == "succeeded"

    progress = [s[4] for s in seen]
    assert progress == sorted(progress) and progress[-1] == pytest.approx(1.0)
    first_align = next(s for s in seen if s[0] == "align")
    assert first_align[2] == 0 and first_align[1].startswith("reading the pairs")  # said before any step
    align_activities = [s[1] for s in seen if s[0] == "align" and s[2] == 0]
    assert any(a.startswith("encoding latents") for a in align_activities)
    # The win rate counts 2 prompts x 2 seeds x 2 models as one pass of 8 videos, then says it is scoring them.
    counted = [(s[2], s[3]) for s in seen if s[0] == "win_rate" and s[3]]
    assert [step for step, _ in counted] == sorted(step for step, _ in counted) and counted[-1] == (8, 8)
    assert [s for s in seen if s[0] == "win_rate"][-1][1].startswith("scoring")
