"""Quality on hand-worked examples: alpha, consensus and adjudication, annotator stats, leaderboard, through the
selectors and the API (the pure math has its own tests: test_alpha.py, test_bradley_terry.py)."""

import math

import pytest

from annotation.services.gold import gold_mark
from tests.annotation.queue_world import add_annotators, make_pairs
from tests.factories import JudgmentFactory


@pytest.fixture
def judged_world(project_world):
    """Three annotators, two finished pairs, a pair of two votes with no overall consensus, and a gold pair.

         pair  target  good (u1)         sloppy (u2)        careful (u3)
         p1    3       vq A, overall A   vq B, overall B    vq A, overall A
         p2    3       vq B, overall tie vq A, overall A    vq B, overall tie
         p3    2       vq A, overall A                      vq A, overall tie
         gold          vq B, overall A   vq A, overall A    (answer: vq B, overall A)
    u2 is always shown the video it picks on the left, and answers in about a second.
    """
    project = project_world["project"]
    project.dimensions = [{"key": "vq", "label": "Visual Quality", "description": ""},
                          {"key": "overall", "label": "Overall", "description": ""}]
    project.save()
    good, sloppy, careful = add_annotators(project, ["good", "sloppy", "careful"])
    p1, p2 = make_pairs(project, 2)
    p3 = make_pairs(project, 1, target=2)[0]
    gold = make_pairs(project, 1)[0]
    gold_mark(pair=gold, choices={"vq": "B", "overall": "A"}, created_by=project_world["users"]["manager"])
    gold.refresh_from_db()

    JudgmentFactory(pair=p1, annotator=good, choices={"vq": "A", "overall": "A"}, duration_ms=5000)
    JudgmentFactory(pair=p2, annotator=good, choices={"vq": "B", "overall": "tie"}, duration_ms=6000)
    JudgmentFactory(pair=p3, annotator=good, choices={"vq": "A", "overall": "A"}, duration_ms=6000)
    JudgmentFactory(pair=gold, annotator=good, choices={"vq": "B", "overall": "A"}, duration_ms=7000)
    JudgmentFactory(pair=p1, annotator=sloppy, choices={"vq": "B", "overall": "B"}, shown_left="B", duration_ms=1000)
    JudgmentFactory(pair=p2, annotator=sloppy, choices={"vq": "A", "overall": "A"}, shown_left="A", duration_ms=1200)
    JudgmentFactory(pair=gold, annotator=sloppy, choices={"vq": "A", "overall": "A"}, shown_left="A", duration_ms=1500)
    JudgmentFactory(pair=p1, annotator=careful, choices={"vq": "A", "overall": "A"}, duration_ms=8000)
    JudgmentFactory(pair=p2, annotator=careful, choices={"vq": "B", "overall": "tie"}, duration_ms=9000)
    JudgmentFactory(pair=p3, annotator=careful, choices={"vq": "A", "overall": "tie"}, duration_ms=8500)
    return {**project_world, "pairs": (p1, p2, p3), "gold": gold}


def quality(world, **params):
    response = world["clients"]["manager"].get(f"/api/v1/projects/{world['project'].pk}/quality/", params)
    assert response.status_code == 200, response.content
    return response.data


def test_quality_reports_alpha_and_consensus_per_dimension(judged_world):
    report = quality(judged_world)

    vq, overall = report["dimensions"]
    # vq: p1 [A B A], p2 [B A B], p3 [A A]: o_AA = 1 + 2, o_BB = 1, o_AB = o_BA = 2; n_A = 5, n_B = 3, n = 8.
    # alpha = 1 - 7 * 4 / (2 * 5 * 3) = 1/15. The gold pair stays out.
    assert vq["alpha"] == pytest.approx(1 / 15, abs=1e-4)
    # overall: p1 [A B A], p2 [tie A tie], p3 [A tie]: n_A = 4, n_B = 1, n_tie = 3, n = 8, disagreements 6.
    # alpha = 1 - 7 * 6 / (2 * (4 + 12 + 3)) = -2/19.
    assert overall["alpha"] == pytest.approx(-2 / 19, abs=1e-4)
    assert vq["consensus"] == {"A": 2, "B": 1, "tie": 0, "undecided": 0}
    assert overall["consensus"] == {"A": 1, "B": 0, "tie": 1, "undecided": 1}
    assert report["totals"] == {"pairs": 3, "complete": 3, "gold": 1, "judgments": 10, "live_leases": 0, "skips": 0}


