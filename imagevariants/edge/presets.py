"""Presets and the baked presets document (schema in docs/reference/presets-document.md).

A :class:`Spec` is one output of a preset revision (one format). Its fingerprint covers every parameter that
affects the output bytes plus the version of the pipeline it was made for, so an edit (or a new pipeline) yields
new keys and old variants stay immutable. The :class:`Document` lists, for each preset, the fingerprints of its
current outputs and every revision the edge still serves; the edge serves exactly those and nothing else.
Revisions made for an earlier pipeline keep their fingerprints (and their URLs keep working): the edge renders
them with the pipeline it runs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import DocumentError, LimitsError
from .formats import FORMATS
from .keys import FINGERPRINT_RE, PREFIX_RE, PRESET_NAME_RE, SourceVersion, VariantKey, build_key
from .limits import Limits
from .spec import PIPELINE_VERSION, Spec

__all__ = ["DEFAULT_SOURCES", "Document", "Output", "Preset", "overlapping"]

SCHEMA_VERSION = 1

#: Where sources may be read when a document names none (documents stored before sources were baked in): the
#: default folder of the app's uploads.
DEFAULT_SOURCES = ("images/",)
DEFAULT_CACHE_CONTROL = {
    "variant": "public, max-age=31536000, immutable",
    "error": "public, max-age=60",
    "alias": "public, max-age=300",
    "uncached": "no-store",
}


@dataclass(frozen=True)
class Output:
    """A spec with its fingerprint, as the tags use it."""

    preset: str
    spec: Spec
    fingerprint: str

    def key(self, source_key: str, prefix: str, version: SourceVersion | None = None) -> str:
        return build_key(source_key, self.preset, self.fingerprint, self.spec.format, prefix, version)


@dataclass(frozen=True)
class Preset:
    """A preset's current outputs (primary first) and every revision the edge serves, by fingerprint."""

    current: tuple[str, ...]
    revisions: Mapping[str, Spec]

    def outputs(self, name: str) -> list[Output]:
        return [Output(name, self.revisions[fp], fp) for fp in self.current]


