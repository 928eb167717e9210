"""warm_variants makes the published variants ahead of time; prune_variants removes those no longer served."""

from __future__ import annotations

import io

import pytest
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command

from imagevariants import conf, publishing
from imagevariants.edge.presets import Document, Spec
from imagevariants.models import EdgeDeployment, SourceImage
from tests import images

pytestmark = pytest.mark.django_db


def run(name: str, *args: str) -> str:
    out = io.StringIO()
    call_command(name, *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def add_source(name: str, data: bytes) -> SourceImage:
    source = SourceImage()
    source.file.save(name, ContentFile(data), save=False)
    source.save()
    return source


def variant_keys(source: SourceImage) -> list[str]:
    document = publishing.published_document()
    return [o.key(source.key, document.prefix) for name in document.presets for o in document.outputs(name)]


def test_warm_makes_every_published_variant_once(presets, source):
    other = add_source("wide.jpg", images.jpeg(1600, 400))
    assert run("warm_variants").startswith("24 made, 0 already stored, 0 failed")
    storage = conf.source_storage
    for key in variant_keys(source) + variant_keys(other):
        assert storage.exists(key), key
    md = next(k for k in variant_keys(other) if k.startswith(f"_v/md.{presets['md'].fingerprint}/"))
    with storage.open(md) as file:
        assert images.decode(file.read()).size == (250, 62)
    # Resumable: a second run finds them all.
    assert run("warm_variants", "--workers", "1").startswith("0 made, 24 already stored")


def test_warm_one_preset_and_report_broken_sources(presets, source):
    broken = SourceImage.objects.create(file="images/broken.jpg", sha256="0" * 64, width=10, height=10)
    conf.source_storage.save("images/broken.jpg", ContentFile(b"not an image"))
    with pytest.raises(CommandError, match="3 variant"):
        run("warm_variants", "--preset", "sm")
    assert all(conf.source_storage.exists(k) for k in variant_keys(source) if k.startswith("_v/sm."))
    assert not any(conf.source_storage.exists(k) for k in variant_keys(broken))
    with pytest.raises(CommandError, match="Not published: huge"):
        run("warm_variants", "--preset", "huge")


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
    assert conf.source_storage.exists(f"_v/md.{old_md}/images/photo.jpg")
    run("prune_variants", "--yes")
    assert not conf.source_storage.exists(f"_v/md.{old_md}/images/photo.jpg")
    assert conf.source_storage.exists(f"_v/sm.{presets['sm'].fingerprint}/images/photo.jpg")
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
    publishing.record(document, EdgeDeployment.Target.LOCAL, status=EdgeDeployment.Status.SUCCEEDED)
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
