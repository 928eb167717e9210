"""The local edge: CloudFront-in-front-of-S3 behaviour running the real handler over a Django storage."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.template import Context, Template
from django.test import Client

from imagevariants import local_edge, publishing
from imagevariants.edge import handler, pipeline
from imagevariants.edge.errors import Busy
from imagevariants.edge.lambda_rules import MAX_GENERATED_RESPONSE
from imagevariants.exceptions import LambdaRuleViolation
from imagevariants.local_edge import to_http_response
from imagevariants.models import SourceImage
from imagevariants.variants import original_url
from tests import images

pytestmark = pytest.mark.django_db


def url(source, preset, fmt=None):
    fmt_arg = f' format="{fmt}"' if fmt else ""
    return Template('{% load imagevariants %}{% variant_url s "' + preset + '"' + fmt_arg + " %}").render(
        Context({"s": source})
    )


def body(response):
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_the_edge_logs_each_request_through_logging_not_stdout(client, presets, source, caplog, capsys):
    import json
    import logging

    caplog.set_level(logging.INFO, logger="imagevariants.edge")
    address = url(source, "md")
    assert client.get(address).status_code == 200
    assert client.get(address.replace("/md.", "/zz.")).status_code == 404  # a preset the edge does not serve
    assert capsys.readouterr().out == ""  # Lambda's stdout line is the local edge's log record
    records = [r for r in caplog.records if r.name == "imagevariants.edge"]
    assert [(r.levelname, r.edge["outcome"], r.edge["status"]) for r in records] == [("INFO", "generated", "200")]
    assert json.loads(records[0].getMessage()) == records[0].edge
    assert records[0].edge["key"] == address.removeprefix("/variants/")


@pytest.mark.parametrize("fmt, content_type", [(None, "image/jpeg"), ("webp", "image/webp"), ("avif", "image/avif")])
def test_generated_on_first_request_then_served_from_storage(client, presets, source, fmt, content_type):
    address = url(source, "md", fmt)
    key = address.removeprefix("/variants/")
    storage = storages["default"]
    assert not storage.exists(key)

    first = client.get(address)
    assert first.status_code == 200
    assert first["Content-Type"] == content_type
    assert first["Cache-Control"] == "public, max-age=31536000, immutable"
    assert not first.streaming  # made by the handler
    image = images.decode(first.content)
    assert image.size == (250, 188)
    assert storage.exists(key)

    second = client.get(address)
    assert second.status_code == 200 and second.streaming  # served from storage, the handler did not run
    assert body(second) == first.content
    assert second["Content-Type"] == content_type
    assert second["Cache-Control"] == "public, max-age=31536000, immutable"  # as CloudFront serves S3's object


def test_seed_style_url_redirects_to_the_canonical_variant(client, presets, source):
    response = client.get("/variants/images/photo-sm.jpg")
    assert response.status_code == 302
    assert response["Location"] == url(source.key, "sm")  # a seed URL names no version: the key's bytes
    assert response["Cache-Control"] == "public, max-age=300"
    final = client.get(response["Location"])
    assert images.decode(final.content).width == 100


def test_originals_are_not_served_the_storage_url_is(client, presets, source):
    response = client.get("/variants/images/photo.jpg")
    assert response.status_code == 404 and b"\xff\xd8" not in body(response)
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert original_url(source) == source.file.url == "/media/images/photo.jpg"  # what the tags link to


@pytest.mark.parametrize(
    "stored, fmt, status, content_type",
    [
        (images.png(), None, 200, "image/png"),  # a kept format: the bytes say which, not the key's ".html"
        (b"<html><script>alert(1)</script></html>", None, 404, None),
        (b"\xff\xd8\xff<html><script>alert(1)</script></html>", None, 404, None),  # a JPEG's first bytes only
        (images.jpeg(), "webp", 404, None),  # not the preset's output format
        (images.png(), "webp", 404, None),
    ],
)
def test_stored_variants_are_served_as_the_image_they_are(client, presets, stored, fmt, status, content_type):
    storage = storages["default"]
    storage.save("images/page.html", ContentFile(images.png()))
    key = url("images/page.html", "sm", fmt).removeprefix("/variants/")
    storage.save(key, ContentFile(stored))
    response = client.get("/variants/" + key)
    assert response.status_code == status
    assert response["X-Content-Type-Options"] == "nosniff"
    if content_type:
        assert response["Content-Type"] == content_type
        assert response["Cache-Control"] == "public, max-age=31536000, immutable"
        assert body(response) == stored
    else:
        assert response["Content-Type"] == "text/plain; charset=utf-8" and stored not in body(response)


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete", "options"])
def test_only_get_and_head_are_answered(client, presets, source, renders, method):
    address = url(source, "md", "webp")
    key = address.removeprefix("/variants/")
    response = getattr(client, method)(address)
    assert response.status_code == 405 and response["Allow"] == "GET, HEAD"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert renders.count == 0 and not storages["default"].exists(key)  # nothing was made
    head = client.head(address)
    assert head.status_code == 200 and head["Content-Type"] == "image/webp" and renders.count == 1


@pytest.mark.parametrize(
    "path",
    [
        "_v/md.58fd6dfd/../secret.jpg",
        "_v/md.58fd6dfd/images/%2e%2e/photo.jpg",
        "_v/md.58fd6dfd/images/a%00b.jpg",
        "_v/md.58fd6dfd/images/a%7Fb.jpg",
        "_v/md.58fd6dfd/images%5Cphoto.jpg",
        "_v/md.58fd6dfd/images/" + "a" * 256 + ".jpg",
    ],
)
def test_hostile_keys_are_refused_without_touching_the_storage(client, presets, source, monkeypatch, path):
    storage = storages["default"]
    calls: list[str] = []
    for name in ("exists", "open", "save", "listdir", "size", "delete", "path"):
        real = getattr(storage, name)

        def recorded(*args: Any, _name: str = name, _real: Callable[..., Any] = real, **kwargs: Any) -> Any:
            calls.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(storage, name, recorded)
    response = client.get("/variants/" + path)
    assert response.status_code == 400
    assert response["Cache-Control"] == "public, max-age=60"  # the error lifetime, never a variant's year
    assert response["Content-Type"] == "text/plain; charset=utf-8" and response["X-Content-Type-Options"] == "nosniff"
    assert response.content == b"Bad Request: bad key\n"
    assert calls == []  # nothing read, nothing written


def test_a_folder_at_a_variant_key_is_a_404(client, presets, source):
    key = url(source, "sm").removeprefix("/variants/")
    storages["default"].save(key + "/inside.jpg", ContentFile(images.jpeg()))
    response = client.get("/variants/" + key)
    assert response.status_code == 404 and response["X-Content-Type-Options"] == "nosniff"
    assert client.get("/variants/images").status_code == 404


def test_every_response_of_the_route_is_nosniff(client, presets, source):
    address = url(source, "sm")
    storages["default"].save("images/broken.jpg", ContentFile(b"not an image"))
    responses = [
        client.get(address),  # made by the handler
        client.get(address),  # served from the storage
        client.get("/variants/images/photo-sm.jpg"),  # a seed alias's redirect
        client.get("/variants/images/photo.jpg"),  # an original
        client.get("/variants/_v/md.58fd6dfd/../secret.jpg"),  # a bad key
        client.get(url("images/broken.jpg", "sm")),  # a source the pipeline cannot decode
        client.post(address),  # a method the route does not allow
    ]
    assert [r.status_code for r in responses] == [200, 200, 302, 404, 400, 415, 405]
    assert all(r["X-Content-Type-Options"] == "nosniff" for r in responses)


@pytest.mark.parametrize(
    "path, status",
    [
        ("/variants/images/nothing.jpg", 404),  # a plain miss passes through: the origin's 404
        ("/variants/images/my-photo.png", 404),  # not a seed alias: "photo" is not a preset
        ("/variants/_v/md.00000000/images/photo.jpg", 404),  # unknown revision
        ("/variants/_v/huge.12345678/images/photo.jpg", 404),  # unknown preset
        ("/variants/_v/md.58fd6dfd/images/missing.jpg", 404),  # missing source
        ("/variants/_v/md.58fd6dfd/../secret.jpg", 400),  # hostile: refused by the handler
    ],
)
def test_misses_and_bad_keys_write_nothing(client, presets, source, path, status):
    storage = storages["default"]
    before = sorted(storage.listdir("")[0])
    response = client.get(path)
    assert response.status_code == status
    assert response["Cache-Control"] == "public, max-age=60" and response["Content-Type"] == "text/plain; charset=utf-8"
    assert sorted(storage.listdir("")[0]) == before
    assert not storage.exists("_v")


def test_corrupt_source_is_a_clear_4xx_and_writes_nothing(client, presets):
    storages["default"].save("images/broken.jpg", ContentFile(images.jpeg()[:300]))
    response = client.get(url("images/broken.jpg", "md"))
    assert response.status_code == 415
    assert response["Content-Type"].startswith("text/plain")
    assert response["Cache-Control"] == "public, max-age=60"
    assert not storages["default"].exists("_v")


def test_responses_breaking_lambda_edge_rules_fail_loudly():
    with pytest.raises(LambdaRuleViolation, match="status"):
        to_http_response({"status": 200, "headers": {}})
    with pytest.raises(LambdaRuleViolation, match="x-cache"):
        to_http_response({"status": "200", "headers": {"x-cache": [{"key": "X-Cache", "value": "Hit"}]}})
    with pytest.raises(LambdaRuleViolation, match="over"):
        to_http_response({"status": "200", "headers": {}, "body": "A" * MAX_GENERATED_RESPONSE})
    assert to_http_response({"status": "204", "headers": {}}).status_code == 204


def test_a_header_whose_key_is_not_a_string_is_a_violation_not_a_crash():
    with pytest.raises(LambdaRuleViolation, match="matching key"):
        to_http_response({"status": "200", "headers": {"content-type": [{"key": None, "value": "text/plain"}]}})


@pytest.fixture
def s3_storage(aws, settings):
    """django-storages' S3Storage on the moto server, as in production (the endpoint comes from the environment)."""
    boto3.client("s3", region_name="eu-west-1").create_bucket(
        Bucket="media", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    settings.STORAGES = {
        **settings.STORAGES,
        "sources": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": "media",
                "region_name": "eu-west-1",
                "location": "site",
                "querystring_auth": False,
            },
        },
    }
    settings.IMAGEVARIANTS = {"STORAGE": "sources"}
    settings.AWS_STORAGE_BUCKET_NAME = "media"
    return storages["sources"]


