"""Presets and tracked sources."""

import hashlib

import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile

from imagevariants import conf
from imagevariants.models import SourceImage, VariantPreset
from tests import images

pytestmark = pytest.mark.django_db


def test_source_metadata_filled_on_save():
    data = images.jpeg(640, 480)
    source = images.tracked("a.jpg", data)
    source.refresh_from_db()
    assert (source.width, source.height, source.format) == (640, 480, "jpeg")
    assert source.bytes == len(data)
    assert source.sha256 == hashlib.sha256(data).hexdigest()
    assert source.key == "images/a.jpg"


@pytest.mark.parametrize("orientation, size", [(1, (640, 480)), (3, (640, 480)), (6, (480, 640)), (8, (480, 640))])
def test_source_size_follows_exif_orientation(orientation, size):
    source = images.tracked("phone.jpg", images.jpeg(640, 480, orientation=orientation))
    assert (source.width, source.height) == size


def test_png_source():
    source = images.tracked("alpha.png", images.png(300, 200))
    assert (source.width, source.height, source.format) == (300, 200, "png")


@pytest.mark.parametrize("data", [b"", b"not an image at all", images.jpeg()[:200]])
def test_broken_source_is_a_validation_error_and_saves_nothing(data):
    """Refused as the file is saved: no row and no file (it used to be stored, then refused with the row)."""
    source = SourceImage()
    with pytest.raises(ValidationError) as excinfo:
        source.file.save("broken.jpg", ContentFile(data), save=False)
    assert "file" in excinfo.value.message_dict
    assert SourceImage.objects.count() == 0
    assert not conf.source_storage.exists("images/broken.jpg")


def test_source_over_the_pixel_limit_is_refused(settings):
    settings.IMAGEVARIANTS = {"MAX_SOURCE_PIXELS": 100 * 100}
    source = SourceImage()
    with pytest.raises(ValidationError, match="over the limit"):
        source.file.save("big.jpg", ContentFile(images.jpeg(200, 200)))
    assert SourceImage.objects.count() == 0 and not conf.source_storage.exists("images/big.jpg")


def test_preset_specs_and_fingerprint():
    preset = VariantPreset(name="md", width=250, quality=80, format="", avif=True, webp=True)
    specs = preset.specs()
    assert [s.format for s in specs] == [None, "avif", "webp"]
    assert preset.fingerprint == specs[0].fingerprint
    preset.format = "webp"
    assert [s.format for s in preset.specs()] == ["webp", "avif"]  # no duplicate WebP output


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"width": 0}, "width"),
        ({"width": 9000}, "width"),
        ({"height": 0}, "height"),
        ({"quality": 0}, "quality"),
        ({"quality": 101}, "quality"),
        ({"name": "Bad.Name"}, "name"),
        ({"fit": "cover"}, "height"),
        ({"background": "white"}, "background"),
    ],
)
def test_preset_validation_names_the_field(fields, field):
    preset = VariantPreset(**{"name": "md", "width": 250, "quality": 80, **fields})
    with pytest.raises(ValidationError) as excinfo:
        preset.full_clean()
    assert field in excinfo.value.message_dict


def test_every_output_format_of_the_document_can_be_chosen():
    from imagevariants.edge.formats import OUTPUT_FORMATS

    assert [value for value, _ in VariantPreset.Format.choices] == ["", *OUTPUT_FORMATS]
    preset = VariantPreset(name="anim", width=250, quality=80, format="gif", avif=False, webp=False)
    preset.full_clean(exclude=["name"])
    assert [s.format for s in preset.specs()] == ["gif"]


def test_format_this_pillow_cannot_encode(monkeypatch):
    from PIL import features

    monkeypatch.setattr(features, "check", lambda name: name != "avif")
    preset = VariantPreset(name="md", width=250, format="avif", avif=False)
    with pytest.raises(ValidationError) as excinfo:
        preset.full_clean()
    assert "cannot encode AVIF" in str(excinfo.value.message_dict["format"])
    preset = VariantPreset(name="md", width=250, avif=True)
    with pytest.raises(ValidationError) as excinfo:
        preset.full_clean()
    assert "avif" in excinfo.value.message_dict


def test_duplicate_name_refused(presets):
    with pytest.raises(ValidationError) as excinfo:
        VariantPreset(name="md", width=10).full_clean()
    assert "name" in excinfo.value.message_dict


@pytest.mark.django_db(transaction=True)
def test_permissions_granted_on_edgedeployment_hold_after_its_rename():
    from django.contrib.auth.models import Permission, User
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before, after = (
        [("imagevariants", "0003_source_file_field")],
        [("imagevariants", "0004_rename_edgedeployment_publication")],
    )
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    ContentType.objects.clear_cache()
    content_type = ContentType.objects.get(app_label="imagevariants", model="publication")
    content_type.model = "edgedeployment"  # as a database made by the earlier release has it
    content_type.save()
    Permission.objects.filter(content_type=content_type).delete()
    viewer = User.objects.create(username="viewer")
    viewer.user_permissions.add(
        Permission.objects.create(
            content_type=content_type, codename="view_edgedeployment", name="Can view edge deployment"
        )
    )
    executor = MigrationExecutor(connection)
    executor.migrate(after)
    ContentType.objects.clear_cache()
    viewer = User.objects.get(pk=viewer.pk)  # a fresh permission cache
    assert viewer.has_perm("imagevariants.view_publication")
    moved = Permission.objects.get(codename="view_publication")
    assert moved.name == "Can view publication"
    assert not Permission.objects.filter(codename="view_edgedeployment").exists()
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes("imagevariants"))
