from django.apps import AppConfig


class RewardlabConfig(AppConfig):
    name = "rewardlab"
    verbose_name = "Reward lab"

    def ready(self) -> None:
        from rewardlab.services import uncertainty  # noqa: F401  (registers the "uncertainty" pair strategy)
