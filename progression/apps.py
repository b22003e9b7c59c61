from django.apps import AppConfig


class ProgressionConfig(AppConfig):
    name = "progression"
    verbose_name = "Progression"

    def ready(self) -> None:
        from progression import signals

        signals.connect()
