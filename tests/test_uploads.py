"""Uploads are refused when the edge would refuse them: the admin's SourceImage form and a project's own field."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from imagevariants.models import SourceImage
from imagevariants.validators import MAX_NAME_BYTES, validate_source_image
from tests import images
from tests.edge import hostile

pytestmark = pytest.mark.django_db


HOSTILE = {
    "html as jpg": (b"<html><script>alert(1)</script></html>", "not an image"),
    "svg as png": (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "not an image"),
    "2,000 frames": (hostile.gif_frames(2000), "frames"),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_the_admin_refuses_what_the_edge_would_refuse(admin_client, name):
    data, reason = HOSTILE[name]
    upload = SimpleUploadedFile("upload.gif", data, content_type="image/gif")
    response = admin_client.post(reverse("admin:imagevariants_sourceimage_add"), {"file": upload, "alt": "x"})
    assert response.status_code == 200, SourceImage.objects.values()  # the form again, with the error
    errors = response.context["adminform"].form.errors["file"]
    assert any(reason in error for error in errors), errors
    assert SourceImage.objects.count() == 0
    assert not storages["default"].exists("images")  # nothing stored


def test_the_validator_on_a_projects_own_field(settings):
    settings.IMAGEVARIANTS = {"MAX_SOURCE_BYTES": 5_000}
    validate_source_image(ContentFile(images.jpeg(40, 30), name="small.jpg"))
    with pytest.raises(ValidationError, match="over the limit of 5000"):
        validate_source_image(ContentFile(images.jpeg(800, 600), name="photo.jpg"))
    settings.IMAGEVARIANTS = {"MAX_FRAMES": 1000}
    with pytest.raises(ValidationError, match="max_frames=1000"):
        validate_source_image(ContentFile(hostile.gif_frames(1200), name="anim.gif"))
    with pytest.raises(ValidationError, match="file name"):
        validate_source_image(ContentFile(images.jpeg(40, 30), name="x" * (MAX_NAME_BYTES - 3) + ".jpg"))


def test_a_long_upload_name_is_shortened_so_every_variant_can_be_stored(client, presets):
    """A 252-character name fits a file system, but its WebP variant (257) would not: it is shortened at upload,
    and its variants are made and stored."""
    image = SourceImage()
    image.file.save("é" * 124 + "xxxx.jpg", ContentFile(images.jpeg(400, 300)), save=False)  # 252 bytes + ".jpg"
    image.save()
    name = image.key.rpartition("/")[2]
    assert len(name.encode()) <= MAX_NAME_BYTES and name.endswith(".jpg") and name.startswith("é" * 10)
    from imagevariants.variants import variant_url

    response = client.get(variant_url(image, "md", "webp"))
    assert response.status_code == 200 and response["Content-Type"] == "image/webp"


def test_a_variant_key_that_could_never_be_stored_is_refused_before_any_work(client, presets, monkeypatch):
    """A source stored by other means with a 252-byte name: its WebP variant's name (257 bytes) cannot be stored
    anywhere, so the edge refuses it (400) without reading or rendering, instead of rendering it on every request."""
    from imagevariants.edge import handler
    from imagevariants.variants import variant_url

    key = storages["default"].save("images/" + "x" * 248 + ".jpg", ContentFile(images.jpeg(400, 300)))
    renders = []
    monkeypatch.setattr(handler, "render", lambda *args, **kwargs: renders.append(args) or None)
    for _ in range(2):
        response = client.get(variant_url(key, "md", "webp"))
        assert response.status_code == 400
    assert renders == []
