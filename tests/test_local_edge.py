"""The local edge: CloudFront-in-front-of-S3 behaviour running the real handler over a Django storage."""

import boto3
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.template import Context, Template

from imagevariants.edge.lambda_rules import MAX_GENERATED_RESPONSE
from imagevariants.local_edge import LambdaRuleViolation, to_http_response
from imagevariants.models import SourceImage
from tests import images

pytestmark = pytest.mark.django_db


def url(source, preset, fmt=None):
    fmt_arg = f' format="{fmt}"' if fmt else ""
    return Template('{% load imagevariants %}{% variant_url s "' + preset + '"' + fmt_arg + " %}").render(
        Context({"s": source})
    )


def body(response):
    return b"".join(response.streaming_content) if response.streaming else response.content


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


def test_seed_style_url_redirects_to_the_canonical_variant(client, presets, source):
    response = client.get("/variants/images/photo-sm.jpg")
    assert response.status_code == 302
    assert response["Location"] == url(source, "sm")
    assert response["Cache-Control"] == "public, max-age=300"
    final = client.get(response["Location"])
    assert images.decode(final.content).width == 100


def test_originals_are_served_like_the_origin_would(client, presets, source):
    response = client.get("/variants/images/photo.jpg")
    assert response.status_code == 200 and body(response)[:2] == b"\xff\xd8"


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
