"""Presets (drafts until published), tracked source images, and the history of publications to the edge."""

from __future__ import annotations

import enum
import hashlib
from typing import TYPE_CHECKING, Any, ClassVar

from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models.fields.files import ImageFieldFile
from django.utils.translation import gettext_lazy as _

from . import conf
from .edge.errors import DocumentError
from .edge.formats import FORMATS, PICTURE_FORMATS, encodable
from .edge.keys import PRESET_NAME_RE
from .edge.limits import Limits
from .edge.memory import MIB, available_bytes, fits, worst_case_bytes
from .edge.spec import MAX_DIMENSION, Spec
from .validators import read_source, short_name

if TYPE_CHECKING:

    class _TextChoices(enum.StrEnum):
        """Django's TextChoices as a type checker should see it (Django ships no type hints): a str enum whose
        members are their values (``Publication.Target.LOCAL == "local"``), not the (value, label) tuples their
        class body assigns."""

        choices: ClassVar[list[tuple[str, str]]]

else:
    _TextChoices = models.TextChoices


class VariantPreset(models.Model):
    """A named output size and encoding. Editing makes a new revision with a new fingerprint (new URLs)."""

    class Fit(_TextChoices):
        CONTAIN = "contain", _("Contain: fit inside the box, never upscale")
        COVER = "cover", _("Cover: fill the box and crop")

    Format = models.TextChoices(
        "Format",
        [
            ("KEEP", ("", _("Same as the source"))),
            *((fmt.name.upper(), (fmt.name, fmt.label)) for fmt in FORMATS.values()),
        ],
    )

    dimension = [MinValueValidator(1), MaxValueValidator(MAX_DIMENSION)]

    name = models.CharField(
        _("name"),
        max_length=40,
        unique=True,
        validators=[RegexValidator(PRESET_NAME_RE, _("Use lower-case letters, digits, - and _ (no dots)."))],
        help_text=_("Short slug used in templates and URLs, such as sm, md, lg."),
    )
    width = models.PositiveIntegerField(_("width"), validators=dimension, help_text=_("Output width in pixels."))
    height = models.PositiveIntegerField(
        _("height"), null=True, blank=True, validators=dimension, help_text=_("Optional box height in pixels.")
    )
    fit = models.CharField(_("fit"), max_length=8, choices=Fit.choices, default=Fit.CONTAIN)
    quality = models.PositiveSmallIntegerField(
        _("quality"), default=80, validators=[MinValueValidator(1), MaxValueValidator(100)]
    )
    format = models.CharField(_("format"), max_length=4, choices=Format.choices, default=Format.KEEP, blank=True)
    avif = models.BooleanField(_("also AVIF"), default=True, help_text=_("An AVIF <source> in {% picture %}."))
    webp = models.BooleanField(_("also WebP"), default=True, help_text=_("A WebP <source> in {% picture %}."))
    background = models.CharField(
        _("background"),
        max_length=7,
        default="#ffffff",
        validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$", _("Use a colour like #ffffff."))],
        help_text=_("Colour that transparent areas get in JPEG output."),
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["width", "name"]
        verbose_name = _("variant preset")

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.fit == self.Fit.COVER and not self.height:
            errors["height"] = _("Cover needs a height: it fills a width x height box.")
        wanted = {"format": self.format, **{fmt: fmt if getattr(self, fmt) else "" for fmt in PICTURE_FORMATS}}
        for field, fmt in wanted.items():
            if fmt and not encodable(fmt):
                errors[field] = _("This server's Pillow cannot encode %(fmt)s.") % {"fmt": fmt.upper()}
        if not errors:
            try:
                specs = self.specs()
            except DocumentError:  # a field is out of range: its own validator says which
                specs = []
            too_large = memory_problem(specs, conf.settings().limits)
            if too_large:
                errors["width"] = too_large
        if errors:
            raise ValidationError(errors)

    def specs(self) -> list[Spec]:
        """This revision's outputs: the primary format first, then the alternates <picture> offers."""
        base = {
            "width": self.width,
            "height": self.height or None,
            "fit": self.fit,
            "quality": self.quality,
            "background": self.background.lower(),
        }
        specs = [Spec(**base, format=self.format or None)]
        for fmt in PICTURE_FORMATS:  # each alternate has a boolean field of its name
            if getattr(self, fmt) and fmt != self.format:
                specs.append(Spec(**base, format=fmt))
        return specs

    @property
    def fingerprint(self) -> str:
        """The fingerprint of the primary output (the one in the fallback ``<img>``)."""
        return self.specs()[0].fingerprint


def memory_problem(specs: list[Spec], limits: Limits) -> str:
    """Why the worst case of one of ``specs`` cannot fit the function's memory, or "" when every one fits."""
    for spec in specs:
        worst = worst_case_bytes(spec, limits)
        if not fits(worst, limits):
            return _(
                "Its %(fmt)s output of the largest source allowed needs about %(worst)s MiB, more than the %(room)s MiB"
                " the edge function has (MEMORY_MB %(mb)s, MAX_SOURCE_PIXELS %(pixels)s): lower the width, set a"
                " height, drop %(fmt)s, or raise MEMORY_MB or lower MAX_SOURCE_PIXELS."
            ) % {
                "fmt": (spec.format or "same-format").upper(),
                "worst": worst // MIB,
                "room": available_bytes(limits) // MIB,
                "mb": limits.memory_mb,
                "pixels": limits.max_source_pixels,
            }
    return ""


def _source_storage():
    return conf.source_storage


def _upload_to(instance: SourceImage, filename: str) -> str:
    """The upload folder, with a file name short enough that every variant's name can be stored too."""
    return conf.settings().upload_prefix + short_name(filename)


class SourceFieldFile(ImageFieldFile):
    """A SourceImage's file: new content saved through it (``source.file.save(name, content)``) is read first."""

    def save(self, name: str, content: File, save: bool = True) -> None:
        self.instance.read_metadata(content)
        super().save(name, content, save)

    save.alters_data = True  # type: ignore[attr-defined]  # Django's marker on a method: no declared attribute


class SourceFileField(models.ImageField):
    """The file of a SourceImage, whose size, format and hash always describe the bytes stored."""

    attr_class = SourceFieldFile


class SourceImage(models.Model):
    """An original image on the configured storage, with what templates need to know without touching it."""

    file = SourceFileField(_("file"), upload_to=_upload_to, storage=_source_storage, max_length=500)
    alt = models.CharField(_("alt text"), max_length=300, blank=True)
    width = models.PositiveIntegerField(_("width"), editable=False, default=0)
    height = models.PositiveIntegerField(_("height"), editable=False, default=0)
    format = models.CharField(_("format"), max_length=8, editable=False, blank=True)
    bytes = models.PositiveBigIntegerField(_("bytes"), editable=False, default=0)
    sha256 = models.CharField(_("SHA-256"), max_length=64, editable=False, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("source image")

    def __str__(self) -> str:
        return self.file.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.file and (not self.file._committed or not self.sha256):
            self.read_metadata()
        super().save(*args, **kwargs)

    @property
    def key(self) -> str:
        """The storage name of the original, which variant keys are built on."""
        return self.file.name

    def clean(self) -> None:
        if self.file and not self.file._committed:
            self.read_metadata()

    def read_metadata(self, content: File | None = None) -> None:
        """Fill width, height (EXIF orientation applied), format, bytes and hash from the file (or ``content``, the
        new content about to be saved). Raises ValidationError for a file the edge would refuse."""
        try:
            data, info = read_source(self.file if content is None else content)
        except ValidationError as exc:
            raise ValidationError({"file": exc.messages}) from None
        self.width, self.height, self.format = info.width, info.height, info.format
        self.bytes = len(data)
        self.sha256 = hashlib.sha256(data).hexdigest()


class Publication(models.Model):
    """One publication of the presets: to the local edge, or to CloudFront (a deployment, by ``deploy_edge``).

    A pending CloudFront deployment is also the lock that keeps deployments one at a time: at most one row per
    target may be pending (a conditional unique constraint, enforced by PostgreSQL and SQLite). A deployment started
    from the admin runs in a process of its own (``runner``), which writes its progress to ``log`` and shows it is
    alive through ``heartbeat_at``.
    """

    class Target(_TextChoices):
        LOCAL = "local", _("Local edge")
        CLOUDFRONT = "cloudfront", _("CloudFront")

    class Status(_TextChoices):
        PENDING = "pending", _("In progress")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        #: A deployment started from the admin that found the live one serving these presets: nothing changed.
        UNCHANGED = "unchanged", _("Up to date")

    created_at = models.DateTimeField(_("started"), auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    created_by = models.CharField(_("by"), max_length=200, blank=True, help_text=_("User or host."))
    target = models.CharField(_("target"), max_length=10, choices=Target.choices)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    document = models.JSONField(_("presets document"))
    document_sha256 = models.CharField(_("document SHA-256"), max_length=64)
    bundle_sha256 = models.CharField(_("bundle SHA-256"), max_length=64, blank=True)
    function_arn = models.CharField(_("function version ARN"), max_length=300, blank=True)
    distribution_id = models.CharField(_("distribution"), max_length=100, blank=True)
    error = models.TextField(_("error"), blank=True)
    note = models.TextField(
        _("note"), blank=True, help_text=_("What a succeeded deployment could not confirm, such as propagation.")
    )
    log = models.TextField(
        _("progress"), blank=True, help_text=_("Each step of a deployment started from the admin, as it happened.")
    )
    heartbeat_at = models.DateTimeField(
        _("last sign of life"),
        null=True,
        blank=True,
        help_text=_("When the process running a deployment started from the admin last showed it was alive."),
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        get_latest_by = ["created_at", "pk"]
        verbose_name = _("publication")
        permissions = [("deploy_edge", _("Can publish presets to the edge"))]
        constraints = [
            models.UniqueConstraint(
                fields=["target"],
                condition=models.Q(status="pending"),
                name="imagevariants_one_pending_deployment",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_target_display()} {self.created_at:%Y-%m-%d %H:%M} ({self.get_status_display()})"
