"""``VariantImageField``: an ImageField that records its file's upright size and content version on save.

Django's ``width_field``/``height_field`` store the size the file is stored at, which is not the size shown when
the file carries an EXIF orientation (a phone photo stored 1200x900 with orientation 6 is shown 900x1200), and
``ImageField`` may read the file when an instance is loaded. This field records, when a new file is saved, what
the edge will make of it: its upright width and height and the SHA-256 of its bytes (the version in its variant
URLs). Loading and rendering never read the file; an upload the edge would refuse is refused with its reason.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from django import forms
from django.core import checks
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured, ValidationError
from django.core.files.base import File
from django.core.files.storage import InvalidStorageError, Storage, storages
from django.db import models
from django.db.models import signals
from django.db.models.fields.files import FieldFile, FileDescriptor, ImageFieldFile

from . import conf
from .validators import read_source, short_name

__all__ = ["VariantImageField", "VariantImageFieldFile", "VariantImageFormField", "source_storage"]

#: Keys are the upload prefix and a file name of up to MAX_NAME_BYTES, hence a longer column than FileField's 100.
DEFAULT_MAX_LENGTH = 500
SHA256_DIGITS = 64


def source_storage() -> Storage:
    """The default storage: the one the edge reads sources from (``IMAGEVARIANTS["STORAGE"]``)."""
    return conf.source_storage


def upload_prefix(instance: models.Model, filename: str) -> str:
    """The default ``upload_to``: the app's upload folder (``IMAGEVARIANTS["UPLOAD_TO"]``), a source prefix."""
    return conf.settings().upload_prefix + filename


@dataclass(frozen=True)
class Recorded:
    """What the field records of a file: its upright size and the SHA-256 of its bytes."""

    width: int
    height: int
    sha256: str


def _read(content: File) -> Recorded:
    """Read ``content`` within the edge's limits (ValidationError with the edge's reason), once per file object."""
    recorded = getattr(content, "_imagevariants_recorded", None)
    if recorded is None:
        data, probe = read_source(content)
        recorded = Recorded(probe.width, probe.height, hashlib.sha256(data).hexdigest())
        setattr(content, "_imagevariants_recorded", recorded)  # noqa: B010 (an attribute File does not declare)
    return recorded


def _short_name(name: str) -> str:
    """``name`` with its file name cut to MAX_NAME_BYTES (extension kept), so every variant's name can be stored."""
    folder, slash, filename = name.rpartition("/")
    return f"{folder}{slash}{short_name(filename)}"


class VariantImageFieldFile(ImageFieldFile):
    """The field's file: saving new content records its upright size and version on the instance."""

    def save(self, name: str, content: File, save: bool = True) -> None:
        """Store ``content`` and record it; ValidationError, with nothing stored, for a file the edge refuses."""
        recorded = self.field.read(content)
        super().save(name, content, save=False)
        self.field.record(self.instance, recorded)
        if save:
            self.instance.save()

    save.alters_data = True  # type: ignore[attr-defined]  # Django's marker on a method: no declared attribute

    def delete(self, save: bool = True) -> None:
        """Delete the file from storage and empty the recorded fields."""
        if self:
            self.field.record(self.instance, None)
        super().delete(save)

    delete.alters_data = True  # type: ignore[attr-defined]  # Django's marker on a method: no declared attribute


class VariantImageFileDescriptor(FileDescriptor):
    """Assigning another file forgets what was recorded of the previous one; nothing is read until the save."""

    def __set__(self, instance: models.Model, value: Any) -> None:
        previous = instance.__dict__.get(self.field.attname)
        super().__set__(instance, value)
        if previous is not None and getattr(previous, "name", previous) != getattr(value, "name", value):
            self.field.record(instance, None)


class VariantImageFormField(forms.ImageField):
    """An image upload refused, with the edge's reason, when the edge would refuse it."""

    def to_python(self, data: Any) -> Any:
        upload = forms.FileField.to_python(self, data)
        if upload is not None:
            _read(upload)
        return super().to_python(data)


