"""Template tags: ``{% variant_url %}``, ``{% srcset %}`` and ``{% picture %}`` (``{% load imagevariants %}``)."""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString

from .. import variants

register = template.Library()


@register.simple_tag
def variant_url(source: object, preset: str, format: str | None = None) -> str:
    """``{% variant_url image "md" %}`` or ``{% variant_url image "md" format="webp" as url %}``."""
    return variants.variant_url(source, preset, format or None)


@register.simple_tag
def srcset(source: object, presets: str, format: str | None = None) -> str:
    """``<img srcset="{% srcset image "sm md lg" %}">``: one ``URL WIDTHw`` entry per preset."""
    return variants.srcset(source, presets, format or None)


@register.simple_tag
def picture(source: object, presets: str, sizes: str = "100vw", alt: str = "", **attrs: str) -> SafeString:
    """``{% picture image "sm md lg" sizes="(max-width: 700px) 100vw, 700px" alt="..." %}``.

    Extra keyword arguments become attributes of the ``<img>`` (``loading="eager"``, ``class="hero"``).
    """
    return variants.picture(source, presets, sizes=sizes, alt=alt, **attrs)
