"""Where the edge reads sources and writes variants: a small interface, and its S3 implementation."""

from __future__ import annotations

import functools
import re
from typing import Any, Protocol

from .errors import SourceForbidden, SourceMissing, SourceTooLarge

_S3_DOMAIN_RE = re.compile(
    r"^(?P<bucket>.+?)\.s3(?:[.-](?:dualstack\.)?(?P<region>[a-z]{2}(?:-[a-z]+)+-\d))?\.amazonaws\.com$"
)


class Store(Protocol):
    """Read a source, write a variant. Implementations: :class:`S3Store` here, the Django storage adapter."""

    def read(self, key: str, max_bytes: int) -> bytes:
        """Return the object's bytes; raise SourceMissing, or SourceTooLarge above ``max_bytes``."""
        ...

    def write(self, key: str, data: bytes, content_type: str, cache_control: str) -> None:
        """Store a variant with real Content-Type and Cache-Control; raise any exception on failure."""
        ...


@functools.lru_cache(maxsize=8)
def s3_client(region: str) -> Any:
    """One client per region per container. No endpoint is passed, so ``AWS_ENDPOINT_URL_S3`` is honoured.

    Timeouts and retries fit an origin-response trigger's 30 s (the handler also bounds each call by the request's
    deadline): a stalled S3 costs seconds, not the whole request.

    Made by a botocore session of its own (none is shared between threads), not by boto3, with a model loader that
    knows S3 only: a cold start then skips importing boto3 and s3transfer, which the two calls made here do not
    need, and listing every service's model folder (about 450, twice) to find S3 among them. Measured in
    benchmarks/cold_start.py.
    """
    from botocore.config import Config  # in the Lambda runtime; imported late so that the pipeline works without it
    from botocore.session import get_session

    config = Config(connect_timeout=2, read_timeout=5, retries={"total_max_attempts": 2, "mode": "standard"})
    session = get_session()
    session.register_component("data_loader", _s3_models())
    return session.create_client("s3", region_name=region, config=config)


def _s3_models() -> Any:
    """botocore's loader of the models it ships (``AWS_DATA_PATH`` is not read), told that S3 is the only service."""
    from botocore.loaders import Loader

    class S3Models(Loader):
        def list_available_services(self, type_name: str) -> list[str]:
            return ["s3"]

    return S3Models()


def parse_s3_domain(domain: str) -> tuple[str, str | None]:
    """``bucket.s3.eu-west-1.amazonaws.com`` -> (bucket, region); the region is None in the global form."""
    match = _S3_DOMAIN_RE.match(domain)
    if not match:
        raise ValueError(f"not an S3 origin domain: {domain!r}")
    return match.group("bucket"), match.group("region")


def parse_origin(origin: dict[str, Any]) -> tuple[str, str, str]:
    """Return (bucket, region, key prefix) of a CloudFront event's S3 origin."""
    s3 = origin["s3"]
    bucket, region = parse_s3_domain(s3["domainName"])
    path = s3.get("path", "").strip("/")
    return bucket, s3.get("region") or region or "us-east-1", f"{path}/" if path else ""


class S3Store:
    """Sources and variants in one S3 bucket, under the origin path if the distribution has one."""

    def __init__(self, bucket: str, region: str, key_prefix: str = "", client: Any = None) -> None:
        self.bucket, self.region, self.key_prefix = bucket, region, key_prefix
        self._client = client

    @classmethod
    def from_origin(cls, origin: dict[str, Any]) -> S3Store:
        return cls(*parse_origin(origin))

    @property
    def client(self) -> Any:
        return self._client or s3_client(self.region)

    def read(self, key: str, max_bytes: int) -> bytes:
        from botocore.exceptions import ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.key_prefix + key)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("403", "AccessDenied"):  # the role may not read there (or the key is missing, no ListBucket)
                raise SourceForbidden(
                    f"access denied reading {key!r} (missing, or outside what the role may read)"
                ) from None
            if code in ("NoSuchKey", "404", "NotFound"):
                raise SourceMissing(f"no source at {key!r}") from None
            raise
        body = response["Body"]
        try:
            if response.get("ContentLength", 0) > max_bytes:
                raise SourceTooLarge(f"source is {response['ContentLength']} bytes, over the limit of {max_bytes}")
            data = body.read(max_bytes + 1)
        finally:
            body.close()
        if len(data) > max_bytes:
            raise SourceTooLarge(f"source is over the limit of {max_bytes} bytes")
        return data

    def write(self, key: str, data: bytes, content_type: str, cache_control: str) -> None:
        self.client.put_object(
            Bucket=self.bucket,
            Key=self.key_prefix + key,
            Body=data,
            ContentType=content_type,
            CacheControl=cache_control,
        )
