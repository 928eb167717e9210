"""Receivers: local-edge publishing of preset edits and migrations, and forgetting the cached published presets.

On the local edge these are two of the points where presets get published (``deploy_edge`` and the admin's Deploy
button are the others); reading the published presets never publishes.
"""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.apps import apps as global_apps
from django.core.signals import setting_changed
from django.db import router, transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from . import conf, variants
from .models import Publication, VariantPreset
from .publishing import forget, last_publication, publish_locally
from .texts import local_publication_line


@receiver(post_save, sender=VariantPreset)
@receiver(post_delete, sender=VariantPreset)
def publish_local_edit(sender: type, **kwargs: Any) -> None:
    """Once the transaction commits: an edit in the admin or in code, and ``loaddata`` (its raw saves send this
    signal too, and its transaction commits once every object is loaded)."""
    if conf.settings().local_mode:
        transaction.on_commit(publish_locally)


def publish_local_after_migrate(
    sender: AppConfig, *, using: str, apps: Any = global_apps, verbosity: int = 1, stdout: Any = None, **kwargs: Any
) -> None:
    """After ``migrate`` (connected for this app, so once per run): presets a data migration wrote, whose
    historical models send no signal. Nothing happens while there is nothing to publish and nothing published, nor
    when the tables are not those of this code (migrated backwards) or live in another database."""
    if not conf.settings().local_mode or router.db_for_write(Publication) != using:
        return
    try:
        apps.get_model("imagevariants", "Publication")
    except LookupError:
        return
    previous = last_publication(Publication.Target.LOCAL)
    if previous is None and not VariantPreset.objects.exists():
        return
    publication = publish_locally()
    if publication != previous and stdout is not None and verbosity >= 1:
        stdout.write(f"{local_publication_line(publication)}\n")


@receiver(post_save, sender=Publication)
def forget_published(sender: type, **kwargs: Any) -> None:
    forget()  # this process sees the change at once, and again once it is committed
    transaction.on_commit(forget)


@receiver(setting_changed)
def forget_on_settings_change(*, setting: str, **kwargs: Any) -> None:
    """The one receiver of setting changes (tests): every cache made of settings starts afresh."""
    if setting in conf.SETTINGS_READ:
        conf.reset()
        forget()  # the target (local or CloudFront) or the prefix may have changed
        variants.forget()
