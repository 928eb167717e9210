"""The app's exceptions, in one place. The edge's own errors (answered as HTTP statuses, and those of a malformed
presets document) live in :mod:`imagevariants.edge.errors`, which the Lambda bundle ships without this module."""

from __future__ import annotations

__all__ = [
    "BundleError",
    "DeployError",
    "ImageVariantsError",
    "LambdaRuleViolation",
    "NothingPublished",
    "PillowMissing",
    "PurgeError",
    "RuntimeUnavailable",
    "UnknownPreset",
]


class ImageVariantsError(Exception):
    """Base class of the app's exceptions; each message is one sentence that says what to do."""


class UnknownPreset(ImageVariantsError):
    """A template asked for a preset (or a format of it) that the edge does not serve."""


class NothingPublished(UnknownPreset):
    """No presets are published yet: the tags fall back to the originals, even with DEBUG on."""


class DeployError(ImageVariantsError):
    """A deployment step failed; the message says what to do."""


class BundleError(ImageVariantsError):
    """The function bundle cannot be built or does not work; the message says why."""


class PillowMissing(BundleError):
    """Pillow for the Lambda runtime has not been fetched into the cache on this machine."""


class RuntimeUnavailable(BundleError):
    """No interpreter of the Lambda runtime's Python version is on this machine: the bundle cannot be run here."""


class PurgeError(ImageVariantsError):
    """Storage or the CDN refused a step of a removal; the message says which, and what is missing."""


class LambdaRuleViolation(ImageVariantsError):
    """The edge handler produced a response that Lambda@Edge would refuse with a 502."""
