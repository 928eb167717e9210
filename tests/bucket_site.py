"""A site whose sources live in an S3 bucket on the moto server (django-storages' ``S3Storage``) behind a CloudFront
distribution, presets published to it, and every request boto3 sends to S3 and CloudFront, as sent on the wire.

moto takes a DeleteObjects or a CreateInvalidation whatever its size, so tests read the requests themselves: the
keys of each DeleteObjects body, the paths of each CreateInvalidation body, the order of the calls.
"""

from __future__ import annotations

import json
import socket
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests
from moto.core import DEFAULT_ACCOUNT_ID
from moto.s3.models import s3_backends

from imagevariants import conf, publishing, purge
from imagevariants.edge.keys import SourceVersion, build_key
from imagevariants.models import SourceImage
from tests import images

BUCKET = "media"
DISTRIBUTION = {
    "CallerReference": "imagevariants-purge-tests",
    "Comment": "site media",
    "Enabled": True,
    "Origins": {
        "Quantity": 1,
        "Items": [
            {
                "Id": "media",
                "DomainName": f"{BUCKET}.s3.us-east-1.amazonaws.com",
                "S3OriginConfig": {"OriginAccessIdentity": ""},
            }
        ],
    },
    "DefaultCacheBehavior": {
        "TargetOriginId": "media",
        "ViewerProtocolPolicy": "redirect-to-https",
        "MinTTL": 0,
        "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
    },
}


@dataclass
class Sent:
    operation: str
    url: str
    body: bytes

    def texts(self, tag: str) -> list[str]:
        """The text of every ``tag`` element of the XML body (any namespace)."""
        return [el.text or "" for el in ET.fromstring(self.body).iter() if el.tag.rpartition("}")[2] == tag]

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.url).query, keep_blank_values=True)


@dataclass
class Wire:
    """Every request the clients it listens to sent, in order."""

    requests: list[Sent] = field(default_factory=list)

    def listen(self, client: Any) -> Any:
        client.meta.events.register("before-send", self._sent)
        return client

    def _sent(self, request: Any, event_name: str, **kwargs: Any) -> None:
        body = request.body if isinstance(request.body, bytes) else (request.body or b"")
        self.requests.append(Sent(event_name.rpartition(".")[2], request.url, body))

    def names(self, *operations: str) -> list[str]:
        return [sent.operation for sent in self.requests if not operations or sent.operation in operations]

    def sent(self, operation: str) -> list[Sent]:
        return [sent for sent in self.requests if sent.operation == operation]

    def deleted(self) -> list[list[str]]:
        """The keys of each DeleteObjects request."""
        return [sent.texts("Key") for sent in self.sent("DeleteObjects")]

    def invalidated(self) -> list[list[str]]:
        """The paths of each CreateInvalidation request."""
        return [sent.texts("Path") for sent in self.sent("CreateInvalidation")]


@dataclass
class Site:
    wire: Wire
    distribution_id: str
    cdn_url: str
    s3: Any  # the test's own client: not recorded

    def listen(self) -> None:
        """Record the requests of the configured storage (again after a settings change made a new one)."""
        self.wire.listen(conf.source_storage.connection.meta.client)

    def put(self, keys: Iterable[str]) -> None:
        """Store tiny objects straight in moto's backend (no HTTP: thousands a second)."""
        backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
        for key in keys:
            backend.put_object(BUCKET, key, b"x")

    def keys(self) -> set[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
        return {item["Key"] for page in pages for item in page.get("Contents", [])}

    def source(self, name: str, data: bytes | None = None) -> SourceImage:
        """A tracked source uploaded through the storage (its sha256 and version known)."""
        return images.tracked(name, data or images.jpeg(80, 60))


def served(key: str, *versions: SourceVersion | None) -> set[str]:
    """The keys of ``key`` in every revision the published document serves, for each of ``versions``."""
    document = publishing.published_document()
    return {
        build_key(key, name, fingerprint, spec.format, document.prefix, version)
        for name, preset in document.presets.items()
        for fingerprint, spec in preset.revisions.items()
        for version in versions
    }


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def publish() -> None:
    """Publish the presets as they are to the CloudFront target (what a deploy_edge run records)."""
    publishing.record(publishing.draft_document(), "cloudfront", status="succeeded")
    publishing.forget()


@pytest.fixture
def s3_site(aws: str, presets: dict, settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    """The site on S3 behind CloudFront, the ``presets`` published there, the requests of its clients recorded."""
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    distribution = boto3.client("cloudfront", region_name="us-east-1").create_distribution(
        DistributionConfig=DISTRIBUTION
    )["Distribution"]
    settings.STORAGES = {
        **settings.STORAGES,
        "s3": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {"bucket_name": BUCKET, "region_name": "us-east-1"},
        },
    }
    cdn_url = f"https://{distribution['DomainName']}"
    settings.IMAGEVARIANTS = {
        "STORAGE": "s3",
        "CDN_URL": cdn_url,
        "DISTRIBUTION_ID": distribution["Id"],
        "BUCKET": BUCKET,
    }
    publish()
    wire = Wire()
    make = purge.cloudfront_client.__wrapped__  # a client of this test's credentials, recorded, each time
    monkeypatch.setattr(purge, "cloudfront_client", lambda: wire.listen(make()))
    site = Site(wire, distribution["Id"], cdn_url, s3)
    site.listen()
    yield site


@pytest.fixture
def without_cloudfront_permission(
    aws: str, s3_site: Site, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """From now on the site's credentials are an IAM user allowed S3 and nothing else, enforced by moto."""
    iam = boto3.client("iam", region_name="us-east-1")
    iam.create_user(UserName="site")
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    iam.put_user_policy(UserName="site", PolicyName="media", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="site")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    monkeypatch.delenv("AWS_SESSION_TOKEN")
    options = {
        **settings.STORAGES["s3"]["OPTIONS"],
        "access_key": key["AccessKeyId"],
        "secret_key": key["SecretAccessKey"],
    }
    settings.STORAGES = {**settings.STORAGES, "s3": {**settings.STORAGES["s3"], "OPTIONS": options}}
    s3_site.listen()
    s3_site.s3 = boto3.session.Session().client("s3", region_name="us-east-1")  # the test's own, as the user
    requests.post(f"{aws}/moto-api/reset-auth", data=b"0", timeout=10)
    try:
        yield
    finally:
        requests.post(f"{aws}/moto-api/reset-auth", data=b"inf", timeout=10)
