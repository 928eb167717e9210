"""What the tags accept as a source: a SourceImage, a FieldFile or a storage key, reduced to a key and a size."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models.fields.files import FieldFile

from .edge.keys import SourceVersion
from .models import SourceImage


@dataclass(frozen=True)
class SourceRef:
    """A source key, its upright size and its version when known (never read from storage)."""

    key: str
    width: int | None = None
    height: int | None = None
    version: SourceVersion | None = None

    @property
    def size(self) -> tuple[int, int] | None:
        return (self.width, self.height) if self.width and self.height else None


def is_empty(source: object) -> bool:
    """Whether ``source`` is no image at all: None, ``""``, a blank file field or a SourceImage without a file."""
    if isinstance(source, SourceImage):
        source = source.file
    if isinstance(source, FieldFile):
        return not source.name
    return source is None or source == ""


def as_source(source: object) -> SourceRef:
    """Reduce a tag argument to a :class:`SourceRef` without any storage or database call."""
    if isinstance(source, SourceRef):
        return source
    if isinstance(source, SourceImage):
        version = SourceVersion.from_sha256(source.sha256) if source.sha256 else None
        return SourceRef(source.key, source.width or None, source.height or None, version)
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
