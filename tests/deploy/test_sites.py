"""Several sites in one AWS account: each gets its own function and role, none can take over another's, and the
role's policy is repaired even when the presets are up to date.

moto drops LambdaFunctionAssociations on read, so these tests check what was sent on the wire (the ``recorder``).
"""

from __future__ import annotations

import copy
import io
import json
import zipfile

import boto3
import pytest
from django.core.management import CommandError, call_command

from imagevariants.deploy import Options, aws
from imagevariants.models import Publication
from tests.deploy.conftest import DISTRIBUTION_CONFIG

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("skip_bundle_run")]
PRODUCTION = ("imagevariants-edge-media", "imagevariants-edge-media")  # (function, role) by default
LEGACY_NAMES = {"FUNCTION_NAME": "imagevariants-edge", "ROLE_NAME": "imagevariants-edge"}  # before per-site
STAGING = ("imagevariants-edge-staging-media", "imagevariants-edge-staging-media")
WRITES = {
    "CreateRole",
    "TagRole",
    "PutRolePolicy",
    "UpdateAssumeRolePolicy",
    "DetachRolePolicy",
    "DeleteRolePolicy",
    "CreateFunction",
    "TagResource",
    "UpdateFunctionCode",
    "UpdateFunctionConfiguration",
    "PublishVersion",
    "UpdateDistribution",
}


def deploy(*args: str) -> str:
    out = io.StringIO()
    call_command("deploy_edge", "--no-wait", *args, stdout=out)
    return out.getvalue()


def policy_resources(document: dict | str) -> dict[str, object]:
    document = json.loads(document) if isinstance(document, str) else document
    return {statement["Sid"]: statement["Resource"] for statement in document["Statement"]}


def role_tags(role_name: str) -> dict[str, str]:
    role = boto3.client("iam", region_name="us-east-1").get_role(RoleName=role_name)["Role"]
    return {tag["Key"]: tag["Value"] for tag in role.get("Tags", [])}


