"""The gate's rule on hand-computed numbers: new - current >= margin, on Overall or on every shared dimension."""

from rewardlab.gate import gate_decide


def results(overall: float | None, **dimensions: float | None) -> dict:
    return {"overall": {"acc_with_ties": overall, "acc_without_ties": None},
            "dimensions": {d: {"acc_with_ties": v, "acc_without_ties": v} for d, v in dimensions.items()}}


def decide(new, current, *, mode="beat", metric="acc_with_ties", margin=0.1, on="overall") -> dict:
    return gate_decide(mode=mode, metric=metric, margin=margin, on=on, new=new, current=current)


def test_the_new_model_is_promoted_only_when_it_beats_the_current_one_by_the_margin():
    promoted = decide(results(0.6), results(0.5))  # 0.6 - 0.5 is 0.09999999999999998 in floating point
    assert promoted["decision"] == "promote" and promoted["compared"]["overall"] == {"new": 0.6, "current": 0.5,
                                                                                     "difference": 0.6 - 0.5}
    kept = decide(results(0.55), results(0.5))
    assert kept["decision"] == "keep" and "overall 0.550 vs 0.500" in kept["reason"]
    assert decide(results(0.45), results(0.5), margin=-0.1)["decision"] == "promote"  # a tolerated small loss


def test_per_dimension_every_shared_dimension_must_clear_the_margin():
    new, current = results(0.9, vq=0.8, mq=0.55, ta=0.9), results(0.5, vq=0.6, mq=0.5)
    kept = decide(new, current, on="dimensions")
    assert kept["decision"] == "keep" and set(kept["compared"]) == {"vq", "mq"} and "mq 0.550 vs 0.500" in kept["reason"]
    assert decide(new, current, on="dimensions", margin=0.05)["decision"] == "promote"


def test_undefined_numbers_keep_and_the_fixed_modes_do_what_they_say():
    assert decide(results(None), results(0.5))["decision"] == "keep"
    assert decide(results(0.1), None)["reason"] == "there is no current reward model to beat"
    assert decide(results(0.1), results(0.9), mode="always")["decision"] == "promote"
    never = decide(results(0.9), results(0.1), mode="never")
    assert never["decision"] == "keep" and never["compared"]["overall"]["difference"] == 0.9 - 0.1