def test_quality_reports_each_annotator_and_flags_the_sloppy_one(judged_world):
    report = quality(judged_world, min_gold_answers=2, bias_z=2, min_bias_votes=6)
    rows = {row["username"]: row for row in report["annotators"]}

    good, sloppy, careful = rows["good"], rows["sloppy"], rows["careful"]
    assert (good["judgments"], sloppy["judgments"], careful["judgments"]) == (4, 3, 3)
    assert (good["median_seconds"], sloppy["median_seconds"], careful["median_seconds"]) == (6.0, 1.2, 8.5)
    assert (good["gold_accuracy"], sloppy["gold_accuracy"], careful["gold_accuracy"]) == (1.0, 0.5, None)
    assert (good["gold_pairs"], good["gold_answers"]) == (1, 2)
    # Against the consensus of ordinary pairs, where there is one (p3's overall has none yet).
    assert (good["consensus_agreement"], sloppy["consensus_agreement"], careful["consensus_agreement"]) == (1.0, 0.0, 1.0)
    # sloppy picked the left video in all 6 answers: z = (6 - 3) / sqrt(6 / 4).
    assert (sloppy["left_wins"], sloppy["right_wins"], sloppy["left_share"]) == (6, 0, 1.0)
    assert sloppy["bias_z"] == pytest.approx(3 / math.sqrt(1.5), abs=0.01)
    assert sorted(sloppy["flags"]) == ["low_gold_accuracy", "position_bias", "too_fast"]
    assert good["flags"] == [] and careful["flags"] == []
    assert (good["left_wins"], good["right_wins"], good["ties"]) == (5, 2, 1)  # A on the left throughout


def test_undecided_pairs_wait_for_an_adjudicator_whose_decision_becomes_the_consensus(judged_world):
    manager, p3 = judged_world["clients"]["manager"], judged_world["pairs"][2]
    url = f"/api/v1/projects/{judged_world['project'].pk}/adjudications/"

    queue = manager.get(url).data
    assert queue["count"] == 1
    item = queue["results"][0]
    assert item["pair"] == p3.pk and item["votes"]["overall"] == {"A": 1, "tie": 1}
    assert item["consensus"] == {"vq": "A", "overall": None}
    assert [j["annotator"] for j in item["judgments"]] == ["good", "careful"]

    decided = manager.post(f"/api/v1/pairs/{p3.pk}/adjudication/", {"choices": {"overall": "tie"}}, format="json")
    assert decided.status_code == 200 and decided.data["choices"] == {"overall": "tie"}

    assert manager.get(url).data == {"count": 0, "results": []}
    report = quality(judged_world)
    assert report["dimensions"][1]["consensus"] == {"A": 1, "B": 0, "tie": 2, "undecided": 0}
    assert report["dimensions"][1]["adjudicated"] == 1
    rows = {row["username"]: row for row in report["annotators"]}
    assert rows["good"]["consensus_agreement"] == pytest.approx(5 / 6, abs=1e-4)
    assert rows["careful"]["consensus_agreement"] == 1.0


def test_quality_tells_pairs_still_collecting_votes_from_those_waiting_for_an_adjudicator(judged_world):
    project = judged_world["project"]
    good, sloppy = (project.memberships.get(user__username=name).user for name in ("good", "sloppy"))
    p4 = make_pairs(project, 1)[0]  # wants 3 votes; its 2 have no majority yet (an even A/B split would be a tie)
    JudgmentFactory(pair=p4, annotator=good, choices={"vq": "A", "overall": "A"})
    JudgmentFactory(pair=p4, annotator=sloppy, choices={"vq": "A", "overall": "tie"})

    overall = quality(judged_world)["dimensions"][1]
    assert overall["consensus"]["undecided"] == 2 and overall["to_adjudicate"] == 1  # p3 is finished, p4 is not
    assert quality(judged_world)["dimensions"][0]["to_adjudicate"] == 0

    judged_world["clients"]["manager"].post(f"/api/v1/pairs/{judged_world['pairs'][2].pk}/adjudication/",
                                            {"choices": {"overall": "A"}}, format="json")
    overall = quality(judged_world)["dimensions"][1]
    assert overall["consensus"]["undecided"] == 1 and overall["to_adjudicate"] == 0


