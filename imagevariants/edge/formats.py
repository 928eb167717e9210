"""The one table of image formats: everything else (keys, the presets document, the pipeline's encoders, the
admin's choices, the checks, content types, ``<picture>`` alternates) derives from it.

Standard library only: reading this table loads no Pillow plugin (``encodable`` asks Pillow when called).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = [
    "DECODERS",
    "EXTENSIONS",
    "FORMATS",
    "OUTPUT_FORMATS",
    "PICTURE_FORMATS",
    "SOURCE_FORMATS",
    "Format",
    "encodable",
    "key_format",
    "kept_format",
]


@dataclass(frozen=True)
class Format:
    """An output format: how keys, documents, encoders and browsers name it, and what it can hold."""

    name: str  # in the presets document, the admin and templates
    label: str  # for people
    extension: str  # of variant keys
    mime: str
    pillow: str  # Pillow's name for the encoder
    alpha: bool  # keeps transparency (else it is flattened onto the preset's background)
    animation: bool  # keeps an animated source's frames
    options: Mapping[str, Any] = field(default_factory=dict)  # encoder options of a still (besides quality)
    animated_options: Mapping[str, Any] = field(default_factory=dict)  # of an animation
    quality: bool = True  # the preset's quality is passed to the encoder
    feature: str | None = None  # the Pillow feature its encoder needs, when Pillow builds may lack it
    picture: int = 0  # its rank among the <picture> alternates (1 is offered first); 0: not an alternate
    sources: tuple[str, ...] = ()  # Pillow formats of sources that are kept in this format
    other_extensions: tuple[str, ...] = ()  # of files in this format, besides ``extension`` (a source key's)


FORMATS: Mapping[str, Format] = MappingProxyType(
    {
        fmt.name: fmt
        for fmt in (
            Format(
                "jpeg",
                "JPEG",
                "jpg",
                "image/jpeg",
                "JPEG",
                alpha=False,
                animation=False,
                options={"optimize": True},
                sources=("JPEG", "MPO"),
                other_extensions=("jpeg",),
            ),
            Format(
                "png",
                "PNG",
                "png",
                "image/png",
                "PNG",
                alpha=True,
                animation=False,
                options={"optimize": False, "compress_level": 6},
                quality=False,
                sources=("PNG",),
            ),
            Format(
                "webp",
                "WebP",
                "webp",
                "image/webp",
                "WEBP",
                alpha=True,
                animation=True,
                options={"method": 4},
                animated_options={"method": 4},
                feature="webp",
                picture=2,
                sources=("WEBP",),
            ),
            Format(
                "avif",
                "AVIF",
                "avif",
                "image/avif",
                "AVIF",
                alpha=True,
                animation=True,
                options={"max_threads": 1},  # one thread: the output must not depend on the machine
                animated_options={"max_threads": 1},
                feature="avif",
                picture=1,
                sources=("AVIF",),
            ),
            Format(
                "gif",
                "GIF",
                "gif",
                "image/gif",
                "GIF",
                alpha=True,
                animation=True,
                animated_options={"disposal": 2, "optimize": False},
                quality=False,
                sources=("GIF",),
            ),
        )
    }
)

#: The names a preset may ask for, in the table's order.
OUTPUT_FORMATS = tuple(FORMATS)
#: The <picture> alternates, the one offered first first.
PICTURE_FORMATS = tuple(sorted((fmt.name for fmt in FORMATS.values() if fmt.picture), key=lambda n: FORMATS[n].picture))
#: Pillow formats the pipeline decodes: those of the output formats, then TIFF and BMP (kept as JPEG or PNG).
#: Pillow's other plugins (EPS through Ghostscript, among others) are never tried.
DECODERS = (*(fmt.pillow for fmt in FORMATS.values()), "TIFF", "BMP")
#: The output format that keeps each Pillow format it reads (MPO is a JPEG).
SOURCE_FORMATS = MappingProxyType({source: fmt.name for fmt in FORMATS.values() for source in fmt.sources})
#: The format each file extension names (lowercase, without its dot): each format's extension and its others.
EXTENSIONS = MappingProxyType(
    {ext: fmt.name for fmt in FORMATS.values() for ext in (fmt.extension, *fmt.other_extensions)}
)


def kept_format(pillow_format: str, alpha: bool) -> str:
    """The output format of a preset that keeps the source's: its own, else PNG with transparency, else JPEG."""
    return SOURCE_FORMATS.get(pillow_format) or ("png" if alpha else "jpeg")


def key_format(key: str) -> str | None:
    """The format a key's extension names (``cat.jpg`` and ``cat.JPEG``: ``"jpeg"``), None for no extension or
    another (``cat.tif``). A name only: the bytes under the key decide what the edge reads."""
    _, dot, extension = key.rpartition(".")
    if not dot or "/" in extension:
        return None
    return EXTENSIONS.get(extension.lower())


def encodable(name: str) -> bool:
    """Whether the installed Pillow can encode ``name`` (WebP and AVIF are optional in Pillow builds)."""
    feature = FORMATS[name].feature
    if feature is None:
        return True
    from PIL import features

    return bool(features.check(feature))
