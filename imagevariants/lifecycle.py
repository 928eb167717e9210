"""Receivers: a source image's files follow its row. Deleting a SourceImage, or replacing its file, removes what the
old file left in storage and in the CDN, once the transaction commits (see ``purge.source_removal``).

A ``VariantImageField`` of the project's own models removes the variants of its old file the same way, and keeps
the original, as Django leaves the files of its file fields.
"""

from __future__ import annotations

import functools
from typing import Any

from django.db import models
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from . import purge
from .fields import VariantImageField
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


_STORED_IMAGES = "_imagevariants_stored_images"


@functools.cache
def _image_fields(model: type[models.Model]) -> tuple[VariantImageField, ...]:
    return tuple(field for field in model._meta.concrete_fields if isinstance(field, VariantImageField))


def _columns(field: VariantImageField) -> tuple[str, str | None]:
    return field.attname, field.version_field


@receiver(pre_save)
def remember_stored_images(sender: type, instance: models.Model, raw: bool = False, **kwargs: Any) -> None:
    """Note the file and version of each VariantImageField the row holds before a save that may replace them."""
    fields = _image_fields(sender)
    if not fields or raw or instance._state.adding:
        return
    columns = {column for field in fields for column in _columns(field) if column}
    stored = instance._meta.default_manager.filter(pk=instance.pk).values(*columns).first()
    if stored:
        instance.__dict__[_STORED_IMAGES] = stored


@receiver(post_save)
def remove_replaced_images(sender: type, instance: models.Model, **kwargs: Any) -> None:
    stored = instance.__dict__.pop(_STORED_IMAGES, None)
    for field in _image_fields(sender) if stored else ():
        name, version = _columns(field)
        old = (stored[name], stored[version] if version else "")
        new = (getattr(instance, name).name or "", getattr(instance, version) if version else "")
        if old[0] and old != new:
            removal = purge.source_removal(*old, pk=None, replaced_in_place=old[0] == new[0], keep_original=True)
            purge.schedule(removal)


@receiver(post_delete)
def remove_deleted_images(sender: type, instance: models.Model, **kwargs: Any) -> None:
    for field in _image_fields(sender):
        name, version = _columns(field)
        if getattr(instance, name).name:
            sha256 = getattr(instance, version) if version else ""
            purge.schedule(purge.source_removal(getattr(instance, name).name, sha256, pk=None, keep_original=True))
