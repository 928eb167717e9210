"""prune_variants removes the variants of revisions no longer served (warm_variants: tests/test_warming.py)."""

from __future__ import annotations

import io

import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command

from imagevariants import conf, publishing
from imagevariants.edge.presets import Document
from imagevariants.edge.spec import Spec
from imagevariants.models import Publication, SourceImage
from tests import bucket_site, images

pytestmark = pytest.mark.django_db
s3_site = bucket_site.s3_site  # fixture


def run(name: str, *args: str) -> str:
    out = io.StringIO()
    call_command(name, *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def variant_keys(source: SourceImage) -> list[str]:
    document = publishing.published_document()
    return [o.key(source.key, document.prefix) for name in document.presets for o in document.outputs(name)]


def test_prune_removes_only_revisions_no_longer_served(presets, source, settings, django_capture_on_commit_callbacks):
    run("warm_variants")
    old_md = presets["md"].fingerprint
    settings.IMAGEVARIANTS = {"REVISIONS_KEEP_DAYS": 0}  # superseded revisions stop being served at once
    with django_capture_on_commit_callbacks(execute=True):
        presets["md"].width = 300
        presets["md"].save()
        presets["xl"].delete()
    document = publishing.published_document()
    assert old_md not in document.presets["md"].revisions and "xl" not in document.presets

    listed = run("prune_variants")
    assert "Would delete (run again with --yes): 6 variant(s)" in listed  # md's and xl's 3 outputs each
    version = f"c{source.sha256[:12]}"  # warming makes the versioned variants the tags emit
    assert conf.source_storage.exists(f"_v/md.{old_md}.{version}/images/photo.jpg")
    run("prune_variants", "--yes")
    assert not conf.source_storage.exists(f"_v/md.{old_md}.{version}/images/photo.jpg")
    assert conf.source_storage.exists(f"_v/sm.{presets['sm'].fingerprint}.{version}/images/photo.jpg")
    assert conf.source_storage.exists("images/photo.jpg")  # originals are never touched
    assert "Deleted: 0 variant(s)" in run("prune_variants", "--yes")


def test_superseded_revisions_stay_served_within_the_window(presets, django_capture_on_commit_callbacks):
    old_md = presets["md"].fingerprint
    with django_capture_on_commit_callbacks(execute=True):
        presets["md"].width = 300
        presets["md"].save()
    with django_capture_on_commit_callbacks(execute=True):
        presets["md"].width = 320
        presets["md"].save()
    revisions = publishing.published_document().presets["md"].revisions
    assert old_md in revisions and len(revisions) == 3 * 3


def test_prune_deletes_only_variant_keys_beside_originals_and_stray_files(db, settings):
    # A prefix shared with the uploads (the system checks refuse it, E009): a document published with prefix
    # "media/" while the site uploads to "media/originals/".
    settings.IMAGEVARIANTS = {"VARIANT_PREFIX": "media/", "UPLOAD_TO": "media/originals/"}
    sm = Spec(100)
    document = Document.build({"sm": [sm]}, prefix="media/", sources=["images/"])
    publishing.record(document, Publication.Target.LOCAL, status=Publication.Status.SUCCEEDED)
    storage = conf.source_storage
    kept = [
        "media/originals/photo.jpg",  # originals under the variant prefix
        "media/originals/2024/sm.1234abcd.jpg",
        "media/readme.txt",  # stray files that are not variant keys
        "media/notes/plan.txt",
        "media/Big.1234abcd/x.jpg",  # not a preset name
        "media/sm.1234abc/x.jpg",  # not a fingerprint
        "media/sm/x.jpg",
        f"media/sm.{sm.fingerprint}/media/originals/photo.jpg",  # a served variant
        "images/old.1234abcd/x.jpg",  # outside the prefix
        "old.1234abcd/media/x.jpg",
    ]
    stale = [
        "media/old.1234abcd/media/originals/photo.jpg",  # a preset no longer published
        "media/old.1234abcd/images/a.jpg.webp",
        "media/sm.deadbeef/media/originals/photo.jpg",  # a revision no longer served
    ]
    for key in kept + stale:
        storage.save(key, ContentFile(images.jpeg(20, 10)))

    listed = run("prune_variants")
    assert sorted(line.removeprefix("stale ") for line in listed.splitlines()[:-1]) == sorted(stale)
    assert "Deleted: 3 variant(s)" in run("prune_variants", "--yes")
    assert [key for key in kept if not storage.exists(key)] == []
    assert [key for key in stale if storage.exists(key)] == []


def test_prune_on_s3_lists_once_and_deletes_in_batches_as_it_goes(s3_site: bucket_site.Site):
    served = publishing.published_document().outputs("sm")[0].fingerprint
    stale = [f"_v/old.1234abcd/images/p{i:04d}.jpg" for i in range(2500)]
    kept = [f"_v/sm.{served}/images/p{i:04d}.jpg" for i in range(600)] + ["_v/readme.txt", "images/p0000.jpg"]
    s3_site.put(stale + kept)
    s3_site.wire.requests.clear()

    listed = run("prune_variants")
    assert (
        listed.splitlines()[-1]
        == "Would delete (run again with --yes): 2500 variant(s) of revisions no longer published."
    )
    assert s3_site.wire.names() == ["ListObjectsV2"] * 4  # 3,101 keys under the prefix, 1,000 a page
    s3_site.wire.requests.clear()

    assert (
        run("prune_variants", "--yes").splitlines()[-1] == "Deleted: 2500 variant(s) of revisions no longer published."
    )
    assert s3_site.keys() == set(kept)
    # A page's stale keys are deleted before the next page is asked for; nothing is invalidated (no URL names them).
    assert s3_site.wire.names() == [
        *["ListObjectsV2", "DeleteObjects"] * 2,
        "ListObjectsV2",
        "ListObjectsV2",
        "DeleteObjects",
    ]
    assert [len(keys) for keys in s3_site.wire.deleted()] == [1000, 1000, 500]
    assert {listing.query["prefix"][0] for listing in s3_site.wire.sent("ListObjectsV2")} == {"_v/"}
