"""A Bradley–Terry leaderboard of a project's generation models, per dimension: the battles come out of the
database here, the fit and its bootstrap intervals are annotation.bradley_terry's.

Every vote on an ordinary (non-gold) pair of videos from two different models is one battle.
"""

from django.db.models import Count, F
from django.db.models.fields.json import KT

from annotation.bradley_terry import arena_ranks, bradley_terry_table
from annotation.models import GenerationModel, Judgment, Project
from config.errors import InvalidInput

MAX_ROUNDS = 2000


def project_leaderboard(*, project: Project, dimension: str | None = None, rounds: int = 200, seed: int = 0) -> dict:
    """The leaderboard of ``dimension`` (default: "overall" if the project has it, else its first dimension)."""
    keys = project.dimension_keys
    dimension = dimension or ("overall" if "overall" in keys else keys[0])
    if dimension not in keys:
        raise InvalidInput(f"Unknown dimension {dimension!r}; this project's dimensions are {', '.join(keys)}.",
                           fields={"dimension": ["unknown dimension"]})
    if not 0 <= rounds <= MAX_ROUNDS:
        raise InvalidInput(f"rounds must be between 0 and {MAX_ROUNDS}.", fields={"rounds": ["out of range"]})
    cells = (Judgment.objects.filter(pair__project=project, pair__is_gold=False)
             .exclude(pair__video_a__generation_model=F("pair__video_b__generation_model"))
             .values(a=F("pair__video_a__generation_model"), b=F("pair__video_b__generation_model"),
                     outcome=KT(f"choices__{dimension}"))
             .annotate(n=Count("id")).order_by())
    score_of_a = {"A": 1.0, "B": 0.0, "tie": 0.5}
    cells = [c for c in cells if c["outcome"] in score_of_a]
    model_ids = sorted({c["a"] for c in cells} | {c["b"] for c in cells})
    index = {model_id: n for n, model_id in enumerate(model_ids)}
    battles = [(index[c["a"]], index[c["b"]], score_of_a[c["outcome"]], c["n"]) for c in cells]
    rows = bradley_terry_table(battles, rounds=rounds, seed=seed) if battles else []
    names = dict(GenerationModel.objects.filter(pk__in=model_ids).values_list("pk", "name"))
    models = [{"model": names[model_id], **row} for model_id, row in zip(model_ids, rows, strict=True)]
    arena_ranks(models)
    return {"dimension": dimension, "battles": sum(c["n"] for c in cells), "rounds": rounds, "seed": seed,
            "ties": "half a win each", "models": models}
