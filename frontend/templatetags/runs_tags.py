"""``{% human_model_agreement project %}``: the project reward model's agreement with people (quality page)."""

from django import template

from rewardlab.selectors import human_model_agreement as agreement_of

register = template.Library()


@register.inclusion_tag("frontend/runs_agreement.html")
def human_model_agreement(project) -> dict:
    return {"project": project, "agreement": agreement_of(project)}
