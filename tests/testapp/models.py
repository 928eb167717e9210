from django.db import models

from imagevariants.fields import VariantImageField, source_storage


class Photo(models.Model):
    """A VariantImageField whose recorded fields come first: they are saved with what the field records anyway."""

    width = models.PositiveIntegerField(null=True, blank=True, editable=False)
    height = models.PositiveIntegerField(null=True, blank=True, editable=False)
    sha256 = models.CharField(max_length=64, blank=True, editable=False)
    title = models.CharField(max_length=100, blank=True)
    image = VariantImageField(width_field="width", height_field="height", version_field="sha256", blank=True)

    def __str__(self) -> str:
        return self.image.name or ""


class PlainPhoto(models.Model):
    """Django's own ImageField on the sources' storage, with the stored size in its width and height fields."""

    image = models.ImageField(upload_to="images/", storage=source_storage, width_field="width", height_field="height")
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)

    def __str__(self) -> str:
        return self.image.name or ""
