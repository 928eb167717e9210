"""warm_variants: every published variant of every tracked image, through the edge that serves them.

With a CDN the variants are requested from the CDN (a stand-in for CloudFront over moto S3 that runs the edge
function on a miss): the Django process renders nothing and makes no storage call. On the local edge the same
handler runs in-process over the storage.
"""

from __future__ import annotations

import io
import json
from urllib.parse import unquote

import boto3
import pytest
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command

from imagevariants import conf, local_edge, publishing, warming
from imagevariants.models import Publication, SourceImage
from imagevariants.variants import candidates
from tests import images
from tests.cdn import StandInCDN

pytestmark = pytest.mark.django_db
BUCKET = "site-media"


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("warm_variants", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def emitted(source: SourceImage) -> set[str]:
    """The variant URLs the tags emit for ``source``: every output of every published preset."""
    document = publishing.published_document()
    urls = set()
    for name in document.presets:
        for output in document.outputs(name):
            fmt = output.spec.format
            urls.update(c.url for c in candidates(source, [name], fmt))
    return urls


@pytest.fixture
def counted_renders(monkeypatch) -> list[str]:
    """Every run of the edge handler in this process (the local edge's and the stand-in CDN's alike)."""
    calls: list[str] = []
    real = local_edge.respond  # what warming's local_edge.answer_miss runs

    def counted(event, *args, **kwargs):
        calls.append(event["Records"][0]["cf"]["request"]["uri"])
        return real(event, *args, **kwargs)

    monkeypatch.setattr(local_edge, "respond", counted)
    return calls


def test_local_edge_makes_the_variants_the_tags_emit_once(presets, source, counted_renders):
    other = images.tracked("wide.jpg", images.jpeg(1600, 400))
    out, err = run()
    assert "2/2 images (100%): 24 made, 0 already stored, 0 already cached, 0 failed" in out and err == ""
    assert "\r" not in out  # whole lines: a log file reads as well as a terminal
    storage = conf.source_storage
    for url in emitted(source) | emitted(other):
        key = unquote(url.removeprefix("/variants/"))
        assert storage.exists(key), key
        assert ".c" in key.split("/")[1]  # the versioned keys the tags emit, not the plain ones
    assert len(counted_renders) == 24
    [md] = [c.url for c in candidates(other, ["md"])]
    with storage.open(unquote(md.removeprefix("/variants/"))) as file:
        assert images.decode(file.read()).size == (250, 62)
    out, _ = run("--workers", "1")
    assert "24 already stored" in out and len(counted_renders) == 24  # nothing made twice


def test_failures_are_listed_and_the_run_goes_on(presets, source):
    broken = SourceImage.objects.create(file="images/broken.jpg", sha256="0" * 64, width=10, height=10)
    conf.source_storage.save("images/broken.jpg", ContentFile(b"not an image"))
    with pytest.raises(CommandError, match="3 variant"):
        run("--preset", "sm")
    document = publishing.published_document()
    outputs = document.outputs("sm")
    assert all(conf.source_storage.exists(k) for k in warming.keys(warming.as_source(source), outputs, document))
    assert not any(conf.source_storage.exists(k) for k in warming.keys(warming.as_source(broken), outputs, document))
    with pytest.raises(CommandError, match="Not published: huge"):
        run("--preset", "huge")


def test_an_interrupted_run_resumes_from_its_checkpoint(presets, tmp_path, monkeypatch, counted_renders):
    sources = [images.tracked(f"p{i}.jpg", images.jpeg(120, 90)) for i in range(5)]
    monkeypatch.setattr("imagevariants.management.commands.warm_variants.CHUNK", 2)
    checkpoint = tmp_path / "warm.json"
    requested: list[str] = []
    real = warming.requester

    def interrupted(document):
        request = real(document)

        def once(key):
            if len(requested) == 2 * 12:  # two images done: the process dies
                raise KeyboardInterrupt
            requested.append(key)
            return request(key)

        return once

    monkeypatch.setattr(warming, "requester", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run("--checkpoint", str(checkpoint))
    assert json.loads(checkpoint.read_text()) == {"imagevariants.sourceimage.file": sources[1].pk}
    monkeypatch.setattr(warming, "requester", real)
    counted_renders.clear()
    out, _ = run("--checkpoint", str(checkpoint))
    assert "3/3 images (100%): 36 made" in out and len(counted_renders) == 36  # the other three, nothing again
    assert not checkpoint.exists()  # done: the next run starts over


def test_images_are_read_a_chunk_at_a_time(presets, django_assert_max_num_queries, monkeypatch):
    for i in range(7):
        images.tracked(f"q{i}.jpg", images.jpeg(40, 30))
    monkeypatch.setattr(warming, "requester", lambda document: lambda key: warming.Outcome(key, True, "stored"))
    tracked = list(warming.tracked_sources({}, chunk_size=3))
    assert [t.pk for t in tracked] == sorted(t.pk for t in tracked) and len(tracked) == 7
    with django_assert_max_num_queries(8):  # published document, counts, and one query per chunk of rows
        run()


@pytest.fixture
def cdn_site(aws, settings, presets):
    """The site's media on S3 (django-storages) behind the stand-in CDN, with the presets deployed to it."""
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    settings.STORAGES = {
        **settings.STORAGES,
        "media": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {"bucket_name": BUCKET}},
    }
    document = publishing.draft_document()
    with StandInCDN(BUCKET, "us-east-1", document) as cdn:
        settings.IMAGEVARIANTS = {"STORAGE": "media", "CDN_URL": cdn.url, "BUCKET": BUCKET}
        publishing.record(document, Publication.Target.CLOUDFRONT, status=Publication.Status.SUCCEEDED)
        publishing.forget()
        yield cdn


def test_with_a_cdn_variants_are_requested_from_it_and_django_renders_nothing(cdn_site, counted_renders):
    first, second = images.tracked("a.jpg", images.jpeg(900, 600)), images.tracked("b.png", images.png(300, 200))
    calls: list[str] = []
    client = conf.source_storage.connection.meta.client
    client.meta.events.register("before-call.*.*", lambda model, **kwargs: calls.append(model.name))

    out, err = run("--workers", "3")

    assert err == "" and "2/2 images (100%): 24 made" in out
    assert calls == [] and counted_renders == []  # no storage call, no render here: the CDN's edge did the work
    paths = sorted(path for path, _ in cdn_site.requests)
    assert paths == sorted(url.removeprefix(cdn_site.url) for url in emitted(first) | emitted(second))
    assert all(headers["User-Agent"] == warming.USER_AGENT for _, headers in cdn_site.requests)
    keys = {item["Key"] for item in boto3.client("s3").list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert {unquote(path[1:]) for path in paths} <= keys  # made by the edge function and stored in S3
    assert cdn_site.generated == 24
    out, _ = run()
    assert "24 already cached" in out and cdn_site.generated == 24  # the second run costs cache hits only


def test_with_a_cdn_a_refused_variant_is_reported(cdn_site):
    source = images.tracked("c.jpg", images.jpeg(200, 100))
    boto3.client("s3").put_object(Bucket=BUCKET, Key=source.key, Body=images.jpeg(210, 100))  # replaced behind us
    err = io.StringIO()
    with pytest.raises(CommandError, match="12 variant"):
        call_command("warm_variants", stdout=io.StringIO(), stderr=err)
    assert cdn_site.generated == 12
    assert err.getvalue().count(": 404 Not Found: the source's bytes are not the version the key names") == 12


def test_images_of_the_users_own_fields_are_warmed_in_their_versioned_urls(presets, counted_renders):
    """A VariantImageField's images are tracked too (a plain ImageField's are not: the app knows nothing of them)."""
    from tests.testapp.models import Photo, PlainPhoto

    photo = Photo()
    photo.image.save("own.jpg", ContentFile(images.jpeg(300, 200)))
    PlainPhoto().image.save("plain.jpg", ContentFile(images.jpeg(50, 40)))
    Photo.objects.create()  # no image: nothing to warm
    assert [t.label for t in warming.tracked_sources({})] == ["testapp.photo.image"]
    out, _ = run("--preset", "sm")
    assert "1/1 images (100%): 3 made" in out
    urls = [c.url for fmt in (None, "avif", "webp") for c in candidates(photo.image, ["sm"], fmt)]
    assert all(f".c{photo.sha256[:12]}/" in url for url in urls)
    assert all(conf.source_storage.exists(unquote(url.removeprefix("/variants/"))) for url in urls)
    assert sorted(counted_renders) == sorted(url.removeprefix("/variants") for url in urls)
