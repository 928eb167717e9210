"""VariantImageField: the upright size and the content version of a project's own images, recorded on save.

Loading and rendering read nothing; replacing a file on S3 gives new URLs; an upload the edge would refuse is
refused with the edge's reason; a plain ImageField gives the tags no size; the checks fire; migrations are clean.
"""

from __future__ import annotations

import hashlib
import re
from html import unescape
from pathlib import Path
from typing import Any

import boto3
import pytest
from django.core import checks
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, storages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection, models
from django.db.migrations.loader import MigrationLoader
from django.forms import modelform_factory
from django.template import Context, Template
from django.test.utils import CaptureQueriesContext, isolate_apps

from imagevariants import conf, publishing
from imagevariants.fields import VariantImageField, source_storage
from imagevariants.validators import MAX_NAME_BYTES
from tests import images
from tests.edge import hostile
from tests.testapp.models import Photo, PlainPhoto

pytestmark = pytest.mark.django_db
BUCKET = "site-media"
#: A phone photo: stored 1200x900, shown 900x1200 (EXIF orientation 6).
PHONE = images.jpeg(1200, 900, orientation=6)
PICTURE = Template(
    '{% load imagevariants %}{% for p in photos %}{% picture p.image "sm md lg xl" alt="" %}{% endfor %}'
)


def picture(*photos: Any) -> str:
    return PICTURE.render(Context({"photos": photos}))


def img_size(html: str) -> tuple[str | None, str | None]:
    img = re.search(r"<img [^>]+>", html).group(0)
    width, height = re.search(r' width="(\d+)"', img), re.search(r' height="(\d+)"', img)
    return (width and width.group(1)), (height and height.group(1))


def urls(html: str) -> list[str]:
    return re.findall(r"/variants/_v/[^\" ,]+", unescape(html))


def descriptors(html: str) -> list[str]:
    srcset = re.search(r'<img [^>]*srcset="([^"]+)"', html).group(1)
    return [entry.rsplit(" ", 1)[1] for entry in unescape(srcset).split(", ")]


def body(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.fixture
def s3(aws, settings, request) -> list[str]:
    """The sources' storage is a bucket through django-storages (overwriting files of the same name), the presets
    are published for it, and every S3 call of this process is recorded."""
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
    settings.STORAGES = {
        **settings.STORAGES,
        "media": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {"bucket_name": BUCKET, "file_overwrite": True},
        },
    }
    settings.IMAGEVARIANTS = {"STORAGE": "media"}
    request.getfixturevalue("presets")
    calls: list[str] = []

    def before_call(model: Any, **kwargs: Any) -> None:
        calls.append(model.name)

    storages["media"].connection.meta.client.meta.events.register("before-call.s3", before_call)
    return calls


def test_a_phone_photo_gets_its_upright_size_in_the_fields_and_the_markup(client, presets):
    photo = Photo.objects.create(image=ContentFile(PHONE, name="phone.jpg"))  # assigned, stored on save
    saved = Photo()
    saved.image.save("phone.jpg", ContentFile(PHONE))  # stored through the file
    for recorded in (photo, saved, Photo.objects.get(pk=photo.pk)):  # the recorded fields come first in the model
        assert (recorded.width, recorded.height) == (900, 1200)
        assert recorded.sha256 == hashlib.sha256(PHONE).hexdigest()

    html = picture(photo)
    assert img_size(html) == ("900", "1200")
    assert descriptors(html) == ["100w", "250w", "700w", "900w"]  # the xl preset (1200) gives the source's width
    assert all(f".c{photo.sha256[:12]}/{photo.image.name}" in url for url in urls(html))
    largest = re.search(r'<img src="([^"]+)"', html).group(1)
    response = client.get(largest)
    assert response.status_code == 200
    assert images.decode(body(response)).size == (900, 1200)  # what the markup says


