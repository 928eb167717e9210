"""deploy_edge end to end against the moto server: first deploy, no-op, edit, failures at each step, rollback."""

from __future__ import annotations

import copy
import io
import json

import boto3
import pytest
from botocore.exceptions import ClientError
from django.core.management import CommandError, call_command

from imagevariants import publishing
from imagevariants.models import Publication

pytestmark = pytest.mark.django_db


def deploy(*args: str) -> str:
    out = io.StringIO()
    call_command("deploy_edge", "--no-wait", *args, stdout=out)
    return out.getvalue()


@pytest.fixture(autouse=True)
def _no_bundle_run(monkeypatch):
    """The bundle's own run under Python 3.12 is tested in test_bundle.py; here it would only repeat it."""
    from imagevariants import deploy as deploy_module

    monkeypatch.setattr(deploy_module, "check_bundle", lambda bundle, report: report("(bundle run skipped)"))


def association(config: dict) -> list[dict]:
    return config.get("LambdaFunctionAssociations", {}).get("Items", [])


def keep_associations(recorder) -> None:
    """Answer GetDistributionConfig with the default behaviour's associations, as CloudFront does (moto drops
    them on read): the deployer then changes the configuration a real distribution would give it."""
    from tests.deploy.conftest import DISTRIBUTION_CONFIG

    original = recorder.answered

    def answered(http_response, parsed, model, **kwargs):
        if model.name == "GetDistributionConfig" and "DistributionConfig" in parsed:
            default = parsed["DistributionConfig"]["DefaultCacheBehavior"]
            if not association(default):
                default["LambdaFunctionAssociations"] = copy.deepcopy(
                    DISTRIBUTION_CONFIG["DefaultCacheBehavior"]["LambdaFunctionAssociations"]
                )
        original(http_response, parsed, model, **kwargs)

    recorder.answered = answered


def test_first_deploy(presets, distribution, recorder):
    output = deploy()
    deployment = Publication.objects.get(target="cloudfront")
    assert deployment.status == "succeeded" and deployment.error == ""
    assert deployment.function_arn.endswith(":function:imagevariants-edge-media:1")
    assert deployment.distribution_id == distribution and len(deployment.bundle_sha256) == 64
    assert "+ md:" in output and "Published" in output and deployment.function_arn in output

    # The role trusts both Lambda services, may read only under the source prefixes and write only under the
    # variant prefix.
    iam = boto3.client("iam", region_name="us-east-1")
    trust = iam.get_role(RoleName="imagevariants-edge-media")["Role"]["AssumeRolePolicyDocument"]
    assert set(trust["Statement"][0]["Principal"]["Service"]) == {"lambda.amazonaws.com", "edgelambda.amazonaws.com"}
    policy = iam.get_role_policy(RoleName="imagevariants-edge-media", PolicyName="imagevariants-edge")["PolicyDocument"]
    resources = {s["Sid"]: s["Resource"] for s in policy["Statement"]}
    assert resources["WriteVariantsOnly"] == "arn:aws:s3:::media/_v/*"
    assert resources["ReadSources"] == ["arn:aws:s3:::media/images/*"]
    assert '"WriteVariantsOnly"' in output  # the policy is printed

    function = boto3.client("lambda", region_name="us-east-1").get_function(FunctionName="imagevariants-edge-media")
    configuration = function["Configuration"]
    assert (configuration["Runtime"], configuration["Handler"], configuration["Timeout"]) == (
        "python3.12",
        "imagevariants.edge.handler.lambda_handler",
        30,
    )
    assert configuration.get("Architectures", ["x86_64"]) == ["x86_64"]
    assert not configuration.get("Environment", {}).get("Variables")

    # What was sent to CloudFront, as moto drops the associations when a distribution is read back: a new
    # behaviour for _v/* copied from the default one, with the versioned ARN as origin-response, every other
    # field exactly as GetDistributionConfig gave it, and IfMatch set.
    update = recorder.sent("UpdateDistribution")
    assert len(update) == 1 and update[0]["IfMatch"] == recorder.etags[-1]
    config = copy.deepcopy(update[0]["DistributionConfig"])
    behaviours = config.pop("CacheBehaviors")
    assert behaviours["Quantity"] == 1 and [b["PathPattern"] for b in behaviours["Items"]] == ["_v/*"]
    behaviour = behaviours["Items"][0]
    assert association(behaviour) == [
        {"LambdaFunctionARN": deployment.function_arn, "EventType": "origin-response", "IncludeBody": False}
    ]
    before = copy.deepcopy(recorder.configs[-1])
    before.pop("CacheBehaviors", None)
    assert config == before
    expected = {**before["DefaultCacheBehavior"], "PathPattern": "_v/*"}
    expected["LambdaFunctionAssociations"] = behaviour["LambdaFunctionAssociations"]
    assert behaviour == expected

    # The tags now use the deployed presets, through the CDN.
    assert publishing.published_document().sha256 == deployment.document_sha256


