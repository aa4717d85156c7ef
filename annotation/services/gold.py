"""Gold pairs: pairs with a known answer, mixed into the queue at the project's gold ratio to score annotators.

A gold pair looks like any other pair to an annotator. Everyone may judge it once, so its target is raised
far above the project's overlap; its votes are scored against the GoldAnswer and kept out of agreement,
consensus and the leaderboard.
"""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest

from annotation.models import GoldAnswer, Judgment, Outcome, Pair, Project
from config.errors import InvalidInput

GOLD_TARGET = 10_000


def validated_outcomes(project: Project, choices: object) -> dict[str, str]:
    """Canonical outcomes for some or all of the project's dimensions: {"vq": "A"|"B"|"tie", ...}."""
    if not isinstance(choices, dict) or not choices:
        raise InvalidInput('choices must be a non-empty object like {"overall": "A"}.', fields={"choices": ["empty or not an object"]})
    fields = {}
    for key, value in choices.items():
        if key not in project.dimension_keys:
            fields[f"choices.{key}"] = [f"unknown dimension; this project's dimensions are {', '.join(project.dimension_keys)}"]
        elif value not in Outcome.values:
            fields[f"choices.{key}"] = [f"must be A, B or tie (the pair's canonical order), not {value!r}"]
    if fields:
        raise InvalidInput("Some outcomes are invalid: " + "; ".join(f"{k}: {v[0]}" for k, v in fields.items()), fields=fields)
    return {key: choices[key] for key in project.dimension_keys if key in choices}


@transaction.atomic
def gold_mark(*, pair: Pair, choices: dict[str, str], note: str = "", created_by: AbstractBaseUser) -> GoldAnswer:
    """Make ``pair`` a gold pair with the given answers (marking it again replaces them)."""
    outcomes = validated_outcomes(pair.project, choices)
    gold, _ = GoldAnswer.objects.update_or_create(
        pair=pair, defaults={"choices": outcomes, "note": note.strip(), "created_by": created_by})
    Pair.objects.filter(pk=pair.pk).update(is_gold=True, target=GOLD_TARGET)
    Judgment.objects.filter(pair=pair).update(is_gold=True)
    return gold


@transaction.atomic
def gold_unmark(*, pair: Pair) -> None:
    """Back to an ordinary pair that needs the project's overlap (or keeps the judgments it already has)."""
    GoldAnswer.objects.filter(pair=pair).delete()
    Pair.objects.filter(pk=pair.pk).update(is_gold=False, target=Greatest(F("done_count"), Value(pair.project.overlap)))
    Judgment.objects.filter(pair=pair).update(is_gold=False)
