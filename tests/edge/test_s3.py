"""The Lambda entry point end to end against a real S3-speaking server (moto), with the baked document."""

from __future__ import annotations

import base64
import threading

import boto3
import pytest
from botocore.exceptions import ClientError

from imagevariants.edge import handler as handler_module
from imagevariants.edge import store as store_module
from imagevariants.edge.keys import url_path
from imagevariants.edge.lambda_rules import violations
from tests import images
from tests.edge.events import miss, response_of

SOURCE = "images/my photo-2024.jpg"


@pytest.fixture
def bucket(s3_env):
    s3 = boto3.client("s3", region_name="eu-west-1")
    s3.create_bucket(Bucket="awsexamplebucket", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_object(Bucket="awsexamplebucket", Key=SOURCE, Body=images.jpeg(1200, 900))
    return s3


def variant_uri(document, preset="md", index=2):
    return "/" + url_path(document.outputs(preset)[index].key(SOURCE, document.prefix))


@pytest.mark.parametrize("region", ["eu-west-1", None])  # bucket.s3.REGION.amazonaws.com and bucket.s3.amazonaws.com
def test_first_request_generates_and_stores_in_s3(baked, bucket, region):
    path = variant_uri(baked)
    event = miss(path, region=region)
    if region is None:
        event["Records"][0]["cf"]["request"]["origin"]["s3"]["region"] = "eu-west-1"  # as with an OAI
    response = handler_module.lambda_handler(event, None)
    assert violations(response) == []
    assert response["status"] == "200"
    key = baked.outputs("md")[2].key(SOURCE, baked.prefix)
    stored = bucket.get_object(Bucket="awsexamplebucket", Key=key)
    assert stored["ContentType"] == "image/webp"
    assert stored["CacheControl"] == "public, max-age=31536000, immutable"
    assert stored.get("Metadata", {}) == {}  # real headers, not x-amz-meta-*
    body = stored["Body"].read()
    assert base64.b64decode(response["body"]) == body and images.decode(body).size == (250, 188)


def test_the_client_is_made_for_the_bucket_region(baked, bucket):
    handler_module.lambda_handler(miss(variant_uri(baked)), None)
    client = store_module.s3_client("eu-west-1")
    assert client.meta.region_name == "eu-west-1"
    assert store_module.s3_client.cache_info().currsize == 1
    assert client.meta.config.read_timeout <= 10 and client.meta.config.connect_timeout <= 5  # inside the 30 s


def test_eight_concurrent_first_requests_through_s3_get_identical_bytes(baked, bucket):
    path = variant_uri(baked)
    bodies: list[str] = []
    barrier = threading.Barrier(8)
    puts: list[dict] = []
    lock = threading.Lock()

    def put(params, **kwargs) -> None:
        with lock:
            puts.append(dict(params))

    store_module.s3_client("eu-west-1").meta.events.register("provide-client-params.s3.PutObject", put)

    def ask() -> None:
        barrier.wait()
        response = handler_module.lambda_handler(miss(path), None)
        assert response["status"] == "200"
        bodies.append(response["body"])

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(bodies) == 8 and len(set(bodies)) == 1
    key = baked.outputs("md")[2].key(SOURCE, baked.prefix)
    stored = bucket.get_object(Bucket="awsexamplebucket", Key=key)["Body"].read()
    assert base64.b64decode(bodies[0]) == stored
    # Every request made and stored the variant itself: eight PutObjects of the same bytes and headers, so the
    # object S3 keeps is what every viewer was sent, whichever write landed last.
    expected = {
        "Bucket": "awsexamplebucket",
        "Key": key,
        "Body": stored,
        "ContentType": "image/webp",
        "CacheControl": "public, max-age=31536000, immutable",
    }
    assert puts == [expected] * 8


def test_missing_source_is_a_404_and_nothing_is_written(baked, bucket):
    path = "/" + url_path(baked.outputs("md")[0].key("images/absent.jpg", baked.prefix))
    response = handler_module.lambda_handler(miss(path), None)
    assert response["status"] == "404"
    assert [o["Key"] for o in bucket.list_objects_v2(Bucket="awsexamplebucket")["Contents"]] == [SOURCE]


def test_not_a_variant_passes_through(baked, bucket):
    event = miss("/images/my%20photo-2024.jpg")
    assert handler_module.lambda_handler(event, None) is response_of(event)


def test_a_failed_s3_write_still_returns_the_image_uncached(baked, bucket):
    def refuse(**kwargs):
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "injected"}}, "PutObject")

    store_module.s3_client("eu-west-1").meta.events.register("before-call.s3.PutObject", refuse)
    response = handler_module.lambda_handler(miss(variant_uri(baked)), None)
    assert response["status"] == "200"
    assert response["headers"]["cache-control"][0]["value"] == "no-store"
    assert len(bucket.list_objects_v2(Bucket="awsexamplebucket")["Contents"]) == 1


def test_the_origin_path_prefixes_the_keys(baked, bucket):
    bucket.put_object(Bucket="awsexamplebucket", Key=f"site/{SOURCE}", Body=images.jpeg(600, 400))
    event = miss(variant_uri(baked))
    event["Records"][0]["cf"]["request"]["origin"]["s3"]["path"] = "/site"
    assert handler_module.lambda_handler(event, None)["status"] == "200"
    key = "site/" + baked.outputs("md")[2].key(SOURCE, baked.prefix)
    assert bucket.head_object(Bucket="awsexamplebucket", Key=key)["ContentType"] == "image/webp"


def test_the_global_domain_form_without_a_region_means_us_east_1(baked, s3_env):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="global-bucket")
    s3.put_object(Bucket="global-bucket", Key=SOURCE, Body=images.jpeg(900, 600))
    response = handler_module.lambda_handler(miss(variant_uri(baked), bucket="global-bucket", region=None), None)
    assert violations(response) == [] and response["status"] == "200"
    assert store_module.s3_client.cache_info().currsize == 1
    assert store_module.s3_client("us-east-1").meta.region_name == "us-east-1"
    key = baked.outputs("md")[2].key(SOURCE, baked.prefix)
    assert s3.head_object(Bucket="global-bucket", Key=key)["CacheControl"] == "public, max-age=31536000, immutable"


def test_a_source_over_the_byte_limit_is_refused_from_its_length(baked, bucket, monkeypatch, tmp_path):
    from imagevariants.edge.presets import Document

    document = Document.from_dict({**baked.to_dict(), "limits": {"max_source_bytes": 1000}})
    path = tmp_path / "small.json"
    path.write_text(document.to_json())
    monkeypatch.setattr(handler_module, "DOCUMENT_PATH", path)
    handler_module.baked_document.cache_clear()
    response = handler_module.lambda_handler(miss(variant_uri(document)), None)
    assert response["status"] == "413"
    assert [o["Key"] for o in bucket.list_objects_v2(Bucket="awsexamplebucket")["Contents"]] == [SOURCE]


def test_s3_answers_without_the_error_response_leaking(baked, bucket):
    event = miss(variant_uri(baked))
    response = handler_module.lambda_handler(event, None)
    assert set(response["headers"]) == {"content-type", "cache-control"}
    assert not {"x-amz-request-id", "x-amz-id-2", "server", "date"} & set(response["headers"])
    assert response["statusDescription"] == "OK"
