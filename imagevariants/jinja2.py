"""The template tags for Jinja2: ``variant_url``, ``srcset`` and ``picture`` as globals, and ``picture_data``.

Add ``"imagevariants.jinja2.variants"`` to the ``extensions`` of a Jinja2 backend's ``OPTIONS``. The functions take
the tags' arguments and give their output: ``{{ picture(image, "sm md lg", sizes="100vw", alt=image.alt) }}`` is
``{% picture image "sm md lg" sizes="100vw" alt=image.alt %}``. ``picture_data(image, "sm md lg")`` gives what
``picture`` renders as data (``variants.picture_data``), for markup of one's own.
"""

from __future__ import annotations

from typing import Any

try:
    from jinja2 import Environment, Undefined
    from jinja2.ext import Extension
    from markupsafe import Markup
except ImportError as exc:  # Jinja2 is an optional dependency
    raise ImportError(
        "imagevariants.jinja2 needs Jinja2: install django-imagevariants with its jinja2 extra "
        "(django-imagevariants[jinja2])."
    ) from exc

from . import variants as _variants

__all__ = ["VariantsExtension", "picture", "picture_data", "srcset", "variant_url", "variants"]


def _source(source: object) -> object:
    """A missing variable is no image, as in a Django template (a ``StrictUndefined`` still raises)."""
    if isinstance(source, Undefined):
        bool(source)  # raises for StrictUndefined
        return None
    return source


def variant_url(source: object, preset: str, format: str | None = None) -> str:
    """``{{ variant_url(image, "md") }}`` or ``{{ variant_url(image, "md", format="webp") }}``."""
    return _variants.variant_url(_source(source), preset, format or None)


def srcset(source: object, presets: str, format: str | None = None) -> str:
    """``<img srcset="{{ srcset(image, "sm md lg") }}">``: one ``URL WIDTHw`` entry per preset."""
    return _variants.srcset(_source(source), presets, format or None)


def picture(source: object, presets: str, sizes: str = "100vw", alt: str = "", **attrs: Any) -> Markup:
    """``{{ picture(image, "sm md lg", sizes="(max-width: 700px) 100vw, 700px", alt=image.alt, class="hero") }}``.

    Extra keyword arguments become attributes of the ``<img>``; ``class`` is a keyword Jinja2 accepts."""
    return Markup(_variants.picture(_source(source), presets, sizes=sizes, alt=alt, **attrs))


def picture_data(source: object, presets: str) -> _variants.PictureData | None:
    """``{% set p = picture_data(image, "sm md lg") %}``: what ``picture`` renders, as data; None for no image."""
    return _variants.picture_data(_source(source), presets)


class VariantsExtension(Extension):
    """Adds ``variant_url``, ``srcset``, ``picture`` and ``picture_data`` to the environment's globals."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.globals.update(variant_url=variant_url, srcset=srcset, picture=picture, picture_data=picture_data)


variants = VariantsExtension  # the name users list: "imagevariants.jinja2.variants"
