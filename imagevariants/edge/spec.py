"""One output of a preset revision, and the version of the image pipeline it is made for.

A leaf module: the presets document, the pipeline and the memory estimate import it, and it imports neither.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from .errors import DocumentError
from .formats import OUTPUT_FORMATS

__all__ = ["FITS", "MAX_DIMENSION", "PIPELINE_VERSION", "Spec"]

#: Bump when a change to the pipeline changes output bytes: it is part of every fingerprint.
PIPELINE_VERSION = "7"
FITS = ("contain", "cover")
MAX_DIMENSION = 8192


@dataclass(frozen=True)
class Spec:
    """One output of a preset revision. ``format`` None keeps the source's format; ``pipeline`` is the version of
    the image pipeline the revision was made for (part of the fingerprint, not of the rendering)."""

    width: int
    height: int | None = None
    fit: str = "contain"
    quality: int = 80
    format: str | None = None
    background: str = "#ffffff"
    pipeline: str = PIPELINE_VERSION

    def __post_init__(self) -> None:
        for name in ("width", "height", "quality"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                raise DocumentError(f"{name} must be an integer, not {value!r}")
        if not 1 <= self.width <= MAX_DIMENSION:
            raise DocumentError(f"width must be between 1 and {MAX_DIMENSION}, not {self.width}")
        if self.height is not None and not 1 <= self.height <= MAX_DIMENSION:
            raise DocumentError(f"height must be between 1 and {MAX_DIMENSION}, not {self.height}")
        if self.fit not in FITS:
            raise DocumentError(f"fit must be one of {', '.join(FITS)}, not {self.fit!r}")
        if self.fit == "cover" and self.height is None:
            raise DocumentError("fit 'cover' needs a height")
        if not 1 <= self.quality <= 100:
            raise DocumentError(f"quality must be between 1 and 100, not {self.quality}")
        if self.format is not None and self.format not in OUTPUT_FORMATS:
            raise DocumentError(f"format must be one of {', '.join(OUTPUT_FORMATS)} or null, not {self.format!r}")
        if not (isinstance(self.background, str) and len(self.background) == 7 and self.background[0] == "#"):
            raise DocumentError(f"background must be a colour like '#ffffff', not {self.background!r}")
        try:
            int(self.background[1:], 16)
        except ValueError:
            raise DocumentError(f"background must be a colour like '#ffffff', not {self.background!r}") from None
        if not (isinstance(self.pipeline, str) and self.pipeline.isdigit() and len(self.pipeline) <= 8):
            raise DocumentError(f"pipeline must be a version string like {PIPELINE_VERSION!r}, not {self.pipeline!r}")

    @property
    def fingerprint(self) -> str:
        """Eight hex digits of SHA-256 over the canonical JSON of the spec (its pipeline version included)."""
        payload = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(payload.encode("ascii")).hexdigest()[:8]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], pipeline: str = PIPELINE_VERSION) -> Spec:
        """A spec from its JSON; ``pipeline`` is the version of one stored before revisions recorded their own."""
        if not isinstance(data, Mapping):
            raise DocumentError(f"a revision must be an object, not {data!r}")
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise DocumentError(f"unknown revision field(s): {', '.join(sorted(unknown))}")
        if "width" not in data:
            raise DocumentError("a revision needs a width")
        return cls(**{"pipeline": pipeline, **data})
