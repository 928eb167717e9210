"""The demo's own model: an article whose photo is a VariantImageField."""

from django.db import models

from imagevariants.fields import VariantImageField


class Article(models.Model):
    """A title and a photo; the photo's upright size and SHA-256 are recorded when a new photo is saved."""

    title = models.CharField(max_length=200)
    photo = VariantImageField(
        width_field="photo_width", height_field="photo_height", version_field="photo_sha256", blank=True
    )
    photo_width = models.PositiveIntegerField(null=True, blank=True, editable=False)
    photo_height = models.PositiveIntegerField(null=True, blank=True, editable=False)
    photo_sha256 = models.CharField(max_length=64, blank=True, editable=False)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.title