def test_adjudication_and_gold_reject_bad_outcomes_and_non_managers(judged_world):
    manager, annotator, p3 = judged_world["clients"]["manager"], judged_world["clients"]["annotator"], judged_world["pairs"][2]

    bad = manager.post(f"/api/v1/pairs/{p3.pk}/adjudication/", {"choices": {"overall": "left"}}, format="json")
    unknown = manager.put(f"/api/v1/pairs/{p3.pk}/gold/", {"choices": {"colour": "A"}}, format="json")
    assert bad.status_code == 400 and "choices.overall" in bad.data["error"]["fields"]
    assert unknown.status_code == 400 and "choices.colour" in unknown.data["error"]["fields"]
    assert annotator.post(f"/api/v1/pairs/{p3.pk}/adjudication/", {"choices": {"overall": "A"}}, format="json").status_code == 403
    assert annotator.get(f"/api/v1/projects/{judged_world['project'].pk}/quality/").status_code == 403
    assert judged_world["clients"]["other_manager"].put(f"/api/v1/pairs/{p3.pk}/gold/", {"choices": {"vq": "A"}},
                                                         format="json").status_code == 404


def test_gold_marking_and_unmarking_through_the_api(judged_world):
    manager, p1 = judged_world["clients"]["manager"], judged_world["pairs"][0]

    marked = manager.put(f"/api/v1/pairs/{p1.pk}/gold/", {"choices": {"overall": "A"}, "note": "obvious"}, format="json")
    assert marked.status_code == 200 and marked.data == {"pair": p1.pk, "choices": {"overall": "A"}, "note": "obvious"}
    p1.refresh_from_db()
    assert p1.is_gold and p1.target > 3 and p1.judgments.filter(is_gold=True).count() == 3

    assert manager.delete(f"/api/v1/pairs/{p1.pk}/gold/").status_code == 204
    p1.refresh_from_db()
    assert not p1.is_gold and p1.target == 3 and not p1.judgments.filter(is_gold=True).exists()


# ---- Bradley–Terry ---------------------------------------------------------------------------------------------

def test_leaderboard_api_ranks_models_with_bootstrap_intervals(project_world):
    project, manager = project_world["project"], project_world["clients"]["manager"]
    voters = add_annotators(project, ["v1", "v2", "v3"])
    for pair in make_pairs(project, 4, models=("strong-v2", "weak-v1")):
        for voter, outcome in zip(voters, ["A", "A", "tie"], strict=True):
            JudgmentFactory(pair=pair, annotator=voter, choices={k: outcome for k in project.dimension_keys})
    for pair in make_pairs(project, 2, models=("weak-v1", "strong-v2")):  # B is strong here
        for voter in voters:
            JudgmentFactory(pair=pair, annotator=voter, choices={k: "B" for k in project.dimension_keys})

    board = manager.get(f"/api/v1/projects/{project.pk}/leaderboard/", {"dimension": "vq", "rounds": 100, "seed": 7})
    again = manager.get(f"/api/v1/projects/{project.pk}/leaderboard/", {"dimension": "vq", "rounds": 100, "seed": 7})

    assert board.status_code == 200 and board.data == again.data  # seeded: reproducible
    strong, weak = board.data["models"]
    # strong: 8 wins + 4 half wins + 6 wins = 16 of 18 battles; odds 16:2 = 8, so the gap is 400 log10(8).
    assert (strong["model"], weak["model"]) == ("strong-v2", "weak-v1")
    assert strong["wins"] == 16.0 and strong["battles"] == 18 and board.data["battles"] == 18
    assert strong["rating"] - weak["rating"] == pytest.approx(400 * math.log10(8), abs=0.5)
    for row in (strong, weak):
        assert row["ci_low"] <= row["rating"] <= row["ci_high"]
    assert strong["rank"] == 1


def test_leaderboard_rejects_an_unknown_dimension_and_annotators(project_world):
    project = project_world["project"]
    url = f"/api/v1/projects/{project.pk}/leaderboard/"

    unknown = project_world["clients"]["manager"].get(url, {"dimension": "smell"})

    assert unknown.status_code == 400 and "dimension" in unknown.data["error"]["fields"]
    assert project_world["clients"]["annotator"].get(url).status_code == 403
    empty = project_world["clients"]["manager"].get(url)
    assert empty.status_code == 200 and empty.data["models"] == [] and empty.data["dimension"] == "overall"
