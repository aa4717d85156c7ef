"""One source of run settings: the command line, the API (and the run it records), the executor and the forms
give every setting the ML config's default, type and range, field by field."""

import argparse
import dataclasses
import re

import pytest
from django.test import Client

from config.errors import InvalidInput
from rewardlab import hyperparameters as hp
from rewardlab.ml import cli_align, cli_reward
from rewardlab.ml.cli_config import config_from_args
from rewardlab.ml.configs import AlignConfig, GenerateConfig, LatentRewardTrainConfig, RewardTrainConfig
from rewardlab.models import RewardRun
from rewardlab.services.executors import _known
from tests.conftest import client_for, make_user

# kind -> (its settings, the CLI command that runs it, that command's required flags)
KINDS = {
    "reward": (hp.REWARD_TRAIN, RewardTrainConfig, ["train-reward", "--base", "b", "--train", "t.jsonl", "--out", "o"]),
    "alignment": (hp.ALIGNMENT, AlignConfig, ["align", "--method", "flow_dpo", "--base-model-path", "b",
                                              "--pairs-file", "p.jsonl", "--output-dir", "o"]),
    "latent_reward": (hp.LATENT_REWARD, LatentRewardTrainConfig, ["train-nrg", "--base-model-path", "b",
                                                                  "--pairs-file", "p.jsonl", "--output-dir", "o"]),
    "generation": (hp.GENERATION, GenerateConfig, ["generate", "--base-model-path", "b", "--prompts", "x",
                                                   "--seeds", "0", "--output-dir", "o"]),
}
VIDPREF_OWN = {"processes", "win_rate_prompts", "win_rate_seeds", "sampling", "baseline",
               "win_rate_prompt_set"}  # read by the worker, not an ML config


def cli(argv: list[str]) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    cli_reward.register(commands)
    cli_align.register(commands)
    return parser, parser.parse_args(argv)


def cli_action(parser: argparse.ArgumentParser, command: str, name: str) -> argparse.Action:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    return next(a for a in sub._actions if a.dest == name)


@pytest.mark.parametrize("kind", KINDS)
def test_every_setting_is_the_ml_configs_field_with_its_default_type_and_range(kind):
    params, config_class, argv = KINDS[kind]
    fields = {f.name: f for f in dataclasses.fields(config_class)}
    parser, args = cli(argv)
    from_cli = config_from_args(config_class, args)  # nothing but the required flags: every default
    from_api = hp.clean(params, {})  # what a run asked for with no settings records
    for p in params:
        if p.name in VIDPREF_OWN:
            assert p.source is None
            continue
        assert p.source is config_class, p.name
        field = fields[p.name]
        default = field.default_factory() if field.default is dataclasses.MISSING else field.default
        assert p.default == default == getattr(from_cli, p.name) == from_api.get(p.name), p.name
        assert (p.min, p.max) == (field.metadata.get("min"), field.metadata.get("max")), p.name
        action = cli_action(parser, argv[0], p.name)
        assert tuple(action.choices or ()) == (p.choices or ()), p.name
        if p.type in (int, float, str):
            assert action.type is p.type, p.name


@pytest.mark.parametrize("kind", KINDS)
def test_a_value_out_of_range_is_refused_by_the_api_the_cli_and_the_config_alike(kind):
    params, config_class, argv = KINDS[kind]
    bounded = [p for p in params if p.min is not None and p.type in (int, float) and p.source]
    assert bounded
    for p in bounded:
        low = p.min - 1
        with pytest.raises(InvalidInput) as refused:
            hp.clean(params, {p.name: low})
        assert f"hyperparameters.{p.name}" in refused.value.fields
        flag = "--" + p.name.replace("_", "-")
        with pytest.raises(SystemExit, match=f"{p.name} must be"):
            config_from_args(config_class, cli([*argv, flag, str(p.type(low))])[1])


@pytest.mark.slow  # builds a trained-on project and a tiny model
@pytest.mark.django_db
def test_one_reward_run_gets_the_same_seed_from_the_cli_the_api_the_worker_and_the_form(trained_on):
    admin = client_for(make_user("root", staff=True))
    cli_seed = config_from_args(RewardTrainConfig, cli(KINDS["reward"][2])[1]).seed

    response = admin.post("/api/v1/reward-runs/", {"dataset_version": trained_on.version.pk,
                                                   "base_model_path": str(trained_on.base)}, format="json")
    assert response.status_code == 202, response.json()
    run = RewardRun.objects.get(pk=response.json()["id"])
    worker_config = RewardTrainConfig(base_model_path="b", train_file="t", output_dir="o",
                                      **_known(RewardTrainConfig, run.config))
    browser = Client()
    browser.force_login(make_user("page_admin", staff=True))
    page = browser.get("/runs/").content.decode()
    reward_form = page[page.index('id="reward-run-form"'):page.index('id="reward-eval-form"')]
    form_seed = re.search(r'name="hp\.seed" data-type="int" value="(\d+)"', reward_form).group(1)

    assert cli_seed == run.config["seed"] == worker_config.seed == int(form_seed) == RewardTrainConfig.seed == 42


def test_the_win_rate_of_a_run_and_of_the_cli_sample_the_same_seeds():
    from rewardlab.ml.win_rate import WinRateConfig

    seeds = next(p for p in hp.ALIGNMENT if p.name == "win_rate_seeds").default
    assert WinRateConfig(base_model_path="b", reward_checkpoint="r", output_dir="o").seeds == seeds == [0, 1]
