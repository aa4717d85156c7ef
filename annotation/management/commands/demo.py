from django.conf import settings
from django.core.management.base import BaseCommand
from tqdm import tqdm

from annotation.services.demo import demo_create


class Command(BaseCommand):
    help = "Create demo users (printing their passwords) and a project of synthetic videos, paired and ready."

    def handle(self, *args, **options):
        bar = tqdm(total=0, desc="demo videos", unit="video")

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        result = demo_create(progress=progress)
        bar.close()
        self.stdout.write(self.style.SUCCESS(
            f"Project {result.project.pk} '{result.project.name}': {result.videos_created} new videos, "
            f"{result.pairs_created} new pairs."))
        self.stdout.write(f"Log in at http://{settings.BIND}/login/ with:")
        for username, password in result.passwords.items():
            self.stdout.write(f"  {username:<11} {password}")
