"""deploy_edge --create-distribution against the moto server: the site's own distribution for its media bucket
(an S3 origin read through an origin access control, the bucket policy that lets only it read, the variant
behaviour cached on the URL alone), idempotence, the settings it prints, the dry run; and an existing distribution
whose origin is the Django app, which gets the bucket as the variant behaviour's origin.

moto drops LambdaFunctionAssociations, OriginAccessControlId and S3OriginConfig when a distribution is read back,
ignores IfMatch and has no cache-policy API: these tests check what was SENT (the ``recorder``) for those, and read
back what moto keeps (the bucket policy, the tags, the origin access control).
"""

from __future__ import annotations

import io
import json
import re

import boto3
import pytest
from django.core.checks import registry
from django.core.management import CommandError, call_command

from imagevariants import publishing, variants
from imagevariants.checks import TAG
from imagevariants.models import Publication
from tests.deploy.conftest import app_distribution as before_the_app

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("skip_bundle_run")]
CACHE_POLICY = "b2884449-e4de-46a7-ac36-70bc7f1ddd6d"  # managed CachingOptimizedForUncompressedObjects
READ_ONLY = {
    "TargetOriginId": "imagevariants-media",
    "ViewerProtocolPolicy": "redirect-to-https",
    "AllowedMethods": {
        "Quantity": 2,
        "Items": ["GET", "HEAD"],
        "CachedMethods": {"Quantity": 2, "Items": ["GET", "HEAD"]},
    },
    "Compress": False,
    "CachePolicyId": CACHE_POLICY,
    "LambdaFunctionAssociations": {"Quantity": 0},
}


def deploy(*args: str) -> str:
    out = io.StringIO()
    call_command("deploy_edge", "--no-wait", *args, stdout=out)
    return out.getvalue()


def writes(recorder) -> list[str]:
    return [name for name in recorder.names() if not name.startswith(("Get", "List"))]


def printed_settings(output: str) -> dict[str, str]:
    return dict(re.findall(r'^    "(CDN_URL|DISTRIBUTION_ID)": "([^"]+)",$', output, flags=re.MULTILINE))


def bucket_policy(bucket: str = "media") -> dict:
    return json.loads(boto3.client("s3", region_name="eu-west-1").get_bucket_policy(Bucket=bucket)["Policy"])


def our_statement(distribution_arn: str, resource: str = "arn:aws:s3:::media/*") -> dict:
    return {
        "Sid": f"ImageVariantsCloudFront{distribution_arn.rsplit('/', 1)[-1]}",
        "Effect": "Allow",
        "Principal": {"Service": "cloudfront.amazonaws.com"},
        "Action": "s3:GetObject",
        "Resource": resource,
        "Condition": {"StringEquals": {"AWS:SourceArn": distribution_arn}},
    }


def distributions() -> list[dict]:
    listing = boto3.client("cloudfront", region_name="us-east-1").list_distributions()["DistributionList"]
    return listing.get("Items") or []


def association(behaviour: dict) -> list[dict]:
    return behaviour.get("LambdaFunctionAssociations", {}).get("Items", [])


