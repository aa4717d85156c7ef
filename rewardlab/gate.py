"""The pipeline's gate: does a newly trained reward model replace the project's current one?

Both models are evaluated on the same fixed set (rewardlab/ml/evaluate_reward.py results: per dimension and
overall, accuracy with and without ties). In mode ``beat`` the new model is promoted when, on the metric,

    new - current >= margin

on "overall", or on every dimension both models score (``on="dimensions"``). A metric that is undefined
(no pair people decided) never promotes. ``always`` promotes and ``never`` keeps (train and report only);
without a current model there is nothing to beat, so ``beat`` promotes.
"""

from __future__ import annotations

MODES = ("beat", "always", "never")
METRICS = ("acc_with_ties", "acc_without_ties")
ON = ("overall", "dimensions")
_EPS = 1e-9  # accuracies are fractions of small counts: 0.6 - 0.5 must pass a margin of 0.1


def _value(results: dict | None, key: str, metric: str) -> float | None:
    if not results:
        return None
    record = results.get("overall") if key == "overall" else (results.get("dimensions") or {}).get(key)
    return (record or {}).get(metric)


def gate_decide(*, mode: str, metric: str, margin: float, on: str, new: dict | None, current: dict | None) -> dict:
    """{"decision": "promote" | "keep", "reason", and the numbers compared: {key: {"new", "current", "difference"}}}."""
    if on == "overall":
        keys = ["overall"]
    else:
        keys = [k for k in (new or {}).get("dimensions", {}) if k in ((current or new or {}).get("dimensions") or {})]
    compared = {}
    for key in keys:
        a, b = _value(new, key, metric), _value(current, key, metric)
        compared[key] = {"new": a, "current": b, "difference": None if a is None or b is None else a - b}
    record = {"mode": mode, "metric": metric, "margin": margin, "on": on, "compared": compared}

    def decided(decision: str, reason: str) -> dict:
        return {"decision": decision, "reason": reason, **record}

    if mode == "always":
        return decided("promote", "the gate is set to always promote")
    if mode == "never":
        return decided("keep", "the gate is set to never promote (train and report only)")
    if current is None:
        return decided("promote", "there is no current reward model to beat")
    if not keys:
        return decided("keep", "the two models score no dimension in common; the current model stays")
    undefined = [k for k, c in compared.items() if c["difference"] is None]
    if undefined:
        return decided("keep", f"no {metric} on {', '.join(undefined)} (no pair there that people decided); "
                               "the current model stays")
    short = [f"{k} {c['new']:.3f} vs {c['current']:.3f}" for k, c in compared.items() if c["difference"] < margin - _EPS]
    if short:
        return decided("keep", f"{metric} does not beat the current model by {margin:+.3f} on {'; '.join(short)}")
    return decided("promote", f"{metric} beats the current model by at least {margin:+.3f} on {', '.join(keys)}")
