"""What each kind of run does on the worker: build the ML config from the row, call rewardlab.ml, save outputs.

An executor is resumable by construction: the ML functions resume from ``output_dir`` (reward training
and alignment continue from their last checkpoint; a finished training returns its saved result), and the
outputs are written idempotently, so a run that lost its worker after any step can simply run again.
rewardlab.ml is imported inside the functions: the web process and the Celery parent never load torch.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from pathlib import Path

from rewardlab import conf
from rewardlab import hyperparameters as hp
from rewardlab.models import AlignmentRun, Generation, RewardEval, RewardRun, Run, ScoreRun
from rewardlab.services import datasets, outputs
from rewardlab.services.distributed import call_ml
from rewardlab.services.runner import RunTracker
from rewardlab.services.runs import RunStopped
from rewardlab.services.scoring import score_unscored_videos


def _known(config_cls, values: dict) -> dict:
    """The run's hyperparameters that the ML config takes (the rest are ours, e.g. ``processes``)."""
    names = {f.name for f in dataclasses.fields(config_cls)}
    return {k: v for k, v in values.items() if k in names}


def _dataset(run: Run, version) -> tuple[Path, str]:
    """The version's pairs file, and the folder its video paths resolve against."""
    return datasets.check_trainable(version), str(datasets.video_root(version, Path(run.output_dir)))


def _stopped_if(result: dict) -> None:
    if result.get("stopped"):
        raise RunStopped()


# --- reward training ------------------------------------------------------------------------------------------------

def train_reward_run(run: RewardRun, tracker: RunTracker) -> str:
    """Train on the version's train split (validating on val), register the checkpoint, evaluate it on test."""
    from rewardlab.ml.evaluate_reward import evaluate_reward
    from rewardlab.ml.train_reward import RewardTrainConfig

    pairs_file, videos = _dataset(run, run.dataset_version)
    counts = datasets.split_counts(pairs_file)
    eval_split = "test" if counts.get("test") else None
    tracker.plan([("train", 0.85), ("evaluate", 0.15)] if eval_split else [("train", 1.0)])

    config = RewardTrainConfig(
        base_model_path=run.base_model_path, train_file=str(pairs_file), output_dir=str(Path(run.output_dir) / "train"),
        dimensions=list(run.dimensions), val_file=str(pairs_file) if counts.get("val") else None, video_root=videos,
        device=conf.device(), resume=True, **_known(RewardTrainConfig, run.config),
    )
    tracker.begin("train")
    result = call_ml("train_reward", config, tracker, processes=int(run.config.get("processes", 1)))
    _stopped_if(result)
    reward_model = outputs.reward_run_trained(run=run, attempt=tracker.attempt, result=result)

    if eval_split:
        tracker.begin("evaluate", stop_in_progress=True)
        results = evaluate_reward(checkpoint_dir=reward_model.checkpoint_dir, base_model_path=run.base_model_path,
                                  pairs_file=pairs_file, split=eval_split, video_root=videos, device=conf.device(),
                                  progress=tracker.progress)
        outputs.reward_run_evaluated(run=run, attempt=tracker.attempt, reward_model=reward_model, split=eval_split,
                                     results=results)
        accuracy = results["overall"].get("acc_without_ties")
        shown = f"{accuracy:.1%}" if accuracy is not None else "n/a (no pair there that people decided)"
        return f"{result['steps']} steps; {eval_split} accuracy without ties {shown}"
    return f"{result['steps']} steps; the dataset version has no test split, so no evaluation"


# --- evaluation and scoring -----------------------------------------------------------------------------------------

def evaluate_reward_run(run: RewardEval, tracker: RunTracker) -> str:
    from rewardlab.ml.evaluate_reward import evaluate_reward

    tracker.plan([("evaluate", 1.0)])
    tracker.begin("evaluate", stop_in_progress=True)
    model = run.reward_model
    if run.dataset_version_id:
        (pairs_file, videos), split = _dataset(run, run.dataset_version), run.split or None
    else:
        pairs_file, videos, split = Path(run.benchmark_csv), None, None
    results = evaluate_reward(checkpoint_dir=model.checkpoint_dir, base_model_path=model.base_model_path,
                              pairs_file=pairs_file, split=split, video_root=videos, device=conf.device(),
                              progress=tracker.progress)
    outputs.reward_eval_results(run=run, attempt=tracker.attempt, results=results)
    return f"overall accuracy without ties {results['overall'].get('acc_without_ties')}"


