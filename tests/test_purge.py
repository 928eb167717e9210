"""``manage.py purge_source``, the takedown path, and the admin action that runs it: a source goes everywhere at once,
found by one paginated listing, deleted and invalidated in batches as the listing goes."""

from __future__ import annotations

import io

import pytest
from botocore.config import Config
from django.contrib.messages import get_messages
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from imagevariants import conf, publishing
from imagevariants.edge.keys import SourceVersion, url_path
from imagevariants.models import SourceImage
from tests import bucket_site
from tests.bucket_site import Site, closed_port, served

pytestmark = pytest.mark.django_db
s3_site = bucket_site.s3_site  # fixture
without_cloudfront_permission = bucket_site.without_cloudfront_permission  # fixture


def purge(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("purge_source", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def fingerprints() -> dict[tuple[str, str | None], str]:
    document = publishing.published_document()
    return {(name, o.spec.format): o.fingerprint for name in document.presets for o in document.outputs(name)}


def row(key: str, sha256: str) -> SourceImage:
    return SourceImage.objects.create(file=key, sha256=sha256, width=80, height=60)


@pytest.fixture
def takedown(s3_site: Site) -> dict[str, set[str]]:
    """Two sources to take down with variants of every kind, and what must stay."""
    fp = fingerprints()
    cat = row("images/cat.jpg", "a" * 64)
    dog = row("images/dog 2.png", "b" * 64)
    row("images/cat.jpg.webp", "c" * 64)  # its name is what a WebP variant of cat.jpg ends with
    row("images/cow.jpg", "d" * 64)
    cat_token, dog_token = (SourceVersion.from_sha256(r.sha256).token for r in (cat, dog))
    gone = {
        f"_v/sm.{fp['sm', None]}.{cat_token}/images/cat.jpg",  # served, this content
        f"_v/sm.{fp['sm', 'webp']}/images/cat.jpg.webp",  # served, no version token
        f"_v/md.{fp['md', 'avif']}.c000000000000/images/cat.jpg.avif",  # an earlier content
        "_v/md.deadbeef/images/cat.jpg",  # a revision the document no longer has
        "_v/md.deadbeef/images/cat.jpg.webp",
        "_v/gone.1234abcd.c111111111111/images/cat.jpg.png",  # a deleted preset, any format
        "_v/gone.1234abcd/images/cat.jpg.gif",
        f"_v/lg.{fp['lg', None]}/images/dog 2.png",
        f"_v/lg.{fp['lg', 'webp']}.{dog_token}/images/dog 2.png.webp",
    }
    kept = {
        "images/cat.jpg.webp",
        f"_v/sm.{fp['sm', None]}/images/cat.jpg.webp",  # cat.jpg.webp's own variant: its revision keeps the format
        "images/cow.jpg",
        f"_v/sm.{fp['sm', None]}/images/cow.jpg",
        "_v/readme.txt",  # not variant keys
        "_v/sm.1234abcd",
        "_v/Big.1234abcd/images/cat.jpg",
        "uploads/_v/sm.1234abcd/images/cat.jpg",  # outside the prefix
    }
    s3_site.put({"images/cat.jpg", "images/dog 2.png"} | gone | kept)
    s3_site.wire.requests.clear()
    return {"gone": gone, "kept": kept}


def test_purge_source_removes_the_originals_and_every_variant_and_invalidates_them(s3_site: Site, takedown):
    out, err = purge("images/cat.jpg", "/images/dog 2.png")

    originals = {"images/cat.jpg", "images/dog 2.png"}
    gone = originals | takedown["gone"]
    assert s3_site.keys() == takedown["kept"]
    assert set(SourceImage.objects.values_list("file", flat=True)) == {"images/cat.jpg.webp", "images/cow.jpg"}
    lines = out.splitlines()
    assert lines[:2] == ["deleted images/cat.jpg", "deleted images/dog 2.png"]
    assert sorted(lines[2:-1]) == sorted(f"deleted {key}" for key in takedown["gone"])
    assert lines[-1] == (
        "Removed 2 original(s) and 9 variant(s); 11 CDN path(s) invalidated in 1 request(s); 2 SourceImage row(s)"
        " deleted."
    )
    assert err == ""
    # One listing of the prefix for both keys, one batch, one invalidation: the rows' own removal did not run.
    assert s3_site.wire.names() == ["HeadObject", "HeadObject", "ListObjectsV2", "DeleteObjects", "CreateInvalidation"]
    [listing] = s3_site.wire.sent("ListObjectsV2")
    assert listing.query["prefix"] == ["_v/"] and listing.query["max-keys"] == ["1000"]
    assert [set(keys) for keys in s3_site.wire.deleted()] == [gone]
    assert [set(paths) for paths in s3_site.wire.invalidated()] == [{f"/{url_path(key)}" for key in gone}]
    assert "/images/dog%202.png" in s3_site.wire.invalidated()[0]


def test_dry_run_only_lists(s3_site: Site, takedown):
    before = s3_site.keys()

    out, _ = purge("--dry-run", "images/cat.jpg", "images/dog 2.png", "images/none.jpg")

    lines = out.splitlines()
    would = {"images/cat.jpg", "images/dog 2.png"} | takedown["gone"]
    assert sorted(lines[:-2]) == sorted(f"would delete {key}" for key in would)
    assert lines[-2:] == [
        "not in storage: images/none.jpg",
        "Would remove 2 original(s) and 9 variant(s) and delete 2 SourceImage row(s); run again without --dry-run to"
        " do it.",
    ]
    assert s3_site.keys() == before and SourceImage.objects.count() == 4
    assert s3_site.wire.names() == ["HeadObject"] * 3 + ["ListObjectsV2"]


def test_purge_streams_the_listing_into_batches_within_the_limits(s3_site: Site):
    cat = [f"_v/p{i:04d}.1234abcd/images/cat.jpg" for i in range(3050)]
    cow = [f"_v/q{i:04d}.1234abcd/images/cow.jpg" for i in range(950)]
    s3_site.put(["images/cat.jpg", *cat, *cow])
    s3_site.wire.requests.clear()

    out, _ = purge("images/cat.jpg")

    assert (
        out.splitlines()[-1]
        == "Removed 1 original(s) and 3050 variant(s); 3051 CDN path(s) invalidated in 2 request(s)."
    )
    assert s3_site.keys() == set(cow)
    # Each page of 1,000 keys is deleted before the next one is asked for: never more than a page and a batch held.
    assert s3_site.wire.names() == [
        "HeadObject",
        *["ListObjectsV2", "DeleteObjects"] * 3,
        "CreateInvalidation",  # 3,000 paths: as many as CloudFront takes in progress
        "ListObjectsV2",
        "DeleteObjects",
        "GetInvalidation",  # the first is finished before the last 51 paths are sent
        "CreateInvalidation",
    ]
    assert [len(keys) for keys in s3_site.wire.deleted()] == [1000, 1000, 1000, 51]
    assert [len(paths) for paths in s3_site.wire.invalidated()] == [3000, 51]


def test_purge_on_the_file_system(presets, source):
    storage = conf.source_storage
    mine = served(source.key, None, SourceVersion.from_sha256(source.sha256)) | {"_v/md.deadbeef/images/photo.jpg"}
    others = served("images/other.jpg", None) | {"images/other.jpg", "_v/notes.txt"}
    for key in mine | others:
        storage.save(key, ContentFile(b"x"))

    out, _ = purge(source.key)

    assert out.splitlines()[-1] == "Removed 1 original(s) and 25 variant(s); 1 SourceImage row(s) deleted."
    assert [key for key in mine | {source.key} if storage.exists(key)] == []
    assert [key for key in others if not storage.exists(key)] == []
    assert not SourceImage.objects.exists()


def test_cloudfront_refusing_is_an_error_that_lists_the_paths(s3_site: Site, without_cloudfront_permission):
    row("images/cat.jpg", "a" * 64)
    variants = {f"_v/sm.{fingerprints()['sm', None]}/images/cat.jpg", "_v/md.deadbeef/images/cat.jpg"}
    s3_site.put({"images/cat.jpg"} | variants)

    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match="the AWS credentials need cloudfront:CreateInvalidation"):
        call_command("purge_source", "images/cat.jpg", stdout=out, stderr=err)

    assert s3_site.keys() == set() and not SourceImage.objects.exists()  # the files are gone all the same
    assert out.getvalue().splitlines()[-1] == (
        "Removed 1 original(s) and 2 variant(s); 0 CDN path(s) invalidated in 0 request(s), 3 not invalidated; 1"
        " SourceImage row(s) deleted."
    )
    assert sorted(err.getvalue().splitlines()) == sorted(
        f"not invalidated /{url_path(key)}" for key in variants | {"images/cat.jpg"}
    )
    assert s3_site.wire.names("DeleteObjects", "CreateInvalidation") == ["DeleteObjects", "CreateInvalidation"]


def test_a_purge_s3_interrupts_can_be_run_again(s3_site: Site, takedown, settings):
    options = settings.STORAGES["s3"]["OPTIONS"]
    down = {
        **options,
        "endpoint_url": f"http://127.0.0.1:{closed_port()}",
        "client_config": Config(connect_timeout=1, retries={"total_max_attempts": 1}),
    }
    settings.STORAGES = {**settings.STORAGES, "s3": {**settings.STORAGES["s3"], "OPTIONS": down}}
    s3_site.listen()

    with pytest.raises(CommandError, match=r"Reading s3://media/images/cat.jpg failed: AWS call failed: Could not"):
        purge("images/cat.jpg")
    assert s3_site.wire.names() == ["HeadObject"]
    assert SourceImage.objects.count() == 3  # the rows are gone; the files wait for a second run

    settings.STORAGES = {**settings.STORAGES, "s3": {**settings.STORAGES["s3"], "OPTIONS": options}}
    out, _ = purge("images/cat.jpg")
    assert out.splitlines()[-1] == "Removed 1 original(s) and 7 variant(s); 8 CDN path(s) invalidated in 1 request(s)."


def test_purge_refuses_variant_keys_and_hostile_keys(s3_site: Site):
    with pytest.raises(CommandError, match="is under the variant prefix _v/: give the key of its source"):
        purge("_v/sm.1234abcd/images/cat.jpg")
    with pytest.raises(CommandError, match="is not a storage key: dot segment"):
        purge("images/../secrets.txt")
    assert s3_site.wire.names() == []


def test_admin_action_confirms_then_purges(s3_site: Site, takedown, admin_client):
    changelist = reverse("admin:imagevariants_sourceimage_changelist")
    selected = list(
        SourceImage.objects.filter(file__in=["images/cat.jpg", "images/dog 2.png"]).values_list("pk", flat=True)
    )
    form = {"action": "purge_selected", "_selected_action": selected}

    page = admin_client.post(changelist, form)

    html = page.content.decode()
    assert page.status_code == 200 and "Remove 2 sources everywhere?" in html and "2 source image rows" in html
    assert "<code>images/cat.jpg</code>" in html and "<code>images/dog 2.png</code>" in html
    assert s3_site.wire.names("DeleteObjects", "CreateInvalidation") == [] and SourceImage.objects.count() == 4

    done = admin_client.post(changelist, {**form, "post": "yes"})

    assert done.status_code == 302
    assert s3_site.keys() == takedown["kept"] and SourceImage.objects.count() == 2
    assert [str(m) for m in get_messages(done.wsgi_request)] == [
        "Removed 2 original(s) and 9 variant(s); 11 CDN path(s) invalidated in 1 request(s); 2 SourceImage row(s)"
        " deleted."
    ]
    assert s3_site.wire.names("ListObjectsV2", "DeleteObjects", "CreateInvalidation") == [
        "ListObjectsV2",
        "DeleteObjects",
        "CreateInvalidation",
    ]


def test_admin_action_needs_the_delete_permission(s3_site: Site, takedown, client, admin_client):
    from django.contrib.auth.models import Permission, User

    changelist = reverse("admin:imagevariants_sourceimage_changelist")
    assert '<option value="purge_selected">' in admin_client.get(changelist).content.decode()
    user = User.objects.create_user("editor", password="pw", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_sourceimage", "change_sourceimage"]))
    client.force_login(user)
    assert "purge_selected" not in client.get(changelist).content.decode()
    client.post(
        changelist, {"action": "purge_selected", "_selected_action": [SourceImage.objects.first().pk], "post": "yes"}
    )
    assert SourceImage.objects.count() == 4 and s3_site.wire.names("DeleteObjects") == []


def test_admin_action_reports_a_refusal_and_logs_the_paths(
    s3_site: Site, admin_client, without_cloudfront_permission, caplog
):
    cat = row("images/cat.jpg", "a" * 64)
    variant = f"_v/sm.{fingerprints()['sm', None]}/images/cat.jpg"
    s3_site.put({"images/cat.jpg", variant})
    changelist = reverse("admin:imagevariants_sourceimage_changelist")

    done = admin_client.post(changelist, {"action": "purge_selected", "_selected_action": [cat.pk], "post": "yes"})

    assert done.status_code == 302 and s3_site.keys() == set() and not SourceImage.objects.exists()
    [message] = get_messages(done.wsgi_request)
    assert message.level_tag == "error" and str(message).startswith(
        "Removed 1 original(s) and 1 variant(s); 0 CDN path(s) invalidated in 0 request(s), 2 not invalidated;"
    )
    assert "the AWS credentials need cloudfront:CreateInvalidation" in str(message)
    [logged] = [r.getMessage() for r in caplog.records if r.name == "imagevariants.admin"]
    assert logged.endswith(f"Paths not invalidated: /images/cat.jpg /{variant}")
