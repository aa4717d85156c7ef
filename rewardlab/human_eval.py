"""Reads: how people judged a generation's candidate videos against its baselines (the paper's human evaluation:
win/tie/loss of the aligned model against its base on the same prompts), next to what the project's reward
model says about the same pairs. Win rates count ties half; intervals are bootstraps over pairs."""

from __future__ import annotations

from django.db.models import Q

from annotation.models import Judgment, Pair, Project, Video
from rewardlab.ml.intervals import OUTCOME, bootstrap_ci95, score_outcome, win_rate
from rewardlab.models import AlignmentRun, Generation, RewardModel, VideoScore

BASELINE = "baseline"  # the strategy that pairs candidates with their baselines only


def has_baseline(generation: Generation) -> bool:
    return any(v.get("role") == "baseline" for v in generation.videos)


def baseline_couples(generation: Generation, video_ids: list[int]) -> list[tuple[int, int]]:
    """(candidate video id, baseline video id) per prompt and seed, from the ids the round ingested in the order of
    ``generation.videos``. A candidate identical to its baseline (an adapter that changed nothing) is one video
    after ingest, which cannot be paired with itself: it is left out."""
    by_key: dict[tuple, dict[str, int]] = {}
    for item, video_id in zip(generation.videos, video_ids, strict=True):
        by_key.setdefault((item["prompt"], item.get("seed")), {})[item.get("role", "candidate")] = video_id
    return [(ids["candidate"], ids["baseline"]) for ids in by_key.values()
            if {"candidate", "baseline"} <= set(ids) and ids["candidate"] != ids["baseline"]]


def evaluated_generations(run: AlignmentRun) -> list[Generation]:
    """The generations that sampled with this run's adapter or guidance, rendered baselines and went to people."""
    generations = Generation.objects.filter(Q(alignment_run=run) | Q(nrg_run=run), round_status="sent").order_by("pk")
    return [g for g in generations if has_baseline(g)]


def _outcome(choice: str | None, candidate_is_a: bool) -> str | None:
    if choice == "tie":
        return "tie"
    if choice in ("A", "B"):
        return "win" if (choice == "A") == candidate_is_a else "loss"
    return None


def _reward_win_rates(model: RewardModel | None, couples: list[tuple[int, int]], dimensions: list[str]) -> dict:
    """Per dimension, the reward model's win rate of candidates over baselines on the pairs it scored both of."""
    if model is None:
        return {}
    ids = [v for couple in couples for v in couple]
    scores = dict(VideoScore.objects.filter(reward_model=model, video_id__in=ids).values_list("video_id", "scores"))
    rates = {}
    for dim in dimensions:
        groups = [[score_outcome(scores[c][dim], scores[b][dim])]
                  for c, b in couples if dim in scores.get(c, {}) and dim in scores.get(b, {})]
        rates[dim] = {"win_rate": win_rate(groups), "ci95": bootstrap_ci95(groups), "pairs": len(groups)}
    return rates


def generation_human_eval(generation: Generation) -> dict:
    """Candidate vs baseline per dimension over the judgments of the pairs that the round made of them."""
    videos = {v.get("role", "candidate"): v["model"] for v in generation.videos}
    couples = (baseline_couples(generation, generation.round_video_ids)
               if generation.round_status == "sent" and generation.round_video_ids else [])
    candidate_of = {frozenset(c): c[0] for c in couples}
    ids = [v for c in couples for v in c]
    pairs = [p for p in Pair.objects.filter(video_a_id__in=ids, video_b_id__in=ids, is_gold=False)
             if frozenset((p.video_a_id, p.video_b_id)) in candidate_of]

    def candidate_first(pair: Pair) -> tuple[int, int]:
        a, b = pair.video_a_id, pair.video_b_id
        return (a, b) if candidate_of[frozenset((a, b))] == a else (b, a)

    project = Project.objects.get(pk=Video.objects.get(pk=ids[0]).project_id) if ids else generation.project
    dimensions = project.dimension_keys
    judgments: dict[int, list[dict]] = {}
    for pair_id, choices in Judgment.objects.filter(pair__in=pairs).order_by("pk").values_list("pair_id", "choices"):
        judgments.setdefault(pair_id, []).append(choices)
    reward_model = RewardModel.objects.filter(project=project, is_active=True).first()
    reward = _reward_win_rates(reward_model, [candidate_first(p) for p in pairs], dimensions)
    per_dimension = []
    for dim, label in project.dimension_columns(dimensions):
        groups = []
        counts = {"win": 0, "tie": 0, "loss": 0}
        for pair in pairs:
            candidate_is_a = candidate_first(pair)[0] == pair.video_a_id
            outcomes = [o for o in (_outcome(c.get(dim), candidate_is_a) for c in judgments.get(pair.pk, [])) if o]
            for o in outcomes:
                counts[o] += 1
            groups.append([OUTCOME[o] for o in outcomes])
        per_dimension.append({
            "key": dim, "label": label, "wins": counts["win"], "ties": counts["tie"], "losses": counts["loss"],
            "win_rate": win_rate(groups), "ci95": bootstrap_ci95(groups),
            "reward_win_rate": reward.get(dim, {}).get("win_rate"), "reward_ci95": reward.get(dim, {}).get("ci95"),
        })
    return {
        "generation": generation.pk, "project": project.pk, "candidate": videos.get("candidate"),
        "baseline": videos.get("baseline"), "pairs": len(pairs), "judged_pairs": sum(1 for p in pairs if judgments.get(p.pk)),
        "pair_ids": [p.pk for p in pairs], "reward_model": reward_model.pk if reward_model else None,
        "dimensions": per_dimension,
    }
