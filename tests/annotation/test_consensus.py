from annotation.consensus import agreement, dimension_consensus, pair_consensus


def test_majority_wins():
    assert dimension_consensus(["A", "A", "B"]) == "A"
    assert dimension_consensus(["tie", "tie", "A"]) == "tie"


def test_three_way_split_is_a_tie():
    assert dimension_consensus(["A", "B", "tie"]) == "tie"
    assert dimension_consensus(["A", "B"]) == "tie"


def test_no_majority_without_balance_is_undecided():
    assert dimension_consensus(["A", "tie"]) is None
    assert dimension_consensus([]) is None
    assert dimension_consensus([None, None]) is None


def test_pair_consensus_per_dimension_and_agreement():
    judgments = [{"vq": "A", "mq": "B"}, {"vq": "A", "mq": "tie"}, {"vq": "B", "mq": "A"}]
    assert pair_consensus(judgments, ["vq", "mq"]) == {"vq": "A", "mq": "tie"}
    assert agreement(judgments, "vq") == 2 / 3
