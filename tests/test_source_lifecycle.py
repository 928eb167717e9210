"""A source image's files follow its row: deleting it, or replacing its file, removes what the old file left in
storage and in the CDN, once the transaction commits, and a failure there never costs the editor the change."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from botocore.config import Config
from django.contrib.messages import get_messages
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.urls import reverse

from imagevariants import conf, publishing
from imagevariants.edge.keys import SourceVersion, url_path
from imagevariants.models import SourceImage
from imagevariants.variants import variant_url
from tests import bucket_site, images
from tests.bucket_site import Site, closed_port, publish, served

pytestmark = pytest.mark.django_db
s3_site = bucket_site.s3_site  # fixture
without_cloudfront_permission = bucket_site.without_cloudfront_permission  # fixture


class Rollback(Exception):
    pass


def paths(keys: set[str]) -> set[str]:
    return {f"/{url_path(key)}" for key in keys}


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.mark.django_db(transaction=True)
def test_deleting_a_source_removes_its_original_and_every_served_variant_and_invalidates_them(
    s3_site: Site, presets, admin_client
):
    presets["md"].width = 300
    presets["md"].save()
    publish()  # md's first revision is still served: cached pages name it
    assert sum(len(p.revisions) for p in publishing.published_document().presets.values()) == 15
    key, sha = "images/été 1.jpg", "a" * 64
    source = SourceImage.objects.create(file=key, sha256=sha, width=80, height=60)
    other = SourceImage.objects.create(file="images/other.jpg", sha256="b" * 64, width=80, height=60)
    version = SourceVersion.from_sha256(sha)
    gone = {key} | served(key, None, version)
    kept = {
        other.key,
        *served(other.key, None, SourceVersion.from_sha256(other.sha256)),
        f"_v/md.deadbeef.{version.token}/{key}",  # a revision no longer served: purge_source's job
        f"_v/sm.{presets['sm'].fingerprint}.c000000000000/{key}",  # another content: not this row's
    }
    s3_site.put(gone | kept)
    emitted = {urlsplit(variant_url(source, name, fmt)).path for name in presets for fmt in (None, "avif", "webp")}
    s3_site.wire.requests.clear()

    response = admin_client.post(reverse("admin:imagevariants_sourceimage_delete", args=[source.pk]), {"post": "yes"})

    assert response.status_code == 302 and not SourceImage.objects.filter(file=key).exists()
    assert s3_site.keys() == kept
    assert s3_site.wire.names() == ["DeleteObjects", "CreateInvalidation"]  # no listing: the keys are computed
    assert [set(keys) for keys in s3_site.wire.deleted()] == [gone] and len(gone) == 31
    assert [set(sent) for sent in s3_site.wire.invalidated()] == [paths(gone)]
    assert emitted <= paths(gone) and "/images/%C3%A9t%C3%A9%201.jpg" in paths(gone)  # as the tags encode them
    assert sorted(messages_of(response)) == [
        "Old files of images/été 1.jpg: Removed 1 original(s) and 30 variant(s); 31 CDN path(s) invalidated in 1"
        " request(s).",
        "The source image “images/été 1.jpg” was deleted successfully.",
    ]


@pytest.mark.django_db(transaction=True)
def test_replacing_the_file_at_its_name_removes_the_old_versions_variants(s3_site: Site, admin_client):
    source = s3_site.source("photo.jpg", images.jpeg(80, 60))
    old = served(source.key, None, SourceVersion.from_sha256(source.sha256))
    s3_site.put(old)
    s3_site.wire.requests.clear()
    new = images.jpeg(60, 80)
    change = reverse("admin:imagevariants_sourceimage_change", args=[source.pk])

    response = admin_client.post(change, {"file": SimpleUploadedFile("photo.jpg", new), "alt": ""})

    assert response.status_code == 302
    source.refresh_from_db()
    assert source.key == "images/photo.jpg" and SourceVersion.from_sha256(source.sha256).matches(new)
    assert s3_site.keys() == {"images/photo.jpg"}  # S3Storage overwrote the name in place
    assert s3_site.s3.get_object(Bucket="media", Key="images/photo.jpg")["Body"].read() == new
    assert [set(keys) for keys in s3_site.wire.deleted()] == [old] and len(old) == 24  # not the new original
    assert [set(sent) for sent in s3_site.wire.invalidated()] == [paths(old | {source.key})]  # its URL: new bytes
    assert (
        "Old files of images/photo.jpg: Removed 0 original(s) and 24 variant(s); 25 CDN path(s) invalidated in 1"
        " request(s)."
    ) in messages_of(response)

    s3_site.wire.requests.clear()
    admin_client.post(change, {"alt": "A cat"})
    assert SourceImage.objects.get().alt == "A cat"
    assert s3_site.wire.names("DeleteObjects", "CreateInvalidation") == []  # the file did not change


def test_replacing_the_file_under_a_new_name_removes_the_old_original_and_its_variants(
    presets, source, django_capture_on_commit_callbacks
):
    storage = conf.source_storage
    old_key = source.key
    old = served(old_key, None, SourceVersion.from_sha256(source.sha256))
    unrelated = next(iter(served("images/other.jpg", None)))
    for key in old | {unrelated}:
        storage.save(key, ContentFile(b"x"))

    with django_capture_on_commit_callbacks(execute=True):
        source.file = ContentFile(images.jpeg(60, 80), name="photo.jpg")  # as a form assigns an upload
        source.save()  # the file system picks a new name

    assert source.key != old_key and storage.exists(source.key)
    assert [key for key in old | {old_key} if storage.exists(key)] == []
    assert storage.exists(unrelated)


def test_a_rolled_back_delete_loses_nothing(presets, source, django_capture_on_commit_callbacks):
    storage = conf.source_storage
    other = SourceImage.objects.create(file="images/other.jpg", sha256="b" * 64, width=10, height=10)
    mine = {source.key} | served(source.key, None, SourceVersion.from_sha256(source.sha256))
    others = {other.key} | served(other.key, None, SourceVersion.from_sha256(other.sha256))
    for key in (mine | others) - {source.key}:
        storage.save(key, ContentFile(b"x"))
    pk = source.pk

    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            other.delete()  # committed
            try:
                with transaction.atomic():
                    source.delete()
                    raise Rollback
            except Rollback:
                pass

    assert SourceImage.objects.filter(pk=pk).exists()
    assert [key for key in mine if not storage.exists(key)] == []
    assert [key for key in others if storage.exists(key)] == []


def test_a_file_another_row_still_uses_is_kept(presets, source, django_capture_on_commit_callbacks):
    storage = conf.source_storage
    twin = SourceImage.objects.create(file=source.key, sha256="b" * 64, width=800, height=600)
    mine = served(source.key, SourceVersion.from_sha256(source.sha256))
    shared = served(source.key, None) | served(source.key, SourceVersion.from_sha256(twin.sha256))
    for key in mine | shared:
        storage.save(key, ContentFile(b"x"))

    with django_capture_on_commit_callbacks(execute=True):
        source.delete()

    assert storage.exists(twin.key)
    assert [key for key in shared if not storage.exists(key)] == []
    assert [key for key in mine if storage.exists(key)] == []


def test_deleting_many_sources_at_once_batches_deletions_and_invalidations(
    s3_site: Site, django_capture_on_commit_callbacks
):
    rows = SourceImage.objects.bulk_create(
        SourceImage(file=f"images/p{i:03d}.jpg", sha256=f"{i:064x}", width=10, height=10) for i in range(130)
    )
    gone = set().union(
        *({row.file.name} | served(row.file.name, None, SourceVersion.from_sha256(row.sha256)) for row in rows)
    )
    s3_site.put(gone)

    with django_capture_on_commit_callbacks(execute=True):
        SourceImage.objects.filter(file__startswith="images/p").delete()

    assert s3_site.keys() == set()
    assert s3_site.wire.names() == [
        *["DeleteObjects"] * 3,
        "CreateInvalidation",  # 3,000 paths: CloudFront's limit in progress
        "DeleteObjects",
        "GetInvalidation",  # the first must be finished before the last 250 paths fit
        "CreateInvalidation",
    ]
    assert [len(keys) for keys in s3_site.wire.deleted()] == [1000, 1000, 1000, 250]
    assert set().union(*map(set, s3_site.wire.deleted())) == gone
    assert [len(sent) for sent in s3_site.wire.invalidated()] == [3000, 250]


@pytest.mark.django_db(transaction=True)
def test_storage_down_is_reported_and_the_delete_kept(s3_site: Site, settings, admin_client, caplog):
    source = s3_site.source("photo.jpg")
    options = {
        **settings.STORAGES["s3"]["OPTIONS"],
        "endpoint_url": f"http://127.0.0.1:{closed_port()}",  # S3 does not answer
        "client_config": Config(connect_timeout=1, retries={"total_max_attempts": 1}),
    }
    settings.STORAGES = {**settings.STORAGES, "s3": {**settings.STORAGES["s3"], "OPTIONS": options}}
    s3_site.listen()
    s3_site.wire.requests.clear()

    response = admin_client.post(reverse("admin:imagevariants_sourceimage_delete", args=[source.pk]), {"post": "yes"})

    assert response.status_code == 302 and not SourceImage.objects.exists()
    assert s3_site.wire.names() == ["DeleteObjects"]  # nothing deleted, so nothing to invalidate
    assert len(s3_site.wire.deleted()[0]) == 25
    assert "images/photo.jpg" in s3_site.keys()  # still there, as the message says
    [message] = [text for text in messages_of(response) if "not all removed" in text]
    assert message.startswith("The change is saved, but the old files of images/photo.jpg were not all removed:")
    assert "Deleting 25 key(s) from s3://media failed: AWS call failed: Could not connect" in message
    assert "purge_source" in message
    assert [r.levelname for r in caplog.records if r.name == "imagevariants.purge"] == ["ERROR"]


@pytest.mark.django_db(transaction=True)
def test_no_cloudfront_permission_is_reported_and_the_files_still_go(
    s3_site: Site, admin_client, without_cloudfront_permission, caplog
):
    source = SourceImage.objects.create(file="images/photo.jpg", sha256="a" * 64, width=10, height=10)
    gone = {source.key} | served(source.key, None, SourceVersion.from_sha256(source.sha256))
    s3_site.put(gone)
    s3_site.wire.requests.clear()

    response = admin_client.post(reverse("admin:imagevariants_sourceimage_delete", args=[source.pk]), {"post": "yes"})

    assert response.status_code == 302 and not SourceImage.objects.exists()
    assert s3_site.keys() == set()
    assert s3_site.wire.names() == ["DeleteObjects", "CreateInvalidation"]
    assert [set(sent) for sent in s3_site.wire.invalidated()] == [paths(gone)]
    [message] = [text for text in messages_of(response) if "not all removed" in text]
    assert "Invalidating 25 path(s) of CloudFront distribution" in message
    assert "the AWS credentials need cloudfront:CreateInvalidation" in message
    logged = [r.getMessage() for r in caplog.records if r.name == "imagevariants.purge"]
    assert len(logged) == 1 and all(path in logged[0] for path in paths(gone))  # to invalidate by hand


def test_a_file_saved_through_the_field_file_is_read_so_its_urls_change(
    presets, source, django_capture_on_commit_callbacks
):
    """``source.file.save(name, content)`` (code, not a form) replaces the bytes at the same name: the row
    describes the new bytes, the tags emit new URLs, and the old version's variants are removed."""
    storage = conf.source_storage
    old_url = variant_url(source, "md")
    old = served(source.key, None, SourceVersion.from_sha256(source.sha256))
    for key in old:
        storage.save(key, ContentFile(b"x"))
    new = images.jpeg(300, 400)
    storage.delete(source.key)  # the name stays the same, as with S3Storage's overwrite

    with django_capture_on_commit_callbacks(execute=True):
        source.file.save("photo.jpg", ContentFile(new))

    source.refresh_from_db()
    assert source.key == "images/photo.jpg" and SourceVersion.from_sha256(source.sha256).matches(new)
    assert (source.width, source.height, source.bytes) == (300, 400, len(new))
    assert variant_url(source, "md") != old_url
    assert [key for key in old if storage.exists(key)] == []


