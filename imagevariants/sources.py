"""What the tags accept as a source: a SourceImage, a FieldFile or a storage key, reduced to a key and a size."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models.fields.files import FieldFile

from .models import SourceImage


@dataclass(frozen=True)
class SourceRef:
    """A source key and its oriented size when known (never read from storage)."""

    key: str
    width: int | None = None
    height: int | None = None

    @property
    def size(self) -> tuple[int, int] | None:
        return (self.width, self.height) if self.width and self.height else None


def as_source(source: object) -> SourceRef:
    """Reduce a tag argument to a :class:`SourceRef` without any storage or database call."""
    if isinstance(source, SourceRef):
        return source
    if isinstance(source, SourceImage):
        return SourceRef(source.key, source.width or None, source.height or None)
    if isinstance(source, FieldFile):
        # An ImageFieldFile's width would open the file: only trust sizes the model already stores.
        return SourceRef(source.name, *_stored_dimensions(source))
    if isinstance(source, str) and source:
        return SourceRef(source.lstrip("/"))
    raise TypeError(f"an image source must be a SourceImage, a FieldFile or a storage key, not {source!r}")


def _stored_dimensions(fieldfile: FieldFile) -> tuple[int | None, int | None]:
    field = fieldfile.field
    width_field, height_field = getattr(field, "width_field", None), getattr(field, "height_field", None)
    if width_field and height_field:
        return getattr(fieldfile.instance, width_field, None), getattr(fieldfile.instance, height_field, None)
    return None, None
