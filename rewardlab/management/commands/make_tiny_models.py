"""Write tiny, randomly initialised base models under BASE_MODELS_ROOT for the offline demo and tests:
a Qwen2-VL reward base (``tiny-qwen2-vl``) and a Wan 2.1 text-to-video pipeline (``tiny-wan``)."""

from django.core.management.base import BaseCommand

from rewardlab import conf


class Command(BaseCommand):
    help = "Create tiny-qwen2-vl and tiny-wan under BASE_MODELS_ROOT (no download; seconds on a CPU)."

    def handle(self, *args, **options):
        from rewardlab.ml.tiny_qwen import make_tiny_reward_base
        from rewardlab.ml.tiny_wan import make_tiny_wan

        root = conf.base_models_root()
        for name, make, marker in (("tiny-qwen2-vl", make_tiny_reward_base, "config.json"),
                                   ("tiny-wan", make_tiny_wan, "model_index.json")):
            path = root / name
            if (path / marker).is_file():
                self.stdout.write(f"{path} exists")
                continue
            make(path)
            self.stdout.write(self.style.SUCCESS(f"wrote {path}"))