@pytest.fixture
def bucket(aws, settings) -> str:
    """A new user's site: the media bucket in eu-west-1, no distribution, no CDN_URL, no DISTRIBUTION_ID."""
    boto3.client("s3", region_name="eu-west-1").create_bucket(
        Bucket="media", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    settings.IMAGEVARIANTS = {"BUCKET": "media"}
    return "media"


def test_create_distribution(presets, bucket, recorder):
    output = deploy("--create-distribution")
    cloudfront = boto3.client("cloudfront", region_name="us-east-1")

    # The origin access control: SigV4, signing every request, for S3.
    [sent] = recorder.sent("CreateOriginAccessControl")
    config = sent["OriginAccessControlConfig"]
    assert config.pop("Description")
    assert config == {
        "Name": "imagevariants-edge-media",
        "SigningProtocol": "sigv4",
        "SigningBehavior": "always",
        "OriginAccessControlOriginType": "s3",
    }
    [oac] = cloudfront.list_origin_access_controls()["OriginAccessControlList"]["Items"]

    # The distribution, as sent (moto drops the origin's access control on read): one S3 origin read through the
    # origin access control with no OAI, the originals on the default behaviour and the variant behaviour, both
    # read-only, HTTPS, on the managed cache policy (no ForwardedValues: the URL alone is the key), not compressed.
    [created] = recorder.sent("CreateDistributionWithTags")
    assert created["DistributionConfigWithTags"]["Tags"] == {
        "Items": [{"Key": "imagevariants:bucket", "Value": "media"}]
    }
    config = created["DistributionConfigWithTags"]["DistributionConfig"]
    assert config["Origins"] == {
        "Quantity": 1,
        "Items": [
            {
                "Id": "imagevariants-media",
                "DomainName": "media.s3.eu-west-1.amazonaws.com",
                "OriginPath": "",
                "S3OriginConfig": {"OriginAccessIdentity": ""},
                "OriginAccessControlId": oac["Id"],
            }
        ],
    }
    assert config["DefaultCacheBehavior"] == READ_ONLY
    assert config["CacheBehaviors"] == {"Quantity": 1, "Items": [{"PathPattern": "_v/*", **READ_ONLY}]}
    assert (config["HttpVersion"], config["PriceClass"], config["Enabled"]) == ("http2and3", "PriceClass_All", True)
    assert config["CallerReference"] == f"imagevariants-media-{oac['Id']}"  # the same for a retried creation
    [distribution] = distributions()

    # Only this distribution may read the bucket, and only GetObject (the function writes with its own role).
    assert bucket_policy() == {"Version": "2012-10-17", "Statement": [our_statement(distribution["ARN"])]}

    # Then the deployment: the function on the variant behaviour, which keeps its cache policy.
    deployment = Publication.objects.get(target="cloudfront")
    assert deployment.status == "succeeded" and deployment.distribution_id == distribution["Id"]
    [update] = recorder.sent("UpdateDistribution")
    assert update["Id"] == distribution["Id"]
    [behaviour] = update["DistributionConfig"]["CacheBehaviors"]["Items"]
    assert behaviour["PathPattern"] == "_v/*" and behaviour["CachePolicyId"] == CACHE_POLICY
    assert association(behaviour) == [
        {"LambdaFunctionARN": deployment.function_arn, "EventType": "origin-response", "IncludeBody": False}
    ]
    assert not association(update["DistributionConfig"]["DefaultCacheBehavior"])
    tags = boto3.client("lambda", region_name="us-east-1").list_tags(Resource=deployment.function_arn.rsplit(":", 1)[0])
    assert tags["Tags"]["imagevariants:distribution"] == distribution["Id"]

    # The settings to add, exactly.
    assert printed_settings(output) == {
        "CDN_URL": f"https://{distribution['DomainName']}",
        "DISTRIBUTION_ID": distribution["Id"],
    }
    assert output.rstrip().endswith("while DISTRIBUTION_ID is set without it.")


def test_a_second_run_finds_its_distribution_and_creates_nothing(presets, bucket, recorder, settings):
    first = deploy("--create-distribution")
    [distribution] = distributions()
    recorder.calls.clear()
    second = deploy("--create-distribution")
    assert writes(recorder) == []  # no Create*, no Put*, no Update*: only reads
    assert f"Distribution {distribution['Id']} (https://{distribution['DomainName']}) is this site's" in second
    assert "Up to date" in second and printed_settings(second) == printed_settings(first)
    assert len(distributions()) == 1
    assert Publication.objects.filter(target="cloudfront").count() == 1

    # With the printed settings in place: still nothing created, and nothing more to add.
    settings.IMAGEVARIANTS = {**settings.IMAGEVARIANTS, **printed_settings(first)}
    recorder.calls.clear()
    third = deploy("--create-distribution")
    assert writes(recorder) == [] and "Up to date" in third
    assert printed_settings(third) == {}
    assert f"The settings name this distribution: CDN_URL https://{distribution['DomainName']}" in third


def test_the_printed_settings_switch_the_site_to_the_distribution(presets, bucket, recorder, settings):
    output = deploy("--create-distribution")
    deployment = Publication.objects.get(target="cloudfront")
    lines = printed_settings(output)
    # Until they are set the site keeps the local edge's URLs...
    assert not variants.variant_url("images/cat.jpg", "md").startswith(lines["CDN_URL"])
    # ... and check warns while only DISTRIBUTION_ID is set.
    settings.IMAGEVARIANTS = {**settings.IMAGEVARIANTS, "DISTRIBUTION_ID": lines["DISTRIBUTION_ID"]}
    assert "imagevariants.W005" in {message.id for message in registry.run_checks(tags=[TAG])}
    # Both set: the tags emit the distribution's URLs, of the presets just deployed, and check is content.
    settings.IMAGEVARIANTS = {**settings.IMAGEVARIANTS, **lines}
    settings.ROOT_URLCONF = "tests.urls_without_edge"
    assert "imagevariants.W005" not in {message.id for message in registry.run_checks(tags=[TAG])}
    assert publishing.published_document().sha256 == deployment.document_sha256
    url = variants.variant_url("images/cat.jpg", "md")
    assert url.startswith(f"{lines['CDN_URL']}/_v/md.{presets['md'].fingerprint}/images/cat.jpg")


def test_an_existing_bucket_policy_keeps_its_statements(presets, bucket, recorder):
    s3 = boto3.client("s3", region_name="eu-west-1")
    other = {
        "Sid": "BackupsRead",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::123456789012:role/backups"},
        "Action": ["s3:GetObject", "s3:ListBucket"],
        "Resource": ["arn:aws:s3:::media", "arn:aws:s3:::media/*"],
    }
    s3.put_bucket_policy(
        Bucket="media", Policy=json.dumps({"Version": "2012-10-17", "Id": "site", "Statement": [other]})
    )
    deploy("--create-distribution")
    [distribution] = distributions()
    assert bucket_policy() == {
        "Version": "2012-10-17",
        "Id": "site",
        "Statement": [other, our_statement(distribution["ARN"])],
    }
    [sent] = recorder.sent("PutBucketPolicy")
    assert json.loads(sent["Policy"]) == bucket_policy()


def test_the_bucket_and_origin_path_come_from_the_storage(presets, aws, recorder, settings):
    """No BUCKET setting: the S3 storage's bucket_name, and its location as the origin path (the keys the tags emit
    are relative to it), which scopes the bucket policy and the role's policy."""
    boto3.client("s3", region_name="eu-west-1").create_bucket(
        Bucket="media", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    settings.STORAGES = {
        **settings.STORAGES,
        "s3": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {"bucket_name": "media", "region_name": "eu-west-1", "location": "site"},
        },
    }
    settings.IMAGEVARIANTS = {"STORAGE": "s3"}
    deploy("--create-distribution")
    [created] = recorder.sent("CreateDistributionWithTags")
    [origin] = created["DistributionConfigWithTags"]["DistributionConfig"]["Origins"]["Items"]
    assert (origin["DomainName"], origin["OriginPath"]) == ("media.s3.eu-west-1.amazonaws.com", "/site")
    [distribution] = distributions()
    assert bucket_policy()["Statement"] == [our_statement(distribution["ARN"], "arn:aws:s3:::media/site/*")]
    iam = boto3.client("iam", region_name="us-east-1")
    policy = iam.get_role_policy(RoleName="imagevariants-edge-media", PolicyName="imagevariants-edge")["PolicyDocument"]
    resources = {statement["Sid"]: statement["Resource"] for statement in policy["Statement"]}
    assert resources["WriteVariantsOnly"] == "arn:aws:s3:::media/site/_v/*"


def test_dry_run_creates_nothing_and_says_what_it_would(presets, bucket, recorder):
    output = deploy("--dry-run", "--create-distribution")
    assert writes(recorder) == []
    assert "Would create (nothing is changed by a dry run; AWS was only read):" in output
    assert "CreateOriginAccessControl imagevariants-edge-media (SigV4, signing always, S3)" in output
    assert "CreateDistributionWithTags (imagevariants:bucket=media): origin imagevariants-media" in output
    assert f"cache policy {CACHE_POLICY}" in output and "http2and3" in output
    assert "PutBucketPolicy on bucket media: s3:GetObject on arn:aws:s3:::media/* for cloudfront" in output
    assert "+ md:" in output and "Would then deploy to it: role imagevariants-edge-media" in output
    assert distributions() == [] and not Publication.objects.filter(target="cloudfront").exists()
    cloudfront = boto3.client("cloudfront", region_name="us-east-1")
    assert not cloudfront.list_origin_access_controls()["OriginAccessControlList"].get("Items")
    with pytest.raises(boto3.client("s3").exceptions.ClientError, match="NoSuchBucketPolicy"):
        bucket_policy()

    # Once it exists, the dry run reads it and the deployment's calls, and still changes nothing.
    deploy("--create-distribution")
    boto3.client("s3", region_name="eu-west-1").delete_bucket_policy(Bucket="media")
    recorder.calls.clear()
    output = deploy("--dry-run", "--create-distribution")
    assert writes(recorder) == [] and "nothing to create" in output
    assert "Would call PutBucketPolicy on bucket media" in output
    with pytest.raises(boto3.client("s3").exceptions.ClientError, match="NoSuchBucketPolicy"):
        bucket_policy()


def test_settings_naming_another_distribution_are_refused(presets, distribution, recorder, settings):
    """DISTRIBUTION_ID names a distribution in front of the bucket that is not tagged as the site's own."""
    settings.IMAGEVARIANTS = {**settings.IMAGEVARIANTS, "CDN_URL": ""}
    with pytest.raises(CommandError, match=f"names {distribution}, not the distribution made for bucket media"):
        deploy("--create-distribution")
    assert writes(recorder) == []


@pytest.fixture
def app_distribution(aws, settings) -> str:
    """A distribution in front of the Django app (its default origin), and the media bucket beside it."""
    boto3.client("s3", region_name="eu-west-1").create_bucket(
        Bucket="media", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    return before_the_app(settings, "imagevariants-tests-app")


def test_an_app_origin_gets_the_bucket_as_the_variant_origin(presets, app_distribution, recorder):
    # The dry run says what it would add, reading only.
    output = deploy("--dry-run")
    assert writes(recorder) == []
    assert "no _v/* behaviour yet, made for the bucket" in output
    assert "origin app is not an S3 bucket: bucket media would be its origin imagevariants-media" in output
    assert "(CreateOriginAccessControl)" in output and "PutBucketPolicy" in output

    recorder.calls.clear()
    output = deploy()
    deployment = Publication.objects.get(target="cloudfront")
    assert deployment.status == "succeeded"
    [oac] = boto3.client("cloudfront", region_name="us-east-1").list_origin_access_controls()[
        "OriginAccessControlList"
    ]["Items"]
    assert (oac["Name"], oac["SigningBehavior"], oac["SigningProtocol"]) == (
        "imagevariants-edge-media",
        "always",
        "sigv4",
    )

    # As sent: the app's origin and default behaviour as they were, the bucket added as an origin through the
    # origin access control, and a variant behaviour on it with the function.
    [update] = recorder.sent("UpdateDistribution")
    config, before = update["DistributionConfig"], recorder.configs[-1]
    assert config["DefaultCacheBehavior"] == before["DefaultCacheBehavior"]
    assert config["Origins"] == {
        "Quantity": 2,
        "Items": [
            before["Origins"]["Items"][0],
            {
                "Id": "imagevariants-media",
                "DomainName": "media.s3.eu-west-1.amazonaws.com",
                "OriginPath": "",
                "S3OriginConfig": {"OriginAccessIdentity": ""},
                "OriginAccessControlId": oac["Id"],
            },
        ],
    }
    association = {"LambdaFunctionARN": deployment.function_arn, "EventType": "origin-response", "IncludeBody": False}
    assert config["CacheBehaviors"] == {
        "Quantity": 1,
        "Items": [
            {
                "PathPattern": "_v/*",
                **READ_ONLY,
                "LambdaFunctionAssociations": {"Quantity": 1, "Items": [association]},
            }
        ],
    }
    # The bucket policy lets this distribution read, put before the distribution used the origin.
    arn = boto3.client("cloudfront", region_name="us-east-1").get_distribution(Id=app_distribution)["Distribution"][
        "ARN"
    ]
    assert bucket_policy()["Statement"] == [our_statement(arn)]
    names = recorder.names()
    assert names.index("PutBucketPolicy") < names.index("UpdateDistribution")
    # The role reads and writes the bucket.
    iam = boto3.client("iam", region_name="us-east-1")
    policy = iam.get_role_policy(RoleName="imagevariants-edge-media", PolicyName="imagevariants-edge")["PolicyDocument"]
    assert {statement["Sid"]: statement["Resource"] for statement in policy["Statement"]}["WriteVariantsOnly"] == (
        "arn:aws:s3:::media/_v/*"
    )

    # Run again: the variant behaviour now reads the bucket, so nothing is added or created.
    recorder.calls.clear()
    output = deploy()
    assert "Up to date" in output and writes(recorder) == []
