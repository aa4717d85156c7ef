"""BT and BT-with-ties losses against hand-computed values."""

import math

import pytest
import torch

from rewardlab.ml.losses import A_WINS, B_WINS, MISSING, TIE, bt_loss, btt_loss, encode_labels


def one(value: float) -> torch.Tensor:
    return torch.tensor([[value]])


def test_bt_loss_is_minus_log_sigmoid_of_the_chosen_margin():
    # -log σ(1) and -log σ(-1)
    assert bt_loss(one(1.0), one(0.0), torch.tensor([[A_WINS]])).item() == pytest.approx(0.3132616875)
    assert bt_loss(one(1.0), one(0.0), torch.tensor([[B_WINS]])).item() == pytest.approx(1.3132616875)


def test_bt_loss_counts_ties_and_missing_labels_as_zero_in_the_mean():
    rewards_a, rewards_b = torch.tensor([[1.0, 5.0, -3.0]]), torch.tensor([[0.0, 0.0, 0.0]])
    loss = bt_loss(rewards_a, rewards_b, torch.tensor([[A_WINS, TIE, MISSING]]))
    assert loss.item() == pytest.approx(0.3132616875 / 3)  # trainer.py: (loss * nontied_mask).mean()


def test_btt_decided_pairs_subtract_log_theta_from_the_margin():
    # θ = 5: -log σ(1 - log 5) when A wins by 1; -log σ(-1 - log 5) when B wins though A is ahead by 1
    assert btt_loss(one(1.0), one(0.0), torch.tensor([[A_WINS]])).item() == pytest.approx(1.0435917782)
    assert btt_loss(one(1.0), one(0.0), torch.tensor([[B_WINS]])).item() == pytest.approx(2.6804329406)


def test_btt_tie_at_equal_rewards_is_log_one_and_a_half():
    # -2 log σ(-log 5) - log 24 = 2 log 6 - log 24 = log 1.5
    assert btt_loss(one(0.3), one(0.3), torch.tensor([[TIE]])).item() == pytest.approx(math.log(1.5))


def test_btt_tie_loss_is_symmetric_and_grows_with_the_gap():
    tie = torch.tensor([[TIE]])
    assert btt_loss(one(2.0), one(0.0), tie).item() == pytest.approx(0.9749048149)
    assert btt_loss(one(0.0), one(2.0), tie).item() == pytest.approx(0.9749048149)


def test_btt_probabilities_of_win_loss_and_tie_sum_to_one():
    for d in (-3.0, -0.5, 0.0, 0.7, 4.0):
        probs = [math.exp(-btt_loss(one(d), one(0.0), torch.tensor([[label]]), theta=5.0).item())
                 for label in (A_WINS, B_WINS, TIE)]
        assert sum(probs) == pytest.approx(1.0)


def test_btt_divides_by_all_entries_as_videoalign_does():
    rewards_a = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    rewards_b = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    labels = torch.tensor([[A_WINS, MISSING], [B_WINS, TIE]])
    expected = (1.0435917782 * 2 + math.log(1.5)) / 4  # trainer.py: (loss * valid_mask).mean() over B x N
    assert btt_loss(rewards_a, rewards_b, labels).item() == pytest.approx(expected)


def test_nothing_labelled_gives_a_zero_loss_that_still_backpropagates():
    rewards_a = torch.zeros(2, 3, requires_grad=True)
    loss = btt_loss(rewards_a, torch.zeros(2, 3), torch.full((2, 3), MISSING))
    loss.backward()
    assert loss.item() == 0.0
    assert torch.equal(rewards_a.grad, torch.zeros(2, 3))


def test_theta_must_exceed_one():
    with pytest.raises(ValueError, match="theta"):
        btt_loss(one(0.0), one(0.0), torch.tensor([[TIE]]), theta=1.0)


def test_encode_labels_maps_pair_labels_to_codes_in_dimension_order():
    labels = encode_labels([{"vq": "A", "mq": "tie"}, {"vq": None, "mq": "B", "ta": "A"}], ["vq", "mq", "ta"])
    assert labels.tolist() == [[A_WINS, TIE, MISSING], [MISSING, B_WINS, A_WINS]]