def test_the_local_edge_over_s3(client, presets, s3_storage):
    # An object put in the bucket by something else, with a name Django's upload would have cleaned.
    s3 = boto3.client("s3", region_name="eu-west-1")
    s3.put_object(Bucket="media", Key="site/images/on s3 é.jpg", Body=images.jpeg(1000, 500))
    source = SourceImage(file="images/on s3 é.jpg", alt="on S3")
    source.save()  # metadata read through the S3Storage
    assert (source.width, source.height, source.format) == (1000, 500, "jpeg")
    assert source.bytes == s3.head_object(Bucket="media", Key="site/images/on s3 é.jpg")["ContentLength"]

    address = url(source, "lg", "webp")
    assert "on%20s3%20%C3%A9.jpg.webp" in address
    response = client.get(address)
    assert response.status_code == 200, response.content
    assert images.decode(response.content).size == (700, 350)

    key = "site/" + address.removeprefix("/variants/").replace("%20", " ").replace("%C3%A9", "é")
    stored = s3.head_object(Bucket="media", Key=key)
    assert stored["ContentType"] == "image/webp"
    assert stored["CacheControl"] == "public, max-age=31536000, immutable"
    assert "cache-control" not in stored.get("Metadata", {})

    again = client.get(address)
    assert again.status_code == 200 and again.streaming
    assert body(again) == response.content


