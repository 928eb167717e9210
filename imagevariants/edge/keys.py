"""The variant key scheme: ``{prefix}{preset}.{fingerprint}[.{version}]/{source_key}[.{ext}]``.

Building a key is a pure function of the source key, the preset revision, the source's version when the app knows
it, and the prefix. Parsing recovers the preset name, the fingerprint, the version and the rest of the key; which
part of the rest is the source key depends on whether the revision converts the format, which only the presets
document knows (see ``presets.Document.resolve``).

The version token names what the variant is made of beyond the source key: fields joined by ``_``, each a tag
letter and its value. Today there is one field, ``c`` and the first 12 hex digits of the SHA-256 of the source's
bytes (``md.3fa1c2d9.c5d41402abc4b/images/cat.jpg``); a key without a token names whatever the key holds.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from urllib.parse import quote, unquote_to_bytes

from .errors import BadKey
from .formats import FORMATS

__all__ = [
    "FINGERPRINT_RE",
    "PREFIX_RE",
    "PRESET_NAME_RE",
    "SeedAlias",
    "SourceVersion",
    "VariantKey",
    "build_key",
    "check_key",
    "decode_uri",
    "parse_key",
    "parse_seed_alias",
    "url_path",
]

#: Lower-case slug, no dots (the dot separates the name from the fingerprint).
PRESET_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
FINGERPRINT_RE = re.compile(r"^[0-9a-f]{8}$")
PREFIX_RE = re.compile(r"^([A-Za-z0-9_-]+/)+$")
MAX_KEY_BYTES = 1024  # S3's own limit on an object key
#: Most file systems' limit on a name: a variant key with a longer segment could never be stored (and would be
#: made again on every request), so it is refused before anything is read.
MAX_SEGMENT_BYTES = 255


#: Hex digits of the source's SHA-256 in a content version: 48 bits, so no two versions of one key collide.
CONTENT_DIGITS = 12
_CONTENT_RE = re.compile(rf"^c([0-9a-f]{{{CONTENT_DIGITS}}})$")


@dataclass(frozen=True)
class SourceVersion:
    """What a variant is made of beyond the source key: today the source's content (a SHA-256 prefix)."""

    content: str

    @classmethod
    def of(cls, data: bytes) -> SourceVersion:
        return cls.from_sha256(hashlib.sha256(data).hexdigest())

    @classmethod
    def from_sha256(cls, hexdigest: str) -> SourceVersion:
        """The version of a source whose SHA-256 (64 hex digits) is known."""
        if not re.fullmatch(r"[0-9a-f]{64}", hexdigest):
            raise ValueError(f"not a SHA-256 hex digest: {hexdigest!r}")
        return cls(hexdigest[:CONTENT_DIGITS])

    @classmethod
    def parse(cls, token: str) -> SourceVersion | None:
        """The version a key's token names; None for a token this release does not know."""
        match = _CONTENT_RE.match(token)
        return cls(match.group(1)) if match else None

    @property
    def token(self) -> str:
        return f"c{self.content}"

    def matches(self, data: bytes) -> bool:
        """Whether ``data`` are the bytes this version names."""
        return hashlib.sha256(data).hexdigest()[:CONTENT_DIGITS] == self.content


@dataclass(frozen=True)
class VariantKey:
    """A parsed variant key. ``rest`` is everything after ``{preset}.{fingerprint}[.{version}]/``."""

    preset: str
    fingerprint: str
    rest: str
    version: SourceVersion | None = None


@dataclass(frozen=True)
class SeedAlias:
    """A seed-style key such as ``images/test-sm.png``: the source ``images/test.png`` in preset ``sm``."""

    preset: str
    source_key: str


def build_key(
    source_key: str, preset: str, fingerprint: str, fmt: str | None, prefix: str, version: SourceVersion | None = None
) -> str:
    """Return the storage key of a variant; ``fmt`` is the converted output format, or None to keep the source's;
    ``version`` is the source's version when known (the key then names those bytes only)."""
    head = f"{preset}.{fingerprint}.{version.token}" if version else f"{preset}.{fingerprint}"
    key = f"{prefix}{head}/{source_key}"
    return f"{key}.{FORMATS[fmt].extension}" if fmt else key


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
    """Split a key under ``prefix`` into preset, fingerprint, version and rest; None when it is not a variant key
    (a version token this release does not know included)."""
    if not key.startswith(prefix):
        return None
    head, sep, rest = key[len(prefix) :].partition("/")
    parts = head.split(".")
    if not (sep and rest and len(parts) in (2, 3)):
        return None
    name, fingerprint = parts[0], parts[1]
    if not PRESET_NAME_RE.match(name) or not FINGERPRINT_RE.match(fingerprint):
        return None
    version = None
    if len(parts) == 3:
        version = SourceVersion.parse(parts[2])
        if version is None:
            return None
    return VariantKey(name, fingerprint, rest, version)


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