@pytest.fixture
def staging(distribution, settings) -> dict:
    """A second site in the same account: bucket staging-media behind its own distribution. Returns its settings;
    the test switches to them (and, each site having its own database, to an empty deployment history)."""
    boto3.client("s3", region_name="eu-west-1").create_bucket(
        Bucket="staging-media", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    config = copy.deepcopy(DISTRIBUTION_CONFIG)
    config["CallerReference"] = "imagevariants-tests-staging"
    config["Origins"]["Items"][0]["DomainName"] = "staging-media.s3.eu-west-1.amazonaws.com"
    created = boto3.client("cloudfront", region_name="us-east-1").create_distribution(DistributionConfig=config)
    return {
        "CDN_URL": f"https://{created['Distribution']['DomainName']}",
        "DISTRIBUTION_ID": created["Distribution"]["Id"],
        "BUCKET": "staging-media",
    }


def switch_to(settings, site: dict) -> None:
    settings.IMAGEVARIANTS = site
    Publication.objects.all().delete()  # the other site's database holds its own deployments


def test_two_sites_get_their_own_function_and_role(presets, distribution, staging, recorder, settings):
    deploy()
    switch_to(settings, staging)
    deploy()

    assert [c["RoleName"] for c in recorder.sent("CreateRole")] == [PRODUCTION[1], STAGING[1]]
    assert [c["FunctionName"] for c in recorder.sent("CreateFunction")] == [PRODUCTION[0], STAGING[0]]
    # Each is tagged, as sent, with the site it serves.
    tags = [
        {"imagevariants:bucket": "media", "imagevariants:distribution": distribution},
        {"imagevariants:bucket": "staging-media", "imagevariants:distribution": staging["DISTRIBUTION_ID"]},
    ]
    assert [call["Tags"] for call in recorder.sent("CreateFunction")] == tags
    assert [{t["Key"]: t["Value"] for t in call["Tags"]} for call in recorder.sent("CreateRole")] == tags
    # Each role's policy names its own bucket; production's was not rewritten by staging's deploy.
    [production_put, staging_put] = recorder.sent("PutRolePolicy")
    assert production_put["RoleName"] == PRODUCTION[1] and staging_put["RoleName"] == STAGING[1]
    assert policy_resources(staging_put["PolicyDocument"])["WriteVariantsOnly"] == "arn:aws:s3:::staging-media/_v/*"
    iam = boto3.client("iam", region_name="us-east-1")
    held = iam.get_role_policy(RoleName=PRODUCTION[1], PolicyName=aws.POLICY_NAME)["PolicyDocument"]
    assert policy_resources(held)["WriteVariantsOnly"] == "arn:aws:s3:::media/_v/*"
    # Each distribution was given its own function's version.
    [first, second] = recorder.sent("UpdateDistribution")
    assert first["Id"] == distribution and second["Id"] == staging["DISTRIBUTION_ID"]
    for update, name in ((first, PRODUCTION[0]), (second, STAGING[0])):
        [behaviour] = update["DistributionConfig"]["CacheBehaviors"]["Items"]
        assert f":function:{name}:1" in behaviour["LambdaFunctionAssociations"]["Items"][-1]["LambdaFunctionARN"]


@pytest.mark.parametrize(
    "forced, refused",
    [
        ({"FUNCTION_NAME": PRODUCTION[0], "ROLE_NAME": PRODUCTION[1]}, "Function 'imagevariants-edge-media'"),
        ({"FUNCTION_NAME": PRODUCTION[0]}, "Function 'imagevariants-edge-media'"),
        ({"ROLE_NAME": PRODUCTION[1]}, "Role 'imagevariants-edge-media'"),
    ],
)
def test_a_site_cannot_take_over_another_sites_role_or_function(
    presets, distribution, staging, recorder, settings, forced, refused
):
    deploy()
    switch_to(settings, {**staging, **forced})
    recorder.calls.clear()
    with pytest.raises(CommandError) as excinfo:
        deploy()
    message = str(excinfo.value)
    setting = "FUNCTION_NAME" if refused.startswith("Function") else "ROLE_NAME"
    assert message.startswith(refused) and "\n" not in message
    assert "serves bucket 'media', not 'staging-media'" in message and setting in message
    assert WRITES.isdisjoint(recorder.names()), recorder.names()  # nothing changed on the wire
    assert Publication.objects.get(target="cloudfront").status == "failed"
    iam = boto3.client("iam", region_name="us-east-1")
    held = iam.get_role_policy(RoleName=PRODUCTION[1], PolicyName=aws.POLICY_NAME)["PolicyDocument"]
    assert policy_resources(held)["WriteVariantsOnly"] == "arn:aws:s3:::media/_v/*"


def test_a_role_serving_another_distribution_of_the_same_bucket_is_refused(
    presets, distribution, staging, recorder, settings
):
    deploy()
    switch_to(settings, {**staging, "BUCKET": "media"})  # another site in front of the same bucket
    recorder.calls.clear()
    with pytest.raises(CommandError, match=f"serves distribution {distribution} \\(bucket 'media'\\)"):
        deploy()
    assert WRITES.isdisjoint(recorder.names())


def legacy_site(bucket: str) -> None:
    """What an earlier release made: role and function `imagevariants-edge`, untagged, the policy on ``bucket``."""
    iam = boto3.client("iam", region_name="us-east-1")
    role = iam.create_role(RoleName="imagevariants-edge", AssumeRolePolicyDocument=json.dumps(aws.TRUST_POLICY))
    policy = aws.role_policy(bucket, "", "_v/", "imagevariants-edge", ["images/"])
    iam.put_role_policy(RoleName="imagevariants-edge", PolicyName=aws.POLICY_NAME, PolicyDocument=json.dumps(policy))
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("index.py", "def handler(event, context): return event")
    boto3.client("lambda", region_name="us-east-1").create_function(
        FunctionName="imagevariants-edge",
        Role=role["Role"]["Arn"],
        Runtime="python3.12",
        Handler="index.handler",
        Code={"ZipFile": code.getvalue()},
    )


def test_an_earlier_releases_role_and_function_on_this_bucket_are_adopted(presets, distribution, recorder, settings):
    legacy_site("media")
    settings.IMAGEVARIANTS = {**settings.IMAGEVARIANTS, **LEGACY_NAMES}  # as the deploying guide says
    output = deploy()
    tags = {"imagevariants:bucket": "media", "imagevariants:distribution": distribution}
    [tag_role] = recorder.sent("TagRole")
    assert tag_role["RoleName"] == "imagevariants-edge"
    assert {t["Key"]: t["Value"] for t in tag_role["Tags"]} == tags == role_tags("imagevariants-edge")
    [tag_function] = recorder.sent("TagResource")
    assert tag_function["Resource"].endswith(":function:imagevariants-edge") and tag_function["Tags"] == tags
    assert recorder.sent("CreateFunction") == [] and recorder.sent("CreateRole") == []
    assert Publication.objects.get(target="cloudfront").function_arn.endswith(":function:imagevariants-edge:1")
    assert "Role imagevariants-edge: tagged as serving bucket media" in output


def test_an_earlier_releases_role_on_another_bucket_is_refused(presets, distribution, recorder, settings):
    legacy_site("staging-media")
    settings.IMAGEVARIANTS = {**settings.IMAGEVARIANTS, **LEGACY_NAMES}  # as the deploying guide says
    with pytest.raises(CommandError, match="serves bucket 'staging-media', not 'media': set FUNCTION_NAME"):
        deploy()
    assert WRITES.isdisjoint(recorder.names())
    assert role_tags("imagevariants-edge") == {}


def test_a_tampered_role_policy_is_repaired_by_an_up_to_date_deploy(presets, distribution, recorder):
    deploy()
    [role] = [call["RoleName"] for call in recorder.sent("CreateRole")]
    iam = boto3.client("iam", region_name="us-east-1")
    tampered = aws.role_policy("staging-media", "", "_v/", "imagevariants-edge", ["images/"])
    iam.put_role_policy(RoleName=role, PolicyName=aws.POLICY_NAME, PolicyDocument=json.dumps(tampered))
    recorder.calls.clear()
    output = deploy()
    assert "Up to date" in output and "inline policy imagevariants-edge differed and was rewritten" in output
    [put] = recorder.sent("PutRolePolicy")
    assert put["RoleName"] == role and put["PolicyName"] == aws.POLICY_NAME
    assert policy_resources(put["PolicyDocument"]) == {
        "ReadSources": ["arn:aws:s3:::media/images/*"],
        "WriteVariantsOnly": "arn:aws:s3:::media/_v/*",
        "Logs": f"arn:aws:logs:*:*:log-group:/aws/lambda/us-east-1.{PRODUCTION[0]}:*",
    }
    assert set(recorder.names()) & WRITES == {"PutRolePolicy"}  # no new version, the distribution untouched
    assert Publication.objects.filter(target="cloudfront").count() == 1
    held = iam.get_role_policy(RoleName=role, PolicyName=aws.POLICY_NAME)["PolicyDocument"]
    assert policy_resources(held)["WriteVariantsOnly"] == "arn:aws:s3:::media/_v/*"


def test_a_changed_role_name_is_not_up_to_date(presets, distribution, recorder, settings):
    deploy()
    settings.IMAGEVARIANTS = {**settings.IMAGEVARIANTS, "ROLE_NAME": "thumbs-role"}
    recorder.calls.clear()
    output = deploy()
    assert "Up to date" not in output and f"runs role {PRODUCTION[1]}, not thumbs-role" in output
    [created] = recorder.sent("CreateRole")
    [configured] = recorder.sent("UpdateFunctionConfiguration")
    assert created["RoleName"] == "thumbs-role" and configured["Role"].endswith(":role/thumbs-role")
    assert len(recorder.sent("UpdateDistribution")) == 1


@pytest.mark.parametrize(
    "names, flags, function, role",
    [
        ({"FUNCTION_NAME": "thumbs"}, [], "thumbs", PRODUCTION[1]),
        ({"ROLE_NAME": "thumbs-role"}, [], PRODUCTION[0], "thumbs-role"),
        ({}, ["--role-name", "cli-role"], PRODUCTION[0], "cli-role"),
        ({"FUNCTION_NAME": "thumbs"}, ["--function-name", "cli-thumbs"], "cli-thumbs", PRODUCTION[1]),
    ],
)
def test_explicit_names_win(presets, distribution, recorder, settings, names, flags, function, role):
    settings.IMAGEVARIANTS = {**settings.IMAGEVARIANTS, **names}
    deploy(*flags)
    [created_role] = recorder.sent("CreateRole")
    [created_function] = recorder.sent("CreateFunction")
    assert created_role["RoleName"] == role
    assert created_function["FunctionName"] == function and created_function["Role"].endswith(f":role/{role}")


def test_default_names_are_valid_per_site(settings):
    settings.IMAGEVARIANTS = {"BUCKET": "media.example.com", "DISTRIBUTION_ID": "E1ABC"}
    options = Options.from_settings()
    assert (options.function_name, options.role_name) == (
        "imagevariants-edge-media-example-com",  # Lambda: letters, digits, hyphens, underscores
        "imagevariants-edge-media.example.com",  # IAM also allows +=,.@
    )
    settings.IMAGEVARIANTS = {"DISTRIBUTION_ID": "E1ABC"}  # no bucket known: the distribution id
    assert Options.from_settings().function_name == "imagevariants-edge-E1ABC"
    long_a, long_b = aws.site_names("a" * 60 + "-one"), aws.site_names("a" * 60 + "-two")
    assert all(len(name) <= 64 for name in (*long_a, *long_b)) and long_a != long_b


def test_a_renamed_function_replaces_the_old_one_on_every_behaviour(presets, distribution, recorder, settings):
    """An install made with the old default name, on the default behaviour too (--seed-urls), upgrades: the
    site's own function replaces the old one everywhere, so no behaviour keeps running it."""
    settings.IMAGEVARIANTS = {**settings.IMAGEVARIANTS, **LEGACY_NAMES}
    deploy("--seed-urls")
    old_arn = Publication.objects.get(target="cloudfront").function_arn
    answered = recorder.answered

    def with_associations(http_response, parsed, model, **kwargs):  # as CloudFront answers (moto drops them)
        if model.name == "GetDistributionConfig" and "DistributionConfig" in parsed:
            ours = {"LambdaFunctionARN": old_arn, "EventType": "origin-response", "IncludeBody": False}
            parsed["DistributionConfig"]["DefaultCacheBehavior"]["LambdaFunctionAssociations"] = {
                "Quantity": 1,
                "Items": [ours],
            }
        answered(http_response, parsed, model, **kwargs)

    recorder.answered = with_associations
    settings.IMAGEVARIANTS = {k: v for k, v in settings.IMAGEVARIANTS.items() if k not in LEGACY_NAMES}
    recorder.calls.clear()
    output = deploy()
    new = Publication.objects.filter(target="cloudfront").latest()
    assert new.function_arn.endswith(f":function:{PRODUCTION[0]}:1")
    [update] = recorder.sent("UpdateDistribution")
    default = update["DistributionConfig"]["DefaultCacheBehavior"]["LambdaFunctionAssociations"]["Items"]
    assert [item["LambdaFunctionARN"] for item in default] == [new.function_arn]
    assert "replaces imagevariants-edge here" in output
