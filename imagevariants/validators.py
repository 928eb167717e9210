"""Upload validation: refuse at upload what the edge would refuse, with the edge's own reason.

``validate_source_image`` is a field validator for a project's own ``ImageField``/``FileField``; ``SourceImage``
runs the same check when it reads a new file's metadata. Both apply the limits the edge runs with (bytes,
pixels, frames, JPEG scans), so a file accepted here is one the edge will render.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from . import conf
from .edge.errors import EdgeError
from .edge.pipeline import Probe, probe

__all__ = ["MAX_NAME_BYTES", "read_source", "short_name", "validate_source_image"]

#: Bytes of a source's file name (its last path segment): a variant adds up to five (".avif", ".webp") and most
#: file systems refuse names over 255 bytes.
MAX_NAME_BYTES = 250


def read_source(file: Any) -> tuple[bytes, Probe]:
    """Read an uploaded or stored file within the edge's limits and probe it; ValidationError says why not."""
    limits = conf.settings().limits
    file.open("rb")
    try:
        file.seek(0)
        data = file.read(limits.max_source_bytes + 1)
        file.seek(0)
    finally:
        if getattr(file, "_committed", False):
            file.close()
    try:
        return data, probe(data, limits)
    except EdgeError as exc:
        raise ValidationError(str(exc), code=type(exc).__name__) from None


def validate_source_image(file: Any) -> None:
    """Field validator: the file is an image the edge would make variants of, within its limits."""
    name = (getattr(file, "name", "") or "").rpartition("/")[2]
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise ValidationError(
            "The file name is over %(limit)s bytes; its variants could not be stored. Shorten it.",
            code="name_too_long",
            params={"limit": MAX_NAME_BYTES},
        )
    read_source(file)


def short_name(filename: str) -> str:
    """``filename`` cut to MAX_NAME_BYTES of UTF-8 (its extension kept), so every variant's name can be stored."""
    stem, dot, extension = filename.rpartition(".")
    if not dot:
        stem, extension = filename, ""
    room = MAX_NAME_BYTES - len(f"{dot}{extension}".encode())
    return stem.encode("utf-8")[:room].decode("utf-8", "ignore") + f"{dot}{extension}"