class VariantImageField(models.ImageField):
    """An ImageField for images served as variants, recording what the tags need so rendering reads nothing.

    ``width_field`` and ``height_field`` receive the upright size (EXIF orientation applied, as variants are
    made), ``version_field`` (a CharField of 64 characters) the SHA-256 hex digest of the file, which versions its
    variant URLs. They are recorded when a new file is saved, from the bytes being stored, and when a stored file
    is named (assigned by name, or recorded before the field existed) and one of them is empty, by reading it once.
    Loading an instance never reads the file. Uploads the edge would refuse raise ValidationError with its reason.

    Defaults: ``upload_to`` the app's upload folder (``UPLOAD_TO``), ``storage`` the sources' storage
    (``STORAGE``), ``max_length`` 500; file names are cut to 250 bytes so that every variant's can be stored.
    """

    attr_class = VariantImageFieldFile
    descriptor_class = VariantImageFileDescriptor

    def __init__(
        self,
        verbose_name: str | None = None,
        name: str | None = None,
        width_field: str | None = None,
        height_field: str | None = None,
        version_field: str | None = None,
        *,
        upload_to: Any = upload_prefix,
        storage: Any = None,
        **kwargs: Any,
    ) -> None:
        self.version_field = version_field
        kwargs.setdefault("max_length", DEFAULT_MAX_LENGTH)
        super().__init__(
            verbose_name,
            name,
            width_field,
            height_field,
            upload_to=upload_to,
            storage=storage or source_storage,
            **kwargs,
        )

    def deconstruct(self) -> tuple[str, str, list[Any], dict[str, Any]]:
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("max_length", None)
        if self.max_length != DEFAULT_MAX_LENGTH:
            kwargs["max_length"] = self.max_length
        if self.version_field:
            kwargs["version_field"] = self.version_field
        if self.upload_to is upload_prefix:
            del kwargs["upload_to"]
        if kwargs.get("storage") is source_storage:
            del kwargs["storage"]
        return name, path, args, kwargs

    def contribute_to_class(self, cls: type[models.Model], name: str, **kwargs: Any) -> None:
        super().contribute_to_class(cls, name, **kwargs)
        if not cls._meta.abstract:
            # Any sender: a proxy or a child model's save sends its own class.
            signals.pre_save.connect(self._record_on_save)

    def update_dimension_fields(self, instance: models.Model, force: bool = False, *args: Any, **kwargs: Any) -> None:
        """Django's hook, which reads the file on load for the size it is stored at: the field never does."""

    def generate_filename(self, instance: models.Model | None, filename: str) -> str:
        return _short_name(super().generate_filename(instance, filename))

    def formfield(self, **kwargs: Any) -> forms.Field:
        return super().formfield(**{"form_class": VariantImageFormField, **kwargs})

    @property
    def recorded_fields(self) -> tuple[str, ...]:
        """The names of the fields this field records into, of ``width_field``, ``height_field``, ``version_field``."""
        return tuple(name for name in (self.width_field, self.height_field, self.version_field) if name)

    def read(self, content: File) -> Recorded:
        """Read ``content`` (a new file, or a stored one: one read) as the edge would; ValidationError on the field."""
        try:
            return _read(content)
        except ValidationError as exc:
            raise ValidationError({self.name: exc.messages}) from None

    def record(self, instance: models.Model, recorded: Recorded | None) -> None:
        """Set the instance's recorded fields (to empty values for no file)."""
        if self.width_field:
            setattr(instance, self.width_field, recorded.width if recorded else None)
        if self.height_field:
            setattr(instance, self.height_field, recorded.height if recorded else None)
        if self.version_field:
            setattr(instance, self.version_field, recorded.sha256 if recorded else "")

    def validate(self, value: Any, model_instance: models.Model) -> None:
        """Also refuse, with the edge's reason, a file the edge would refuse (read only when it is to be recorded)."""
        super().validate(value, model_instance)
        if value and not value._committed:
            _read(value.file)
        elif value and not self.is_recorded(model_instance):
            _read(value)

    def is_recorded(self, instance: models.Model) -> bool:
        """Whether every recorded field has a value; until then the tags use none of them."""
        return all(getattr(instance, name) for name in self.recorded_fields)

    def _record_on_save(
        self, sender: type[models.Model], instance: models.Model, raw: bool = False, **kwargs: Any
    ) -> None:
        """Before a save writes anything: store a new file and record it, or record a stored file not recorded yet."""
        update_fields = kwargs.get("update_fields")
        if raw or not isinstance(instance, self.model) or self.attname not in instance.__dict__:
            return
        if update_fields is not None and self.name not in update_fields:
            return
        file: FieldFile = getattr(instance, self.attname)
        if file and not file._committed:
            file.save(file.name, file.file, save=False)  # as FileField.pre_save would, before any field is read
        elif file and not self.is_recorded(instance):
            self.record(instance, self.read(file))

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        return [*super().check(**kwargs), *self._check_recorded_fields(), *self._check_edge_reads_it()]

    def _check_recorded_fields(self) -> list[checks.CheckMessage]:
        messages: list[checks.CheckMessage] = []
        for argument in ("width_field", "height_field", "version_field"):
            name = getattr(self, argument)
            if not name:
                continue
            try:
                target = self.model._meta.get_field(name)
            except FieldDoesNotExist:
                messages.append(
                    checks.Error(
                        f"{argument}={name!r} names no field of {self.model._meta.label}.",
                        hint=f"Add the field, or fix the name given to {self.name}.",
                        obj=self,
                        id="imagevariants.E011",
                    )
                )
                continue
            if argument == "version_field":
                suitable = isinstance(target, models.CharField) and (target.max_length or 0) >= SHA256_DIGITS
                wanted = f"a CharField of max_length={SHA256_DIGITS} or more"
            else:
                suitable = isinstance(target, models.IntegerField)
                wanted = "an integer field (PositiveIntegerField(null=True, blank=True))"
            if not suitable:
                messages.append(
                    checks.Error(
                        f"{argument}={name!r} is a {type(target).__name__}; it must be {wanted}.",
                        obj=self,
                        id="imagevariants.E012",
                    )
                )
        return messages

    def _check_edge_reads_it(self) -> list[checks.CheckMessage]:
        """The files are where the edge reads sources: under a source prefix, in the sources' storage."""
        try:
            prefixes = conf.settings().sources
            sources = storages[conf.settings().storage]
        except (ImproperlyConfigured, InvalidStorageError, TypeError, AttributeError):
            return []  # the settings' own checks (imagevariants.E001, E006, E010) say what is wrong
        messages: list[checks.CheckMessage] = []
        if isinstance(self.upload_to, str):
            folder = self.upload_to.strip("/") + "/"
            if not folder.startswith(prefixes):
                messages.append(
                    checks.Error(
                        f"upload_to={self.upload_to!r} is outside the source prefixes ({', '.join(prefixes)}): the "
                        "edge would refuse to make variants of these files.",
                        hint=f"Add {folder!r} to IMAGEVARIANTS['SOURCE_PREFIXES'], or upload under a source prefix "
                        "(leave upload_to out for UPLOAD_TO).",
                        obj=self,
                        id="imagevariants.E013",
                    )
                )
        if self.storage != sources:
            messages.append(
                checks.Warning(
                    f"The storage of {self.name} is not the one named by IMAGEVARIANTS['STORAGE'] "
                    f"({conf.settings().storage!r}), where the edge reads sources.",
                    hint="Leave storage out (the sources' storage is the default), or set IMAGEVARIANTS['STORAGE'].",
                    obj=self,
                    id="imagevariants.W004",
                )
            )
        return messages