def test_an_image_fields_old_variants_go_and_its_original_stays_as_django_leaves_it(
    presets, django_capture_on_commit_callbacks
):
    """A VariantImageField replaced at the same name, then its row deleted: the variants of each old version are
    removed once the transaction commits; the original file stays (Django never deletes a file field's files)."""
    from tests.testapp.models import Photo

    storage = conf.source_storage
    photo = Photo()
    with django_capture_on_commit_callbacks(execute=True):
        photo.image.save("own.jpg", ContentFile(images.jpeg(80, 60)))
    first = served(photo.image.name, None, SourceVersion.from_sha256(photo.sha256))
    for key in first:
        storage.save(key, ContentFile(b"x"))

    storage.delete(photo.image.name)  # the new file takes the same name, as with S3Storage's overwrite
    with django_capture_on_commit_callbacks(execute=True):
        photo.image.save("own.jpg", ContentFile(images.jpeg(60, 80)))
    assert photo.image.name == "images/own.jpg"
    assert [key for key in first if storage.exists(key)] == []
    second = served(photo.image.name, SourceVersion.from_sha256(photo.sha256))
    for key in second:
        storage.save(key, ContentFile(b"x"))

    with django_capture_on_commit_callbacks(execute=True):
        photo.title = "renamed"
        photo.save()  # the file did not change: nothing removed
    assert all(storage.exists(key) for key in second)
    with django_capture_on_commit_callbacks(execute=True):
        photo.delete()
    assert [key for key in second if storage.exists(key)] == []
    assert storage.exists("images/own.jpg")
