from django.apps import AppConfig


class AnnotationConfig(AppConfig):
    name = "annotation"
    verbose_name = "Annotation"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from annotation import checks  # noqa: F401  (registers system checks)
        from annotation.sqlite_triggers import dataset_version_trigger

        post_migrate.connect(dataset_version_trigger, sender=self)
