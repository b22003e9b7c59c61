from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Jobs"

    def ready(self) -> None:
        # Registers every pipeline kind (jobs/pipelines/__init__.py) in every process.
        from jobs import pipelines  # noqa: F401
