from django.apps import AppConfig


class PagesConfig(AppConfig):
    """Server-rendered pages shared by every app: home, viewer accounts, the asset tag."""

    name = "pages"
