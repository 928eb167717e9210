"""The edge's errors: those it answers as small, short-lived 4xx responses (never a 5xx for bad input), and
those of a malformed presets document or limits object."""

from __future__ import annotations

__all__ = [
    "BadKey",
    "Busy",
    "DocumentError",
    "EdgeError",
    "LimitsError",
    "NotServed",
    "OutOfTime",
    "SourceForbidden",
    "SourceMissing",
    "SourceTooLarge",
    "Undecodable",
]


class EdgeError(Exception):
    """Base class: ``status`` is the HTTP status the edge answers with."""

    status = 400
    reason = "Bad Request"

    @property
    def public(self) -> str:
        """The response body's text; the log line keeps the whole message."""
        return f"{self.reason}: {self}"


class BadKey(EdgeError):
    """The requested key is malformed or hostile; it is never looked up nor written."""


class NotServed(EdgeError):
    """The key names what the edge does not make: a revision the document does not list, a source outside the
    source prefixes, or a source version other than the bytes stored at the key."""

    status = 404
    reason = "Not Found"


class SourceMissing(EdgeError):
    """The original image does not exist (or the function may not read it)."""

    status = 404
    reason = "Not Found"


class SourceForbidden(SourceMissing):
    """S3 refused the read (AccessDenied): answered like a missing source, logged as what it is."""


class SourceTooLarge(EdgeError):
    """The original exceeds the byte or pixel limits of the presets document (decompression bombs included)."""

    status = 413
    reason = "Payload Too Large"


class Undecodable(EdgeError):
    """The original is not an image the pipeline can decode (corrupt, truncated, unsupported format)."""

    status = 415
    reason = "Unsupported Media Type"

    @property
    def public(self) -> str:
        return f"{self.reason}: the source is not an image this edge decodes"  # no decoder internals


class OutOfTime(EdgeError):
    """The request's deadline passed (a stalled S3, a slow render): answered before Lambda would kill it."""

    status = 503
    reason = "Service Unavailable"

    @property
    def public(self) -> str:
        return f"{self.reason}: the variant could not be made in time; try again"


class Busy(EdgeError):
    """The local edge renders as many variants at once as it may; the client should come back shortly."""

    status = 503
    reason = "Service Unavailable"

    @property
    def public(self) -> str:
        return f"{self.reason}: too many variants are being made at once; try again"


class DocumentError(ValueError):
    """The presets document is malformed; the message names the offending field."""


class LimitsError(DocumentError):
    """A limits object is malformed; the message names the field."""