def test_s3_missing_source_writes_nothing(client, presets, s3_storage):
    response = client.get(url("images/absent.jpg", "md"))
    assert response.status_code == 404
    listed = boto3.client("s3", region_name="eu-west-1").list_objects_v2(Bucket="media")
    assert listed["KeyCount"] == 0


class Renders:
    """Counts the pipeline's renders; ``gate`` runs before each one (with its number, from 1) and may hold it."""

    def __init__(self, real: Callable[..., Any]) -> None:
        self.real = real
        self.count = 0
        self.changed = threading.Condition()
        self.gate: Callable[[int], object] = lambda number: None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self.changed:
            self.count += 1
            number = self.count
            self.changed.notify_all()
        self.gate(number)
        return self.real(*args, **kwargs)

    def wait_for(self, count: int) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: self.count >= count, timeout=60), f"{self.count} renders"


@pytest.fixture
def renders(monkeypatch) -> Renders:
    counter = Renders(pipeline.render)
    monkeypatch.setattr(pipeline, "render", counter)
    monkeypatch.setattr(handler, "render", counter, raising=False)
    return counter


def in_threads(addresses: list[str]) -> tuple[list[threading.Thread], dict[int, Any]]:
    """Request each address from its own thread and client (named ``request-N``), as concurrent viewers do."""
    publishing.published_document()  # the threads find the published presets in this process's cache
    results: dict[int, Any] = {}

    def get(index: int, address: str) -> None:
        results[index] = Client().get(address)

    threads = [
        threading.Thread(target=get, args=(i, address), name=f"request-{i}") for i, address in enumerate(addresses)
    ]
    for thread in threads:
        thread.start()
    return threads, results