def test_replacing_the_file_on_s3_changes_the_urls(client, s3):
    first, second = images.jpeg(800, 600, "#3366cc"), images.jpeg(800, 600, "#cc3333")
    photo = Photo()
    photo.image.save("cat.jpg", ContentFile(first))
    before = picture(photo)
    photo.image.save("cat.jpg", ContentFile(second))  # the same key, overwritten
    assert photo.image.name == "images/cat.jpg" and photo.sha256 == hashlib.sha256(second).hexdigest()
    with storages["media"].open("images/cat.jpg") as stored:
        assert stored.read() == second
    after = picture(Photo.objects.get(pk=photo.pk))

    assert after == picture(photo) and img_size(after) == img_size(before) == ("800", "600")
    old, new = urls(before), urls(after)
    assert len(set(new)) == len(set(old)) == 12 and not set(old) & set(new)
    assert all(f".c{photo.sha256[:12]}/images/cat.jpg" in url for url in new)
    for url in {new[0], old[0]}:  # the edge makes a variant only of the bytes its key names
        response = client.get(url)
        assert response.status_code == (200 if url in new else 404), url


HOSTILE = {
    "html as jpg": (b"<html><script>alert(1)</script></html>", "not a decodable image: none of JPEG, PNG"),
    "truncated jpeg": (images.jpeg(800, 600)[:300], "not a decodable image: OSError: Truncated File Read"),
    "2,000 frames": (hostile.gif_frames(2000), "source has more than 1000 frames, over the limit max_frames=1000"),
    "over MAX_SOURCE_BYTES": (images.jpeg(800, 600), "source is 5001 bytes, over the limit of 5000"),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_an_upload_the_edge_would_refuse_is_refused_with_its_reason(settings, name):
    if name == "over MAX_SOURCE_BYTES":
        settings.IMAGEVARIANTS = {"MAX_SOURCE_BYTES": 5_000}
    data, reason = HOSTILE[name]
    storage = storages["default"]

    form = modelform_factory(Photo, fields=["title", "image"])(
        {"title": "x"}, {"image": SimpleUploadedFile("upload.jpg", data, content_type="image/jpeg")}
    )
    assert not form.is_valid()
    assert len(form.errors["image"]) == 1 and reason in form.errors["image"][0], form.errors

    photo = Photo(image=ContentFile(data, name="upload.jpg"))  # a form of one's own: the model's validation
    with pytest.raises(ValidationError) as cleaned:
        photo.full_clean()
    assert list(cleaned.value.message_dict) == ["image"] and reason in cleaned.value.message_dict["image"][0]
    with pytest.raises(ValidationError) as saved:
        Photo().image.save("upload.jpg", ContentFile(data))  # in code
    assert reason in saved.value.message_dict["image"][0]

    assert Photo.objects.count() == 0
    assert not storage.exists("images")  # nothing stored


def test_loading_and_rendering_make_no_storage_call_and_one_query(s3):
    for i in range(5):
        Photo().image.save(f"photo-{i}.jpg", ContentFile(images.jpeg(640 + i, 480)))
    storages["media"].save("images/legacy.jpg", ContentFile(PHONE))
    Photo.objects.bulk_create([Photo(image="images/legacy.jpg")])  # recorded before the field existed: empty fields
    Photo.objects.filter(image="images/legacy.jpg").update(width=None, height=None, sha256="")
    publishing.forget()
    s3.clear()

    with CaptureQueriesContext(connection) as loading:
        photos = list(Photo.objects.order_by("pk"))
    with CaptureQueriesContext(connection) as cold:
        html = picture(*photos)
    with CaptureQueriesContext(connection) as warm:
        again = picture(*photos)

    assert s3 == []
    assert len(loading.captured_queries) == 1
    assert len(cold.captured_queries) == 1, cold.captured_queries  # the published presets, once per process
    assert len(warm.captured_queries) == 0 and again == html
    pictures = html.split("</picture>")[:-1]
    assert [img_size(p) for p in pictures] == [(str(640 + i), "480") for i in range(5)] + [(None, None)]
    assert "/_v/md." in pictures[-1] and ".c" not in pictures[-1].split("images/legacy.jpg")[0][-20:]


def test_the_recorder_sees_a_read_django_s_own_image_field_makes_on_load(s3):
    """The S3 calls above are really recorded: Django's ImageField reads a file on load when its width is empty."""
    storages["media"].save("images/plain.jpg", ContentFile(PHONE))
    PlainPhoto.objects.bulk_create([PlainPhoto(image="images/plain.jpg")])  # read already, to fill its width
    PlainPhoto.objects.update(width=None, height=None)
    s3.clear()
    plain = PlainPhoto.objects.get()
    assert "GetObject" in s3, s3
    assert (plain.width, plain.height) == (1200, 900)  # the stored size, not the upright one


def test_a_plain_image_field_gives_the_tags_no_size(presets):
    plain = PlainPhoto()
    plain.image.save("phone.jpg", ContentFile(PHONE, name="phone.jpg"))
    assert (plain.width, plain.height) == (1200, 900)  # Django's fields hold the stored size: wrong when shown
    html = picture(plain)
    assert img_size(html) == (None, None)
    assert descriptors(html) == ["100w", "250w", "700w", "1200w"]  # the presets' widths
    assert all(re.search(r"/_v/\w+\.[0-9a-f]{8}/images/phone\.jpg", url) for url in urls(html))  # no version


def test_a_source_images_own_file_gives_what_the_source_image_gives(presets, source):
    template = Template(
        '{% load imagevariants %}{% picture s "sm md lg xl" alt="" %}|{% picture s.file "sm md lg xl" alt="" %}'
    )
    of_source, of_file = template.render(Context({"s": source})).split("|")
    assert of_file == of_source
    assert img_size(of_file) == ("800", "600") and f".c{source.sha256[:12]}/images/photo.jpg" in of_file


def test_a_stored_file_named_or_recorded_before_the_field_is_read_once_on_save(presets, monkeypatch):
    """The guide's data migration: a row saved by a plain ImageField (its stored, sideways size, no version) gives
    the tags nothing until saved again, which reads its file once; assigning another stored file does the same."""
    storage = storages["default"]
    storage.save("images/legacy.jpg", ContentFile(PHONE))
    storage.save("images/other.jpg", ContentFile(images.jpeg(300, 200)))
    Photo.objects.bulk_create([Photo(image="images/legacy.jpg", width=1200, height=900)])
    legacy = picture(Photo.objects.get())
    assert img_size(legacy) == (None, None) and all(re.search(r"\.[0-9a-f]{8}/images/", url) for url in urls(legacy))
    opened: list[str] = []
    real_open = FileSystemStorage.open
    monkeypatch.setattr(
        FileSystemStorage, "open", lambda self, name, *a: opened.append(name) or real_open(self, name, *a)
    )

    historical = MigrationLoader(connection).project_state().apps.get_model("testapp", "Photo")
    for row in historical.objects.exclude(image="").filter(sha256="").iterator(chunk_size=100):
        row.save(update_fields=["image", "width", "height", "sha256"])
    photo = Photo.objects.get()
    assert (photo.width, photo.height, photo.sha256) == (900, 1200, hashlib.sha256(PHONE).hexdigest())
    assert opened == ["images/legacy.jpg"]
    assert img_size(picture(photo)) == ("900", "1200")
    photo.title = "edited"
    photo.save()
    assert opened == ["images/legacy.jpg"]  # recorded: nothing read again

    photo.image = "images/other.jpg"  # another stored file: what was recorded is forgotten at once
    assert (photo.width, photo.height, photo.sha256) == (None, None, "")
    photo.save()
    assert opened == ["images/legacy.jpg", "images/other.jpg"]
    assert (photo.width, photo.height) == (300, 200)

    photo.image.delete(save=False)
    assert (photo.width, photo.height, photo.sha256) == (None, None, "")
    photo.image = "images/legacy.jpg"  # named after a delete: recorded anew too
    photo.save()
    assert opened == ["images/legacy.jpg", "images/other.jpg", "images/legacy.jpg"]
    assert (photo.width, photo.height) == (900, 1200) and not storage.exists("images/other.jpg")


def test_a_long_name_is_cut_so_that_every_variant_can_be_stored(presets):
    photo = Photo()
    photo.image.save("é" * 130 + ".jpg", ContentFile(images.jpeg(40, 30)))
    name = photo.image.name.rpartition("/")[2]
    assert name.endswith(".jpg") and len(name.encode()) <= MAX_NAME_BYTES < len(("é" * 130 + ".jpg").encode())


def ids(messages: list[checks.CheckMessage]) -> list[str]:
    return sorted(m.id for m in messages if m.id.startswith("imagevariants."))


@isolate_apps("tests.testapp")
def test_the_checks(settings, tmp_path):
    class Good(models.Model):  # noqa: DJ008
        image = VariantImageField(width_field="w", height_field="h", version_field="v")
        dated = VariantImageField(upload_to="images/%Y/")
        w = models.PositiveIntegerField(null=True)
        h = models.PositiveIntegerField(null=True)
        v = models.CharField(max_length=64, blank=True)

        class Meta:
            app_label = "testapp"

    class Missing(models.Model):  # noqa: DJ008
        image = VariantImageField(width_field="w", height_field="height", version_field="sha")
        w = models.PositiveIntegerField(null=True)

        class Meta:
            app_label = "testapp"

    class WrongTypes(models.Model):  # noqa: DJ008
        image = VariantImageField(width_field="w", version_field="v")
        w = models.CharField(max_length=10)
        v = models.CharField(max_length=12)

        class Meta:
            app_label = "testapp"

    class Elsewhere(models.Model):  # noqa: DJ008
        image = VariantImageField(upload_to="private/")
        other_storage = VariantImageField(storage=FileSystemStorage(location=tmp_path))

        class Meta:
            app_label = "testapp"

    assert ids(Good.check()) == []
    assert ids(Missing.check()) == ["imagevariants.E011", "imagevariants.E011"]
    assert ids(WrongTypes.check()) == ["imagevariants.E012", "imagevariants.E012"]
    assert ids(Elsewhere.check()) == ["imagevariants.E013", "imagevariants.W004"]
    settings.IMAGEVARIANTS = {"SOURCE_PREFIXES": ["private/"]}
    assert ids(Elsewhere.check()) == ["imagevariants.W004"]
    documented = (Path(__file__).parents[1] / "docs" / "reference" / "checks.md").read_text()
    assert all(f"`{id}`" in documented for id in ("imagevariants.E011", "imagevariants.E012", "imagevariants.E013"))
    assert "`imagevariants.W004`" in documented


def test_migrations_serialise_the_field_cleanly():
    # No changes (the demo's Article, with the example project's settings: tests/example_project/test_demo.py).
    call_command("makemigrations", "testapp", check=True, dry_run=True, verbosity=0)
    field = Photo._meta.get_field("image")
    name, path, args, kwargs = field.deconstruct()
    assert path == "imagevariants.fields.VariantImageField"
    assert kwargs == {"blank": True, "width_field": "width", "height_field": "height", "version_field": "sha256"}
    rebuilt = VariantImageField(*args, **kwargs)
    assert (rebuilt.upload_to, rebuilt.max_length, rebuilt.storage) == (field.upload_to, 500, conf.source_storage)

    custom = VariantImageField(upload_to="uploads/", max_length=100, storage=source_storage)
    assert custom.deconstruct()[3] == {"upload_to": "uploads/", "max_length": 100}
    assert VariantImageField(**custom.deconstruct()[3]).deconstruct() == custom.deconstruct()
