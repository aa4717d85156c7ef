"""Adjudication: a manager decides the dimensions on which a pair's annotators reached no consensus."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from annotation.models import Adjudication, Pair
from annotation.services.gold import validated_outcomes


@transaction.atomic
def adjudication_decide(*, pair: Pair, choices: dict[str, str], decided_by: AbstractBaseUser) -> Adjudication:
    """Record the decision for some dimensions; it overrides the vote there. Deciding again merges."""
    outcomes = validated_outcomes(pair.project, choices)
    adjudication = Adjudication.objects.select_for_update().filter(pair=pair).first()
    if adjudication is None:
        return Adjudication.objects.create(pair=pair, choices=outcomes, decided_by=decided_by)
    adjudication.choices = {**adjudication.choices, **outcomes}
    adjudication.decided_by = decided_by
    adjudication.save(update_fields=["choices", "decided_by"])
    return adjudication