def test_concurrent_first_requests_make_a_variant_once(presets, source, renders, monkeypatch):
    address = url(source, "md", "webp")
    key = address.removeprefix("/variants/")
    storage = storages["default"]
    looked = set()
    real_exists = storage.exists

    def exists(name: str) -> bool:
        if name == key and threading.current_thread().name.startswith("request-"):
            with renders.changed:
                looked.add(threading.current_thread().name)
                renders.changed.notify_all()
        return real_exists(name)

    def gate(number: int) -> None:  # every request has found the variant missing before the first render ends
        with renders.changed:
            assert renders.changed.wait_for(lambda: len(looked) == 6, timeout=60), looked

    monkeypatch.setattr(storage, "exists", exists)
    renders.gate = gate
    threads, results = in_threads([address] * 6)
    for thread in threads:
        thread.join(60)
    assert renders.count == 1
    assert [r.status_code for r in results.values()] == [200] * 6
    assert len({body(r) for r in results.values()}) == 1
    assert all(r["Content-Type"] == "image/webp" and r["X-Content-Type-Options"] == "nosniff" for r in results.values())


def test_renders_at_once_are_bounded_and_the_rest_answer_busy(client, presets, source, renders):
    held = [url(source, preset, "webp") for preset in ("sm", "md", "lg", "xl")][: local_edge.MAX_RENDERS]
    extra = url(source, "sm", "avif")
    release = threading.Event()
    renders.gate = lambda number: release.wait(60) if number <= local_edge.MAX_RENDERS else None
    threads, results = in_threads(held)
    try:
        renders.wait_for(local_edge.MAX_RENDERS)
        busy = client.get(extra)
    finally:
        release.set()
        for thread in threads:
            thread.join(60)
    assert busy.status_code == Busy.status == 503
    assert busy["Retry-After"] == str(handler.RETRY_AFTER)
    assert busy["Cache-Control"] == "no-store" and busy["X-Content-Type-Options"] == "nosniff"
    assert busy.content.decode().strip() == Busy("x").public
    assert renders.count == local_edge.MAX_RENDERS
    assert not storages["default"].exists(extra.removeprefix("/variants/"))
    assert [r.status_code for r in results.values()] == [200] * local_edge.MAX_RENDERS
    assert client.get(extra).status_code == 200  # the slots are free again


def test_the_local_edge_keeps_its_own_deadline(client, presets, source, monkeypatch):
    """The route gives the handler a deadline of its own, as Lambda's context does: with none left, a 503 with
    Retry-After, nothing read nor written."""
    monkeypatch.setattr(local_edge, "DEADLINE_SECONDS", 0.0)
    address = url(source, "md", "webp")
    response = client.get(address)
    assert response.status_code == 503 and response["Retry-After"] == str(handler.RETRY_AFTER)
    assert response["Cache-Control"] == "no-store"
    assert not storages["default"].exists(address.removeprefix("/variants/"))
    monkeypatch.setattr(local_edge, "DEADLINE_SECONDS", 25.0)
    assert client.get(address).status_code == 200