def test_second_deploy_is_a_no_op(presets, distribution, recorder):
    deploy()
    recorder.calls.clear()
    output = deploy()
    assert "Up to date" in output
    assert Publication.objects.filter(target="cloudfront").count() == 1
    # Only reads: the function and the role are checked (test_sites.py repairs a changed policy), nothing written.
    assert set(recorder.names()) == {
        "GetDistributionConfig",
        "GetFunction",
        "GetRole",
        "GetRolePolicy",
        "ListAttachedRolePolicies",
        "ListRolePolicies",
    }
    assert "inline policy imagevariants-edge checked, as expected" in output


def test_deploy_after_an_edit(presets, distribution, recorder):
    first = deploy()
    old = Publication.objects.get(target="cloudfront")
    old_fp = presets["md"].fingerprint
    presets["md"].width = 300
    presets["md"].save()
    # Until deployed, the tags keep the old, served revision.
    assert publishing.published_document().presets["md"].current[0] == old_fp
    output = deploy()
    new = Publication.objects.filter(target="cloudfront").latest()
    assert new.pk != old.pk and new.function_arn.endswith(":2")
    assert f"~ md: {old_fp}" in output and "old revisions still served" in output
    document = publishing.published_document()
    assert document.presets["md"].current[0] == presets["md"].fingerprint
    assert old_fp in document.presets["md"].revisions  # URLs in cached pages keep working
    assert "+ md" in first


def test_an_update_sends_the_whole_function_configuration(presets, distribution, recorder, settings):
    """The second deploy updates the existing function: its code, then its configuration (role, runtime, handler,
    timeout, memory, description), before publishing. Checked as sent: moto keeps only some of these fields."""
    deploy()
    settings.IMAGEVARIANTS = {**settings.IMAGEVARIANTS, "MEMORY_MB": 2048}
    recorder.calls.clear()
    deploy()
    deployment = Publication.objects.filter(target="cloudfront").latest()
    role_arn = boto3.client("iam", region_name="us-east-1").get_role(RoleName="imagevariants-edge-media")["Role"]["Arn"]
    [sent] = recorder.sent("UpdateFunctionConfiguration")
    description = sent.pop("Description")
    assert sent == {
        "FunctionName": "imagevariants-edge-media",
        "Role": role_arn,
        "Runtime": "python3.12",
        "Handler": "imagevariants.edge.handler.lambda_handler",
        "Timeout": 30,
        "MemorySize": 2048,
    }
    assert deployment.document_sha256[:12] in description and deployment.bundle_sha256[:12] in description
    steps = ["UpdateFunctionCode", "UpdateFunctionConfiguration", "PublishVersion", "UpdateDistribution"]
    assert [name for name in recorder.names() if name in (*steps, "CreateFunction")] == steps
    assert recorder.sent("PublishVersion")[0]["Description"] == description


def test_dry_run_mutates_nothing(presets, distribution, recorder):
    output = deploy("--dry-run")
    assert "Would call" in output and "+ sm:" in output
    assert not Publication.objects.filter(target="cloudfront").exists()
    mutating = [n for n in recorder.names() if not n.startswith(("Get", "List"))]
    assert mutating == []
    with pytest.raises(ClientError, match="ResourceNotFound"):
        boto3.client("lambda", region_name="us-east-1").get_function(FunctionName="imagevariants-edge-media")


