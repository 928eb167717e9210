"""Source versions in variant keys: a key that names the source's content is made from those bytes only.

A file replaced at the same key (django-storages overwrites by default) must not be served under the URLs of the
picture it replaced, and nobody may mint keys (another token, another digest) that make the edge render and store.
"""

from __future__ import annotations

import base64
import hashlib

import boto3
import pytest

from imagevariants.edge import handler as handler_module
from imagevariants.edge.handler import respond
from imagevariants.edge.keys import SourceVersion, build_key, parse_key, url_path
from tests import images
from tests.edge.events import Context, miss

SOURCE = "images/my photo-2024.jpg"
RED, BLUE = images.jpeg(800, 600, color="#dc0000"), images.jpeg(800, 600, color="#0000dc")


def versioned_uri(document, version, preset="sm", index=1, source=SOURCE):
    return "/" + url_path(document.outputs(preset)[index].key(source, document.prefix, version))


def test_the_version_is_the_head_segments_third_part_and_round_trips():
    version = SourceVersion.of(b"red")
    assert version.content == hashlib.sha256(b"red").hexdigest()[:12]
    key = build_key("images/a.b.jpg", "md", "3fa1c2d9", "webp", "_v/", version)
    assert key == f"_v/md.3fa1c2d9.c{version.content}/images/a.b.jpg.webp"
    parsed = parse_key(key, "_v/")
    assert (parsed.preset, parsed.fingerprint, parsed.rest, parsed.version) == (
        "md",
        "3fa1c2d9",
        "images/a.b.jpg.webp",
        version,
    )
    assert parse_key("_v/md.3fa1c2d9/images/a.jpg", "_v/").version is None  # plain keys keep their form


@pytest.mark.parametrize(
    "head",
    [
        "md.3fa1c2d9.",  # an empty token
        "md.3fa1c2d9.c0123456789a.c0123456789a",  # two tokens
        "md.3fa1c2d9.c0123456789",  # 11 digits
        "md.3fa1c2d9.c0123456789abc",  # 13 digits
        "md.3fa1c2d9.c0123456789AB",  # upper case: one spelling per version
        "md.3fa1c2d9.x0123456789ab",  # a tag this release does not know
        "md.3fa1c2d9.c0123456789ab_f500500",  # a field this release does not know
    ],
)
def test_a_token_this_release_does_not_know_is_not_a_variant_key(head):
    assert parse_key(f"_v/{head}/images/a.jpg", "_v/") is None


def test_from_sha256_takes_only_a_hex_digest():
    assert SourceVersion.from_sha256(hashlib.sha256(b"x").hexdigest()) == SourceVersion.of(b"x")
    for bad in ("", "ab" * 31, "AB" * 32, "zz" * 32):
        with pytest.raises(ValueError, match="SHA-256"):
            SourceVersion.from_sha256(bad)


def test_the_version_of_the_stored_bytes_is_made(document, store):
    store.objects[SOURCE] = RED
    version = SourceVersion.of(RED)
    response = respond(miss(versioned_uri(document, version)), store, document)
    assert response["status"] == "200"
    key = document.outputs("sm")[1].key(SOURCE, document.prefix, version)
    assert list(store.written) == [key]
    assert images.decode(base64.b64decode(response["body"])).getpixel((10, 10))[0] > 180  # red


@pytest.mark.parametrize("status", ["403", "404"])
def test_the_old_versions_key_after_a_replacement_is_a_404_and_nothing_is_written(document, store, status):
    """Red was replaced by blue at the same key: red's URLs never show blue, and nothing is stored under them."""
    store.objects[SOURCE] = BLUE
    response = respond(miss(versioned_uri(document, SourceVersion.of(RED)), status), store, document)
    assert response["status"] == "404" and response["body"].startswith("Not Found: ")
    assert response["headers"]["cache-control"][0]["value"] == document.cache_control["error"]
    assert store.written == {} and store.reads == [SOURCE]  # checked on the bytes read: no extra request


def test_a_minted_version_is_a_404_and_nothing_is_written(document, store):
    for content in ("000000000000", "ffffffffffff", SourceVersion.of(b"another file").content):
        response = respond(miss(versioned_uri(document, SourceVersion(content))), store, document)
        assert response["status"] == "404"
    assert store.written == {}


def test_an_unknown_token_passes_the_origins_miss_through_without_reading(document, store):
    event = miss(f"/_v/sm.{document.outputs('sm')[0].fingerprint}.z0123456789ab/{url_path(SOURCE)}")
    response = respond(event, store, document)
    assert response is event["Records"][0]["cf"]["response"] and store.reads == [] and store.written == {}


def test_replaced_in_s3_the_lambda_entry_point_serves_each_version_only_under_its_own_key(baked, s3_env):
    """Through the Lambda entry point and S3 (moto): red's key makes red; once blue overwrote the object, red's
    not-yet-made keys are 404s with nothing written, and blue's keys make blue."""
    s3 = boto3.client("s3", region_name="eu-west-1")
    s3.create_bucket(Bucket="awsexamplebucket", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_object(Bucket="awsexamplebucket", Key=SOURCE, Body=RED)
    red, blue = SourceVersion.of(RED), SourceVersion.of(BLUE)
    made = handler_module.lambda_handler(miss(versioned_uri(baked, red, index=0)), Context(30_000))
    assert made["status"] == "200"
    s3.put_object(Bucket="awsexamplebucket", Key=SOURCE, Body=BLUE)
    refused = handler_module.lambda_handler(miss(versioned_uri(baked, red, index=1)), Context(30_000))
    assert refused["status"] == "404"
    fresh = handler_module.lambda_handler(miss(versioned_uri(baked, blue, index=1)), Context(30_000))
    assert fresh["status"] == "200"
    assert images.decode(base64.b64decode(fresh["body"])).getpixel((10, 10))[2] > 180  # blue
    keys = sorted(item["Key"] for item in s3.list_objects_v2(Bucket="awsexamplebucket")["Contents"])
    assert keys == sorted(
        [
            SOURCE,
            baked.outputs("sm")[0].key(SOURCE, baked.prefix, red),
            baked.outputs("sm")[1].key(SOURCE, baked.prefix, blue),
        ]
    )
