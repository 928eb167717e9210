from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class ImageVariantsConfig(AppConfig):
    name = "imagevariants"
    verbose_name = _("Image variants")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks, lifecycle, signals  # noqa: F401  (registers checks and receivers)

        post_migrate.connect(signals.publish_local_after_migrate, sender=self)