@pytest.mark.parametrize(
    "operation",
    ["GetDistributionConfig", "PutRolePolicy", "CreateFunction", "PublishVersion", "UpdateDistribution"],
)
def test_a_failure_at_each_step_leaves_everything_as_it_was(presets, distribution, recorder, operation):
    recorder.fail(operation)
    with pytest.raises(CommandError, match=f"injected failure of {operation}"):
        deploy()
    failed = Publication.objects.get(target="cloudfront")
    assert failed.status == "failed" and operation in failed.error and failed.finished_at
    assert publishing.published_document() is None  # tags stay where they were
    # The failed call was the last one, made once: no later step ran, and the distribution was never changed
    # (an injected UpdateDistribution failure is raised before the request leaves).
    names = recorder.names()
    assert names[-1] == operation and names.count(operation) == 1, names
    assert "UpdateDistribution" not in names[:-1]
    cloudfront = boto3.client("cloudfront", region_name="us-east-1")
    assert (
        cloudfront.get_distribution_config(Id=distribution)["DistributionConfig"]
        .get("CacheBehaviors", {})
        .get("Quantity", 0)
        == 0
    )
    # Once the cause is gone, the same command goes through.
    recorder.failures.clear()
    deploy()
    assert Publication.objects.filter(target="cloudfront").latest().status == "succeeded"


def test_failure_while_waiting_is_recorded(presets, distribution, recorder):
    """The distribution already runs the new version: the deployment is live, with a note (see test_deploy_safety)."""
    recorder.fail("GetDistribution")
    out = io.StringIO()
    call_command("deploy_edge", "--poll-seconds", "0", stdout=out)
    deployment = Publication.objects.get(target="cloudfront")
    assert deployment.status == "succeeded" and "GetDistribution" in deployment.note
    assert "not confirmed" in out.getvalue()
    assert publishing.published_document().sha256 == deployment.document_sha256


def test_wait_reports_progress(presets, distribution, recorder):
    out = io.StringIO()
    call_command("deploy_edge", "--poll-seconds", "0", stdout=out)
    assert f"distribution {distribution}: Deployed" in out.getvalue()


def test_precondition_failure_is_retried_once(presets, distribution, recorder, monkeypatch):
    recorder.fail("UpdateDistribution", code="PreconditionFailed")
    original = recorder.hook

    def once(model, params, **kwargs):
        try:
            original(model, params, **kwargs)
        finally:
            if model.name == "UpdateDistribution":
                recorder.failures.clear()

    recorder.hook = once
    deploy()
    assert len(recorder.sent("UpdateDistribution")) == 2
    assert recorder.names().count("GetDistributionConfig") >= 3  # read again before the retry
    assert Publication.objects.get(target="cloudfront").status == "succeeded"


def test_seed_urls_on_the_default_behaviour(presets, distribution, recorder):
    from tests.deploy.conftest import DISTRIBUTION_CONFIG

    keep_associations(recorder)
    deploy("--seed-urls")
    arn = Publication.objects.get(target="cloudfront").function_arn
    [update] = recorder.sent("UpdateDistribution")
    config = update["DistributionConfig"]
    answered = recorder.configs[-1]["DefaultCacheBehavior"]
    viewer = DISTRIBUTION_CONFIG["DefaultCacheBehavior"]["LambdaFunctionAssociations"]["Items"][0]
    ours = {"LambdaFunctionARN": arn, "EventType": "origin-response", "IncludeBody": False}
    # The default behaviour (seed-style URLs) runs the function at origin-response and keeps its viewer-response
    # function; every other field is as GetDistributionConfig gave it.
    default = config["DefaultCacheBehavior"]
    assert default["LambdaFunctionAssociations"] == {"Quantity": 2, "Items": [viewer, ours]}
    assert {**default, "LambdaFunctionAssociations": None} == {**answered, "LambdaFunctionAssociations": None}
    [variants] = config["CacheBehaviors"]["Items"]
    assert variants["PathPattern"] == "_v/*"
    assert variants["LambdaFunctionAssociations"] == {"Quantity": 2, "Items": [viewer, ours]}


def test_without_seed_urls_the_default_behaviour_is_left_alone(presets, distribution, recorder):
    keep_associations(recorder)
    deploy()
    [update] = recorder.sent("UpdateDistribution")
    assert update["DistributionConfig"]["DefaultCacheBehavior"] == recorder.configs[-1]["DefaultCacheBehavior"]


def test_rollback(presets, distribution, recorder):
    deploy()
    first = Publication.objects.get(target="cloudfront")
    presets["md"].width = 300
    presets["md"].save()
    deploy()
    recorder.calls.clear()
    out = io.StringIO()
    call_command("deploy_edge", "--rollback", "--no-wait", stdout=out)
    # The old presets come back as a new version (not the old ARN), which still serves the newer revision.
    sent = recorder.sent("UpdateDistribution")[0]["DistributionConfig"]
    arns = [a["LambdaFunctionARN"] for a in association(sent["CacheBehaviors"]["Items"][0])]
    latest = Publication.objects.filter(target="cloudfront").latest()
    assert latest.status == "succeeded" and latest.function_arn.endswith(":3")
    assert arns[-1] == latest.function_arn != first.function_arn
    document = publishing.published_document()
    assert document.sha256 == latest.document_sha256
    assert document.presets["md"].current == tuple(first.document["presets"]["md"]["current"])
    assert presets["md"].fingerprint in document.presets["md"].revisions
    assert "Rolled back" in out.getvalue()