def score_run(run: ScoreRun, tracker: RunTracker) -> str:
    tracker.plan([("score", 1.0)])
    tracker.begin("score", stop_in_progress=True)
    scored = score_unscored_videos(reward_model=run.reward_model, progress=tracker.progress)
    outputs.score_run_counted(run=run, attempt=tracker.attempt, scored=scored)
    return f"{scored} videos scored"


# --- alignment and generation ---------------------------------------------------------------------------------------

def align_run(run: AlignmentRun, tracker: RunTracker) -> str:
    if run.method == AlignmentRun.Method.FLOW_NRG:
        return _train_latent_reward(run, tracker)
    from rewardlab.ml.align import AlignConfig

    judge = run.reward_model
    with_win_rate = judge is not None and int(run.config.get("win_rate_prompts", 0)) > 0
    # Flow-RWR weights videos by the judge's rewards; Flow-DPO with relabel lets it label the pairs.
    rewards_from = judge if judge and (run.method == AlignmentRun.Method.FLOW_RWR or run.config.get("relabel")) else None
    tracker.plan([("align", 0.8), ("win_rate", 0.2)] if with_win_rate else [("align", 1.0)])
    pairs_file, videos = _dataset(run, run.dataset_version)
    config = AlignConfig(
        method=run.method, base_model_path=run.base_model_path, pairs_file=str(pairs_file), video_root=videos,
        output_dir=str(Path(run.output_dir) / "align"), device=conf.device(), resume=True, cache_dir=str(conf.latent_cache_dir()),
        reward_checkpoint=rewards_from.checkpoint_dir if rewards_from else None,
        reward_base_model_path=rewards_from.base_model_path if rewards_from else None,
        **_known(AlignConfig, run.config),
    )
    tracker.begin("align")
    result = call_ml("run_alignment", config, tracker, processes=int(run.config.get("processes", 1)))
    _stopped_if(result)
    outputs.alignment_trained(run=run, attempt=tracker.attempt, result=result)
    if not with_win_rate:
        return f"{result['steps']} steps; adapter in {result['adapter_dir']}"
    tracker.begin("win_rate", stop_in_progress=True)
    win = _win_rate(run, judge, result["adapter_dir"], tracker)
    outputs.alignment_win_rate(run=run, attempt=tracker.attempt, win_rate=win["win_rate"], ci95=win["ci95"], n=win["n"])
    return f"{result['steps']} steps; win rate {win['win_rate']}"


def _win_rate(run: AlignmentRun, judge, adapter_dir: str, tracker: RunTracker) -> dict:
    from rewardlab.ml.win_rate import WinRateConfig, evaluate_alignment

    config = WinRateConfig(
        base_model_path=run.base_model_path, reward_checkpoint=judge.checkpoint_dir, reward_base_model_path=judge.base_model_path,
        output_dir=str(Path(run.output_dir) / "win_rate"), adapter_dir=adapter_dir,
        prompts=_eval_prompts(run, int(run.config["win_rate_prompts"])), seeds=list(run.config["win_rate_seeds"]),
        device=conf.device(), **_known(WinRateConfig, hp.win_rate_sampling(run.config)),
    )
    return evaluate_alignment(config, progress=tracker.progress)


def _eval_prompts(run: AlignmentRun, n: int) -> list[str]:
    """``n`` prompts of the bundled set the run names, drawn at random (seeded: every run of the set sees the same
    ones; the files are ordered by topic). With "dataset": the version's held-out prompts first (test, then val),
    then training prompts, since the win rate should not be measured on what the adapter was trained on when
    anything else is available."""
    from rewardlab.ml.data import load_pairs
    from rewardlab.ml.prompt_sets import read_prompts

    source = run.config.get("win_rate_prompt_set", "dataset")
    if source != "dataset":
        prompts = read_prompts(source)
        return random.Random(0).sample(prompts, min(n, len(prompts)))

    pairs = load_pairs(datasets.check_trainable(run.dataset_version), split=None)
    order = {"test": 0, "val": 1}
    prompts: list[str] = []
    for pair in sorted(pairs, key=lambda p: order.get(p.split, 2)):
        if pair.prompt not in prompts:
            prompts.append(pair.prompt)
    return prompts[:n]


