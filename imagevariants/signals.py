"""Receivers: local-edge publishing of preset edits, and forgetting the cached published presets."""

from __future__ import annotations

from typing import Any

from django.core.signals import setting_changed
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from . import conf
from .models import EdgeDeployment, VariantPreset
from .publishing import forget, publish_locally


@receiver(post_save, sender=VariantPreset)
@receiver(post_delete, sender=VariantPreset)
def publish_local_edit(sender: type, **kwargs: Any) -> None:
    if conf.local_mode():
        transaction.on_commit(publish_locally)


@receiver(post_save, sender=EdgeDeployment)
def forget_published(sender: type, **kwargs: Any) -> None:
    forget()  # this process sees the change at once, and again once it is committed
    transaction.on_commit(forget)


@receiver(setting_changed)
def forget_on_settings_change(*, setting: str, **kwargs: Any) -> None:
    if setting in ("IMAGEVARIANTS", "STORAGES"):
        forget()  # the target (local or CloudFront) or the prefix may have changed
