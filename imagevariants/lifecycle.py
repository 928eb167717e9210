"""Receivers: a source image's files follow its row. Deleting a SourceImage, or replacing its file, removes what the
old file left in storage and in the CDN, once the transaction commits (see ``purge.source_removal``)."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from . import purge
from .models import SourceImage

_STORED = "_imagevariants_stored"


@receiver(pre_save, sender=SourceImage)
def remember_stored_file(sender: type, instance: SourceImage, raw: bool = False, **kwargs: Any) -> None:
    """Note the file and hash the row holds before a save that may replace them."""
    update_fields = kwargs.get("update_fields")
    if raw or instance._state.adding or (update_fields is not None and not {"file", "sha256"} & set(update_fields)):
        return
    stored = SourceImage.objects.filter(pk=instance.pk).values_list("file", "sha256").first()
    if stored:
        setattr(instance, _STORED, stored)


@receiver(post_save, sender=SourceImage)
def remove_replaced_file(sender: type, instance: SourceImage, **kwargs: Any) -> None:
    stored = instance.__dict__.pop(_STORED, None)
    if not stored or stored == (instance.file.name, instance.sha256) or not stored[0]:
        return
    name, sha256 = stored
    purge.schedule(purge.source_removal(name, sha256, pk=instance.pk, replaced_in_place=name == instance.file.name))


@receiver(post_delete, sender=SourceImage)
def remove_deleted_file(sender: type, instance: SourceImage, **kwargs: Any) -> None:
    if instance.file.name and not purge.purging():
        purge.schedule(purge.source_removal(instance.file.name, instance.sha256, pk=instance.pk))