def _train_latent_reward(run: AlignmentRun, tracker: RunTracker) -> str:
    from rewardlab.ml.flow_nrg import LatentRewardTrainConfig

    tracker.plan([("latent_reward", 1.0)])
    pairs_file, videos = _dataset(run, run.dataset_version)
    config = LatentRewardTrainConfig(
        base_model_path=run.base_model_path, pairs_file=str(pairs_file), video_root=videos,
        output_dir=str(Path(run.output_dir) / "latent_reward"), device=conf.device(), cache_dir=str(conf.latent_cache_dir()),
        **_known(LatentRewardTrainConfig, {"dimensions": run.dimensions or None, **run.config}),
    )
    # train_latent_reward takes no should_stop: a cancel stops it after its current step.
    tracker.begin("latent_reward", stop_in_progress=True)
    result = call_ml("train_latent_reward", config, tracker, processes=1)
    outputs.latent_reward_trained(run=run, attempt=tracker.attempt, folder=result["output_dir"], dimensions=result["dimensions"])
    return f"{result['steps']} steps; latent reward model in {result['output_dir']}"


def generate_run(run: Generation, tracker: RunTracker) -> str:
    from rewardlab.ml.generate import GenerateConfig, generate_videos

    # The base model's videos for the same prompts, seeds and sampler settings: the pairs that isolate what the
    # adapter or the guidance changed (rounds.py pairs each candidate with its baseline).
    with_baseline = bool(run.config.get("baseline", True)) and bool(run.alignment_run_id or run.nrg_run_id)
    tracker.plan([("generate", 1.0), ("baseline", 1.0)] if with_baseline else [("generate", 1.0)])
    same = dict(base_model_path=run.base_model_path, prompts=list(run.prompts), seeds=list(run.seeds),
                output_dir=str(Path(run.output_dir) / "videos"), device=conf.device(),
                **_known(GenerateConfig, {k: v for k, v in run.config.items() if k != "model_name"}))
    candidate = GenerateConfig(
        **same, adapter_dir=run.alignment_run.adapter_dir if run.alignment_run_id else None,
        nrg_checkpoint=run.nrg_run.latent_reward_dir if run.nrg_run_id else None,
        nrg_weights=dict(run.nrg_weights) or None, model_name=run.config.get("model_name") or _model_name(run),
    )
    tracker.begin("generate", stop_in_progress=True)
    videos = [{**v, "role": "candidate"} for v in generate_videos(candidate, progress=tracker.progress)]
    if with_baseline:
        tracker.begin("baseline", stop_in_progress=True)
        baseline = GenerateConfig(**same, model_name=Path(run.base_model_path).name)
        videos += [{**v, "role": "baseline"} for v in generate_videos(baseline, progress=tracker.progress)]
    outputs.generation_videos(run=run, attempt=tracker.attempt, videos=videos)
    return f"{len(videos)} videos" + (" (half of them the base model's, for comparison)" if with_baseline else "")


def _model_name(run: Generation) -> str:
    """What the videos are called as a generation model in a project: the base folder, then what changed it."""
    name = Path(run.base_model_path).name
    if run.alignment_run_id:
        name += f"+{run.alignment_run.method}-run{run.alignment_run_id}"
    if run.nrg_run_id:
        name += f"+nrg-run{run.nrg_run_id}"
    return name


# kind -> what runs it; it gets the run as its kind's model (rewardlab.models.KIND_MODELS).
EXECUTORS: dict[str, Callable[[Run, RunTracker], str]] = {
    Run.Kind.REWARD_TRAIN: train_reward_run,
    Run.Kind.REWARD_EVAL: evaluate_reward_run,
    Run.Kind.SCORING: score_run,
    Run.Kind.ALIGNMENT: align_run,
    Run.Kind.GENERATION: generate_run,
}
