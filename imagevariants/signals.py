"""On the local edge, a preset edit is published as soon as its transaction commits."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from . import conf
from .models import EdgeDeployment, VariantPreset


@receiver(post_save, sender=VariantPreset)
@receiver(post_delete, sender=VariantPreset)
def publish_local_edit(sender: type, **kwargs: Any) -> None:
    if conf.local_mode():
        from .publishing import publish_locally

        transaction.on_commit(publish_locally)


@receiver(post_save, sender=EdgeDeployment)
def forget_published(sender: type, **kwargs: Any) -> None:
    from .publishing import forget

    forget()  # this process sees the change at once, and again once it is committed
    transaction.on_commit(forget)
