"""``python -m rewardlab.ml <command>``: the ML entry points without Django."""

import argparse

from rewardlab.ml import cli_align, cli_reward


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m rewardlab.ml")
    commands = parser.add_subparsers(dest="command", required=True)
    cli_reward.register(commands)
    cli_align.register(commands)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
