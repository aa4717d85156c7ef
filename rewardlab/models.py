"""Reward models, runs and evaluations (see rewardlab/ml for the learning itself)."""