def test_nothing_to_roll_back_to(presets, distribution):
    with pytest.raises(CommandError, match="no earlier successful deployment"):
        deploy("--rollback")


def test_flags_override_settings(presets, distribution, recorder, settings):
    settings.IMAGEVARIANTS = {"CDN_URL": "https://x.cloudfront.net"}
    deploy("--distribution-id", distribution, "--function-name", "thumbs", "--role-name", "thumbs-role")
    deployment = Publication.objects.get(target="cloudfront")
    assert ":function:thumbs:1" in deployment.function_arn
    policy = recorder.sent("PutRolePolicy")[0]
    assert policy["RoleName"] == "thumbs-role"
    assert "arn:aws:s3:::media/_v/*" in policy["PolicyDocument"]  # bucket from the distribution's origin


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda s, m: s.IMAGEVARIANTS.update(DISTRIBUTION_ID="E404NOTHERE"), "does not exist"),
        (lambda s, m: s.IMAGEVARIANTS.update(DISTRIBUTION_ID=""), "No distribution"),
        (lambda s, m: s.IMAGEVARIANTS.update(REGION="eu-west-1"), "us-east-1"),
        (
            lambda s, m: (
                m.delenv("AWS_ACCESS_KEY_ID")
                or m.delenv("AWS_SECRET_ACCESS_KEY")
                or m.delenv("AWS_SESSION_TOKEN")
                or m.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
                or m.setenv("AWS_CONFIG_FILE", "/nonexistent")
                or m.setenv("AWS_EC2_METADATA_DISABLED", "true")
            ),
            "No AWS credentials",
        ),
        (lambda s, m: s.IMAGEVARIANTS.update(RUNTIME="python3.99"), "could not be fetched"),
    ],
)
def test_clear_errors(presets, distribution, settings, monkeypatch, setup, message):
    settings.IMAGEVARIANTS = dict(settings.IMAGEVARIANTS)
    setup(settings, monkeypatch)
    settings.IMAGEVARIANTS = dict(settings.IMAGEVARIANTS)  # notify the change
    with pytest.raises(CommandError, match=message) as excinfo:
        deploy()
    assert "\n" not in str(excinfo.value)


def test_local_edge_publishes_at_once(presets):
    output = deploy()
    assert "Local edge: presets published" in output
    assert json.loads(json.dumps(Publication.objects.latest().document))["presets"]["md"]


def test_associations_of_other_event_types_are_kept():
    """moto cannot show this (it drops associations on read), so the config change is checked on its own."""
    from imagevariants.deploy.aws import associated
    from tests.deploy.conftest import DISTRIBUTION_CONFIG

    arn = "arn:aws:lambda:us-east-1:123456789012:function:imagevariants-edge:7"
    config = associated(DISTRIBUTION_CONFIG, "_v/", arn, seed_urls=True)
    viewer = DISTRIBUTION_CONFIG["DefaultCacheBehavior"]["LambdaFunctionAssociations"]["Items"][0]
    for behaviour in (config["CacheBehaviors"]["Items"][0], config["DefaultCacheBehavior"]):
        assert association(behaviour) == [
            viewer,
            {"LambdaFunctionARN": arn, "EventType": "origin-response", "IncludeBody": False},
        ]
        assert behaviour["LambdaFunctionAssociations"]["Quantity"] == 2
    again = associated(config, "_v/", arn.replace(":7", ":8"), seed_urls=False)
    assert again["CacheBehaviors"]["Quantity"] == 1  # the behaviour is reused, not added twice
    assert association(again["CacheBehaviors"]["Items"][0])[-1]["LambdaFunctionARN"].endswith(":8")
    assert association(again["DefaultCacheBehavior"])[-1]["LambdaFunctionARN"].endswith(":7")
    assert DISTRIBUTION_CONFIG["DefaultCacheBehavior"]["LambdaFunctionAssociations"]["Quantity"] == 1  # not mutated
