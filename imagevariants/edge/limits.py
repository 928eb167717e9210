"""What one render may cost: the limits baked into the presets document, and the deadline of one request.

Every limit bounds work, not only size: a small file can still ask for minutes (thousands of animation frames,
a JPEG that repeats one progressive scan), so frames, scans and estimated memory are limited beside bytes and
pixels. A limit hit is a 413 with nothing written (``SourceTooLarge``); a request that runs out of time is a 503
(``OutOfTime``), answered before Lambda@Edge would kill the function, so its log line is always written.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, fields
from typing import Any

from .errors import LimitsError, OutOfTime

__all__ = ["Deadline", "Limits"]


@dataclass(frozen=True)
class Limits:
    """Hard limits on one source and its render (defaults documented in docs/security.md)."""

    #: Pixels of the source (of every frame together, for an animation).
    max_source_pixels: int = 50_000_000
    #: Bytes of the source as stored.
    max_source_bytes: int = 40 * 1024 * 1024
    #: Frames of an animated source (GIF, APNG, WebP, AVIF) or pages of a TIFF (long real GIFs have about 800).
    max_frames: int = 1000
    #: Scans of a progressive JPEG (a baseline JPEG has one; encoders write about 10).
    max_jpeg_scans: int = 64
    #: Memory of the function (MB): a render whose estimated peak would not fit is refused before it starts.
    memory_mb: int = 1536

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise LimitsError(f"limits.{item.name} must be a positive integer, not {value!r}")

    @classmethod
    def from_dict(cls, data: Any) -> Limits:
        """Limits from the document's JSON; missing ones take their defaults (documents of earlier releases)."""
        if not isinstance(data, dict):
            raise LimitsError(f"limits must be an object, not {data!r}")
        unknown = sorted(set(data) - {item.name for item in fields(cls)})
        if unknown:
            raise LimitsError(f"limits.{unknown[0]} is not a known limit")
        return cls(**data)

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


class Deadline:
    """The time a request may still spend, on the monotonic clock; ``check`` raises OutOfTime once it passed."""

    #: Kept back from Lambda's own limit: answering and writing the log line take this at most.
    MARGIN_MS = 1500

    def __init__(self, seconds: float, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self.at = clock() + seconds

    @classmethod
    def from_context(cls, context: Any) -> Deadline:
        """The deadline of a Lambda invocation (``get_remaining_time_in_millis``), less the margin."""
        try:
            remaining_ms = float(context.get_remaining_time_in_millis())
        except Exception:  # no context (a direct call): the origin-response trigger's own 30 s
            remaining_ms = 28_000.0 + cls.MARGIN_MS
        return cls(max(0.0, remaining_ms - cls.MARGIN_MS) / 1000)

    def remaining(self) -> float:
        """Seconds left (never negative)."""
        return max(0.0, self.at - self._clock())

    def check(self, step: str, needs: float = 0.0) -> None:
        """Raise OutOfTime if fewer than ``needs`` seconds are left for ``step``."""
        left = self.remaining()
        if left <= needs:
            raise OutOfTime(f"no time left for {step} ({left:.2f} s left, {needs:.2f} s needed)")
