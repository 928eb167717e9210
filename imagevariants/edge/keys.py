"""The variant key scheme: ``{prefix}{preset}.{fingerprint}/{source_key}[.{ext}]``.

Building a key is a pure function of the source key, the preset revision and the prefix. Parsing recovers the
preset name, the fingerprint and the rest of the key; which part of the rest is the source key depends on whether
the revision converts the format, which only the presets document knows (see ``presets.Document.resolve``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote_to_bytes

from .errors import BadKey

#: Lower-case slug, no dots (the dot separates the name from the fingerprint).
PRESET_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
FINGERPRINT_RE = re.compile(r"^[0-9a-f]{8}$")
PREFIX_RE = re.compile(r"^([A-Za-z0-9_-]+/)+$")
MAX_KEY_BYTES = 1024  # S3's own limit on an object key
#: Most file systems' limit on a name: a variant key with a longer segment could never be stored (and would be
#: made again on every request), so it is refused before anything is read.
MAX_SEGMENT_BYTES = 255

#: File extension used in keys for each output format.
EXTENSIONS = {"jpeg": "jpg", "png": "png", "webp": "webp", "avif": "avif", "gif": "gif"}


@dataclass(frozen=True)
class VariantKey:
    """A parsed variant key. ``rest`` is everything after ``{preset}.{fingerprint}/``."""

    preset: str
    fingerprint: str
    rest: str


@dataclass(frozen=True)
class SeedAlias:
    """A seed-style key such as ``images/test-sm.png``: the source ``images/test.png`` in preset ``sm``."""

    preset: str
    source_key: str


def build_key(source_key: str, preset: str, fingerprint: str, fmt: str | None, prefix: str) -> str:
    """Return the storage key of a variant; ``fmt`` is the converted output format, or None to keep the source's."""
    key = f"{prefix}{preset}.{fingerprint}/{source_key}"
    return f"{key}.{EXTENSIONS[fmt]}" if fmt else key


def url_path(key: str) -> str:
    """Percent-encode a key for use as an URL path (the edge decodes it exactly once)."""
    return quote(key, safe="/")


def check_key(key: str) -> str:
    """Validate a decoded key, raising :class:`BadKey` for anything hostile."""
    if not key or len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise BadKey("empty or over-long key")
    if any(ord(c) < 32 or ord(c) == 127 for c in key):
        raise BadKey("control character in key")
    if key.startswith("/") or "//" in key or "\\" in key:
        raise BadKey("empty path segment or backslash in key")
    parts = key.split("/")
    if any(part in (".", "..") for part in parts):
        raise BadKey("dot segment in key")
    if any(len(part.encode("utf-8")) > MAX_SEGMENT_BYTES for part in parts):
        raise BadKey(f"a path segment is over {MAX_SEGMENT_BYTES} bytes")
    return key


def decode_uri(uri: str) -> str:
    """Turn a CloudFront request URI (percent-encoded, leading slash) into a storage key, decoding exactly once.

    Raises :class:`BadKey` for percent-encoded slashes, invalid UTF-8, control characters and dot segments.
    """
    if not uri.startswith("/"):
        raise BadKey("URI does not start with a slash")
    raw = uri[1:]
    if re.search(r"%2f|%5c", raw, re.IGNORECASE):
        raise BadKey("percent-encoded slash in URI")
    try:
        key = unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadKey("URI is not UTF-8") from exc
    return check_key(key)


def parse_key(key: str, prefix: str) -> VariantKey | None:
    """Split a key under ``prefix`` into preset, fingerprint and rest; None when it is not a variant key."""
    if not key.startswith(prefix):
        return None
    head, sep, rest = key[len(prefix) :].partition("/")
    name, dot, fingerprint = head.rpartition(".")
    if not (sep and dot and rest) or not PRESET_NAME_RE.match(name) or not FINGERPRINT_RE.match(fingerprint):
        return None
    return VariantKey(name, fingerprint, rest)


def parse_seed_alias(key: str, preset_names: set[str] | frozenset[str]) -> SeedAlias | None:
    """Recognise ``{stem}-{preset}.{ext}`` for a known preset name; anything else (``my-photo.png``) is None."""
    directory, _, filename = key.rpartition("/")
    stem, dot, ext = filename.rpartition(".")
    if not dot or not stem or not ext:
        return None
    base, dash, preset = stem.rpartition("-")
    if not dash or not base or preset not in preset_names:
        return None
    source = f"{base}.{ext}"
    return SeedAlias(preset, f"{directory}/{source}" if directory else source)
