"""Prompt-disjoint splits: pure functions, no database."""

import random

import pytest

from annotation.splits import assign_splits, split_of, validate_fractions

FRACTIONS = validate_fractions({"train": 0.8, "val": 0.1, "test": 0.1})


def rows_of(prompts: list[str], rng: random.Random) -> list[str]:
    """Several rows per prompt, shuffled, as judgments come out of a database."""
    rows = [p for p in prompts for _ in range(rng.randint(1, 5))]
    rng.shuffle(rows)
    return rows


@pytest.mark.parametrize("seed", [0, 1, 12345])
def test_no_prompt_is_in_two_splits_and_row_order_does_not_matter(seed):
    rng = random.Random(seed)
    prompts = [f"prompt {i} {rng.random()}" for i in range(300)]
    first = {}
    for prompt in rows_of(prompts, rng):
        assert first.setdefault(prompt, split_of(prompt, FRACTIONS, seed)) == split_of(prompt, FRACTIONS, seed)
    assert first == assign_splits(reversed(rows_of(prompts, rng)), FRACTIONS, seed)


def test_a_prompt_keeps_its_split_when_other_prompts_come_and_go():
    small = assign_splits([f"p{i}" for i in range(100)], FRACTIONS, 3)
    large = assign_splits([f"p{i}" for i in range(5000)], FRACTIONS, 3)
    assert all(large[p] == s for p, s in small.items())


def test_fractions_hold_on_many_prompts_and_the_seed_reshuffles():
    prompts = [f"a prompt about thing {i}" for i in range(20000)]
    splits = assign_splits(prompts, FRACTIONS, 0)
    shares = {s: sum(v == s for v in splits.values()) / len(prompts) for s in FRACTIONS}
    assert shares == pytest.approx({"train": 0.8, "val": 0.1, "test": 0.1}, abs=0.01)
    other = assign_splits(prompts, FRACTIONS, 1)
    assert 0.2 < sum(splits[p] != other[p] for p in prompts) / len(prompts) < 0.45


def test_listing_order_of_splits_does_not_change_the_answer():
    reordered = {"test": 0.1, "val": 0.1, "train": 0.8}
    prompts = [f"x{i}" for i in range(500)]
    assert assign_splits(prompts, reordered, 9) == assign_splits(prompts, FRACTIONS, 9)


def test_a_split_with_no_share_gets_no_prompt():
    splits = assign_splits([f"x{i}" for i in range(2000)], {"train": 1.0, "test": 0.0}, 0)
    assert set(splits.values()) == {"train"}


@pytest.mark.parametrize("fractions,message", [
    ({"train": 0.8, "test": 0.1}, "sum to 0.9"),
    ({"train": 0.7, "val": 0.2, "test": 0.2}, "sum to 1.1"),
    ({"train": 1.2, "test": -0.2}, "between 0 and 1"),
    ({"Train": 1.0}, "lower-case"),
    ({"train": "all"}, "needs a number"),
    ({"train": float("nan")}, "needs a number"),
    ({}, "non-empty"),
    ([("train", 1.0)], "non-empty"),
])
def test_bad_fractions_are_refused_with_the_reason(fractions, message):
    with pytest.raises(ValueError, match=message):
        validate_fractions(fractions)
