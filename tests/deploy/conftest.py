"""A bucket and a CloudFront distribution on the moto server, and a recorder of what boto3 sends."""

from __future__ import annotations

import copy

import boto3
import pytest

from imagevariants.deploy import aws

DISTRIBUTION_CONFIG = {
    "CallerReference": "imagevariants-tests",
    "Comment": "site media",
    "Enabled": True,
    "Origins": {
        "Quantity": 1,
        "Items": [
            {
                "Id": "media-origin",
                "DomainName": "media.s3.eu-west-1.amazonaws.com",
                "OriginPath": "",
                "S3OriginConfig": {"OriginAccessIdentity": ""},
            }
        ],
    },
    "DefaultCacheBehavior": {
        "TargetOriginId": "media-origin",
        "ViewerProtocolPolicy": "redirect-to-https",
        "MinTTL": 0,
        "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
        "LambdaFunctionAssociations": {
            "Quantity": 1,
            "Items": [
                {
                    "LambdaFunctionARN": "arn:aws:lambda:us-east-1:123456789012:function:headers:3",
                    "EventType": "viewer-response",
                    "IncludeBody": False,
                }
            ],
        },
    },
}


class Recorder:
    """Every call the deployer's clients make, with the parameters as sent on the wire (botocore's own hook).

    moto drops LambdaFunctionAssociations when a distribution is read back and ignores IfMatch, so tests check
    the UpdateDistribution request that was sent rather than what moto returns.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []
        self.failures: dict[str, Exception] = {}
        self.configs: list[dict] = []  # DistributionConfig as GetDistributionConfig answered it
        self.etags: list[str] = []

    def answered(self, http_response, parsed, model, **kwargs):
        if model.name == "GetDistributionConfig" and "DistributionConfig" in parsed:
            self.configs.append(copy.deepcopy(parsed["DistributionConfig"]))
            self.etags.append(parsed["ETag"])

    def hook(self, model, params, **kwargs):
        self.calls.append((model.name, params))
        if model.name in self.failures:
            raise self.failures[model.name]

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def sent(self, name: str) -> list[dict]:
        return [params for call, params in self.calls if call == name]

    def fail(self, operation: str, code: str = "AccessDenied") -> None:
        from botocore.exceptions import ClientError

        error = {"Error": {"Code": code, "Message": f"injected failure of {operation}"}}
        self.failures[operation] = ClientError(error, operation)


@pytest.fixture
def recorder(monkeypatch) -> Recorder:
    recorder = Recorder()
    made = aws.clients

    def clients():
        result = made()
        for client in result.values():
            client.meta.events.register("provide-client-params.*.*", recorder.hook)
            client.meta.events.register("after-call.*.*", recorder.answered)
        return result

    monkeypatch.setattr(aws, "clients", clients)
    return recorder


@pytest.fixture
def distribution(aws, settings) -> str:
    """A bucket in eu-west-1 and a distribution in front of it; settings point the deployer at them."""
    boto3.client("s3", region_name="eu-west-1").create_bucket(
        Bucket="media", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    created = boto3.client("cloudfront", region_name="us-east-1").create_distribution(
        DistributionConfig=DISTRIBUTION_CONFIG
    )
    distribution_id = created["Distribution"]["Id"]
    settings.IMAGEVARIANTS = {
        "CDN_URL": f"https://{created['Distribution']['DomainName']}",
        "DISTRIBUTION_ID": distribution_id,
        "BUCKET": "media",
    }
    return distribution_id


def app_distribution(settings, reference: str, origin: str = "app") -> str:
    """A distribution whose default origin is a Django app (no bucket); settings point the deployer at it and at the
    bucket ``media`` (which the caller makes, or not)."""
    config = copy.deepcopy(DISTRIBUTION_CONFIG)
    config["CallerReference"] = reference
    config["Origins"]["Items"] = [
        {
            "Id": origin,
            "DomainName": "www.example.com",
            "OriginPath": "",
            "CustomOriginConfig": {"HTTPPort": 80, "HTTPSPort": 443, "OriginProtocolPolicy": "https-only"},
        }
    ]
    config["DefaultCacheBehavior"]["TargetOriginId"] = origin
    created = boto3.client("cloudfront", region_name="us-east-1").create_distribution(DistributionConfig=config)
    settings.IMAGEVARIANTS = {
        "CDN_URL": f"https://{created['Distribution']['DomainName']}",
        "DISTRIBUTION_ID": created["Distribution"]["Id"],
        "BUCKET": "media",
    }
    return created["Distribution"]["Id"]


@pytest.fixture
def skip_bundle_run(monkeypatch) -> None:
    """The bundle's own run under the runtime's Python is tested in test_bundle.py; elsewhere it only repeats it."""
    from imagevariants import deploy

    monkeypatch.setattr(deploy, "check_bundle", lambda bundle, report: report("(bundle run skipped)"))