@dataclass(frozen=True)
class Document:
    """The presets document baked into the edge bundle (and used by the tags and the local edge)."""

    presets: Mapping[str, Preset]
    prefix: str = "_v/"
    limits: Limits = field(default_factory=Limits)
    cache_control: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_CACHE_CONTROL))
    pipeline: str = PIPELINE_VERSION
    #: Key prefixes the edge may read sources under; a variant of anything else is a 404.
    sources: tuple[str, ...] = DEFAULT_SOURCES

    # -- building ---------------------------------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        current: Mapping[str, Iterable[Spec]],
        served: Mapping[str, Iterable[Spec]] | None = None,
        prefix: str = "_v/",
        limits: Limits | None = None,
        cache_control: Mapping[str, str] | None = None,
        sources: Iterable[str] = DEFAULT_SOURCES,
    ) -> Document:
        """Make a document from each preset's current specs (primary first) plus earlier specs still served.

        Earlier specs of presets that no longer exist are dropped: their URLs stop being generated.
        """
        presets = {}
        for name, specs in sorted(current.items()):
            specs = list(specs)
            revisions = {s.fingerprint: s for s in (served or {}).get(name, ())}
            revisions.update({s.fingerprint: s for s in specs})
            presets[name] = Preset(tuple(s.fingerprint for s in specs), dict(sorted(revisions.items())))
        document = cls(
            presets,
            prefix,
            limits or Limits(),
            {**DEFAULT_CACHE_CONTROL, **(cache_control or {})},
            sources=tuple(sorted(set(sources))),
        )
        return cls.from_dict(document.to_dict())  # one validation path

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION,
            "pipeline": self.pipeline,
            "prefix": self.prefix,
            "sources": list(self.sources),
            "limits": self.limits.to_dict(),
            "cache_control": dict(self.cache_control),
            "presets": {
                name: {
                    "current": list(p.current),
                    "revisions": {fp: asdict(spec) for fp, spec in p.revisions.items()},
                }
                for name, p in self.presets.items()
            },
        }

    def to_json(self) -> str:
        """Canonical JSON: sorted keys, no whitespace, so equal documents are equal bytes."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()

    # -- loading ----------------------------------------------------------------------------------------------
    @classmethod
    def from_json(cls, text: str | bytes) -> Document:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise DocumentError(f"presets document is not JSON: {exc}") from None
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Any) -> Document:
        """Validate a decoded document, raising :class:`DocumentError` that names the offending field."""
        if not isinstance(data, dict):
            raise DocumentError("presets document must be a JSON object")
        if data.get("schema") != SCHEMA_VERSION:
            raise DocumentError(f"unsupported schema {data.get('schema')!r}; this edge reads {SCHEMA_VERSION}")
        made_for = _pipeline(data.get("pipeline"))  # the pipeline that made the document; its revisions may be older
        prefix = _prefix(data.get("prefix"))
        limits = _limits(data.get("limits", {}))
        sources = _sources(data.get("sources", list(DEFAULT_SOURCES)), prefix)
        cache_control = _cache_control(data.get("cache_control", {}))
        presets = _presets(data.get("presets"), made_for)
        return cls(presets, prefix, limits, cache_control, data["pipeline"], sources)

    # -- serving ----------------------------------------------------------------------------------------------
    def resolve(self, variant: VariantKey) -> tuple[Spec, str] | None:
        """Return the spec and the source key a parsed variant key asks for, or None if not served."""
        preset = self.presets.get(variant.preset)
        spec = preset.revisions.get(variant.fingerprint) if preset else None
        if spec is None:
            return None
        if spec.format is None:
            return spec, variant.rest
        suffix = "." + FORMATS[spec.format].extension
        if not variant.rest.endswith(suffix) or len(variant.rest) == len(suffix):
            return None
        return spec, variant.rest[: -len(suffix)]

    def outputs(self, preset: str) -> list[Output]:
        """The current outputs of a preset, primary first; KeyError when the preset is not in the document."""
        return self.presets[preset].outputs(preset)

    def allows_source(self, key: str) -> bool:
        """Whether the edge may read ``key`` as a source: under a source prefix, never under the variant prefix."""
        return not key.startswith(self.prefix) and key.startswith(self.sources)


def overlapping(first: str, second: str) -> bool:
    """Whether two key prefixes share keys (one contains the other)."""
    return first.startswith(second) or second.startswith(first)


def _pipeline(value: Any) -> str:
    if not isinstance(value, str) or not value.isdigit():
        raise DocumentError(f"pipeline must be a version number as a string, not {value!r}")
    return value


def _prefix(value: Any) -> str:
    if not isinstance(value, str) or not PREFIX_RE.match(value):
        raise DocumentError(f"prefix must be path segments ending in '/', such as '_v/', not {value!r}")
    return value


def _limits(value: Any) -> Limits:
    try:
        return Limits.from_dict(value)
    except (LimitsError, TypeError) as exc:
        raise DocumentError(str(exc)) from None


def _cache_control(value: Any) -> dict[str, str]:
    """The document's Cache-Control values over the defaults: every one a header value, and no other."""
    cache_control = {**DEFAULT_CACHE_CONTROL, **value}
    if set(cache_control) != set(DEFAULT_CACHE_CONTROL) or not all(
        isinstance(v, str) and v.isprintable() for v in cache_control.values()
    ):
        raise DocumentError(f"cache_control must map {', '.join(DEFAULT_CACHE_CONTROL)} to header values")
    return cache_control


def _presets(value: Any, made_for: str) -> dict[str, Preset]:
    if not isinstance(value, dict):
        raise DocumentError("presets must be an object")
    return {name: _preset(name, raw, made_for) for name, raw in value.items()}


def _preset(name: str, raw: Any, made_for: str) -> Preset:
    """One preset of the document; ``made_for`` is the pipeline that made the document."""
    if not PRESET_NAME_RE.match(name):
        raise DocumentError(f"preset name {name!r} must be a lower-case slug without dots")
    if not isinstance(raw, dict) or not isinstance(raw.get("revisions"), dict):
        raise DocumentError(f"presets.{name} needs a revisions object")
    revisions = {fp: _revision(name, fp, spec_data, made_for) for fp, spec_data in raw["revisions"].items()}
    current = raw.get("current")
    if not isinstance(current, list) or not current or any(fp not in revisions for fp in current):
        raise DocumentError(f"presets.{name}.current must list fingerprints of its revisions")
    return Preset(tuple(current), revisions)


def _revision(name: str, fp: Any, spec_data: Any, made_for: str) -> Spec:
    """A preset's revision: its spec, which must have the fingerprint it is listed under."""
    try:
        spec = Spec.from_dict(spec_data, made_for)
    except (DocumentError, TypeError) as exc:
        raise DocumentError(f"presets.{name}.revisions.{fp}: {exc}") from None
    if not FINGERPRINT_RE.match(fp) or spec.fingerprint != fp:
        raise DocumentError(f"presets.{name}.revisions.{fp}: fingerprint does not match the spec")
    return spec


def _sources(value: Any, prefix: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise DocumentError(f"sources must be a non-empty list of key prefixes, not {value!r}")
    for source in value:
        if not isinstance(source, str) or not PREFIX_RE.match(source):
            raise DocumentError(f"sources: {source!r} must be path segments ending in '/', such as 'images/'")
        if overlapping(source, prefix):
            raise DocumentError(f"sources: {source!r} overlaps the variant prefix {prefix!r}")
    return tuple(sorted(set(value)))
