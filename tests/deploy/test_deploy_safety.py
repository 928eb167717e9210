"""deploy_edge under stress: two deploys at once, code changed behind its back, a rollback after URLs were
emitted, a wait that fails after the distribution was updated, and an execution role with more than it needs.

moto drops LambdaFunctionAssociations when a distribution is read back and ignores IfMatch and PublishVersion's
CodeSha256, so these tests check what was sent on the wire (the ``recorder``) and what the database recorded.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import io
import json
import zipfile
from datetime import UTC, timedelta

import boto3
import pytest
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction
from django.utils import timezone

from imagevariants import conf, publishing
from imagevariants.deploy.bundle import DOCUMENT_NAME
from imagevariants.edge.presets import Document
from imagevariants.models import Publication, VariantPreset
from tests.deploy.conftest import DISTRIBUTION_CONFIG

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("skip_bundle_run")]
S3_FULL_ACCESS = "arn:aws:iam::aws:policy/AmazonS3FullAccess"


def deploy(*args: str) -> str:
    out = io.StringIO()
    call_command("deploy_edge", "--no-wait", *args, stdout=out)
    return out.getvalue()


def attached(recorder) -> str:
    """The ARN the last UpdateDistribution put on the variant behaviour: what the distribution runs."""
    config = recorder.sent("UpdateDistribution")[-1]["DistributionConfig"]
    behaviour = next(b for b in config["CacheBehaviors"]["Items"] if b["PathPattern"] == "_v/*")
    return behaviour["LambdaFunctionAssociations"]["Items"][-1]["LambdaFunctionARN"]


def uploaded(recorder) -> bytes:
    """The zip of the last CreateFunction or UpdateFunctionCode, as sent."""
    calls = [p for n, p in recorder.calls if n in ("CreateFunction", "UpdateFunctionCode")]
    params = calls[-1]
    return params["Code"]["ZipFile"] if "Code" in params else params["ZipFile"]


def baked(zip_bytes: bytes) -> dict:
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
        return json.loads(archive.read(DOCUMENT_NAME))


def lambda_sha(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def live() -> Publication:
    return publishing.last_publication("cloudfront")


def once_on(recorder, operation: str, action) -> None:
    """Run ``action`` the first time ``operation`` is about to be sent (as if another process acted then)."""
    original, fired = recorder.hook, []

    def hook(model, params, **kwargs):
        if model.name == operation and not fired:
            fired.append(True)
            action()
        original(model, params, **kwargs)

    recorder.hook = hook


# -- 1. one deployment at a time ---------------------------------------------------------------------------------
def test_a_second_deploy_while_one_runs_is_refused(presets, distribution, recorder):
    """Two deploys at once ended with the database naming B live while CloudFront ran A."""
    refused: list[str] = []

    def second_deploy() -> None:
        VariantPreset.objects.filter(name="md").update(width=300)
        with pytest.raises(CommandError) as excinfo:
            deploy()
        refused.append(str(excinfo.value))

    once_on(recorder, "PublishVersion", second_deploy)
    deploy()
    [message] = refused
    first = Publication.objects.get(target="cloudfront")  # the refused one left no record
    assert "in progress" in message and first.created_by in message and "--abandon-pending" in message
    assert f"{first.created_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC" in message and "\n" not in message
    assert len(recorder.sent("UpdateDistribution")) == 1
    assert live() == first and attached(recorder) == first.function_arn
    assert publishing.published_document().sha256 == first.document_sha256
    assert Document.from_dict(baked(uploaded(recorder))).sha256 == first.document_sha256


def test_the_database_allows_one_pending_deployment_per_target(presets, settings):
    """The lock itself: a conditional unique constraint, so two processes cannot both hold it."""
    document = publishing.draft_document()
    publishing.record(document, "cloudfront", "a")
    with pytest.raises(IntegrityError), transaction.atomic():
        publishing.record(document, "cloudfront", "b")
    publishing.record(document, "cloudfront", "c", status="succeeded")  # only pending ones count
    publishing.record(document, "local", "d")  # per target


@pytest.mark.parametrize("args", [(), ("--rollback",)])
def test_a_pending_deployment_blocks_until_cleared(presets, distribution, recorder, args):
    holder = publishing.record(publishing.draft_document(), "cloudfront", "alice@build-7")
    with pytest.raises(CommandError, match="alice@build-7") as excinfo:
        deploy(*args)
    message = str(excinfo.value)
    assert "--abandon-pending" in message and "stops blocking by itself" in message and "\n" not in message
    assert recorder.calls == []  # refused before anything on AWS
    assert list(Publication.objects.filter(target="cloudfront")) == [holder]

    assert "alice@build-7" in deploy("--abandon-pending")
    holder.refresh_from_db()
    assert holder.status == "failed" and "Abandoned" in holder.error
    if not args:
        deploy()
        assert live().status == "succeeded"


def test_an_expired_lease_no_longer_blocks(presets, distribution, recorder):
    stale = publishing.record(publishing.draft_document(), "cloudfront", "bob@died")
    Publication.objects.filter(pk=stale.pk).update(created_at=timezone.now() - timedelta(minutes=46))
    deploy()
    stale.refresh_from_db()
    assert stale.status == "failed" and "Abandoned" in stale.error and stale.finished_at
    assert live().status == "succeeded" and live() != stale


def test_a_deployment_abandoned_while_it_ran_does_not_attach(presets, distribution, recorder):
    once_on(recorder, "PublishVersion", lambda: deploy("--abandon-pending"))
    with pytest.raises(CommandError, match="marked abandoned"):
        deploy()
    assert recorder.sent("UpdateDistribution") == []
    assert Publication.objects.get(target="cloudfront").status == "failed"
    assert publishing.published_document() is None


def test_an_interrupted_deploy_releases_the_lock(presets, distribution, recorder):
    def interrupt() -> None:
        raise KeyboardInterrupt

    once_on(recorder, "CreateFunction", interrupt)
    with pytest.raises(KeyboardInterrupt):
        deploy()
    interrupted = Publication.objects.get(target="cloudfront")
    assert interrupted.status == "failed" and "Interrupted" in interrupted.error
    deploy()  # not refused: the lock was released
    assert live().status == "succeeded"


def test_the_published_version_is_the_uploaded_code(presets, distribution, recorder):
    deploy()
    zip_bytes = uploaded(recorder)
    [published] = recorder.sent("PublishVersion")
    assert published["CodeSha256"] == lambda_sha(zip_bytes)
    version = boto3.client("lambda", region_name="us-east-1").get_function(FunctionName=live().function_arn)
    assert version["Configuration"]["CodeSha256"] == lambda_sha(zip_bytes)
    assert live().bundle_sha256 == hashlib.sha256(zip_bytes).hexdigest()


def test_code_changed_by_someone_else_is_not_attached(presets, distribution, recorder):
    deploy()
    first = live()
    VariantPreset.objects.filter(name="md").update(width=300)
    other = io.BytesIO()
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("index.py", "def handler(event, context): return event")
    lambda_ = boto3.client("lambda", region_name="us-east-1")  # another process, not recorded
    once_on(
        recorder,
        "PublishVersion",
        lambda: lambda_.update_function_code(FunctionName="imagevariants-edge-media", ZipFile=other.getvalue()),
    )
    recorder.calls.clear()
    with pytest.raises(CommandError, match="someone else changed the function") as excinfo:
        deploy()
    assert "\n" not in str(excinfo.value)
    assert recorder.sent("UpdateDistribution") == []
    assert Publication.objects.filter(target="cloudfront").latest().status == "failed"
    assert live() == first and publishing.published_document().sha256 == first.document_sha256


@pytest.mark.parametrize("function, kept", [("imagevariants-edge", False), ("someone-elses", True)])
def test_no_behaviour_keeps_an_older_version_of_the_function(monkeypatch, function, kept):
    """Once on the default behaviour (--seed-urls), a version is replaced there by every later deploy, never a
    function that is not ours. moto drops associations on read, so the config change is checked on its own."""
    from imagevariants import deploy as deploy_module
    from imagevariants.deploy import aws

    config = copy.deepcopy(DISTRIBUTION_CONFIG)
    before = {
        "LambdaFunctionARN": f"arn:aws:lambda:us-east-1:123456789012:function:{function}:4",
        "EventType": "origin-response",
        "IncludeBody": False,
    }
    items = config["DefaultCacheBehavior"]["LambdaFunctionAssociations"]["Items"]
    items.append(before)
    config["DefaultCacheBehavior"]["LambdaFunctionAssociations"]["Quantity"] = 2
    sent: list[dict] = []
    monkeypatch.setattr(aws, "update_distribution", lambda cloudfront, id, change: sent.append(change(config)))
    arn = "arn:aws:lambda:us-east-1:123456789012:function:imagevariants-edge:5"
    options = deploy_module.Options(distribution_id="E1", function_name="imagevariants-edge")
    deploy_module._attach({"cloudfront": None}, arn, Document({}), options, lambda line: None)
    default = sent[0]["DefaultCacheBehavior"]["LambdaFunctionAssociations"]["Items"]
    assert default[0] == items[0]  # the viewer-response function is kept
    assert default[-1] == (before if kept else {**before, "LambdaFunctionARN": arn})


# -- 2. rollback keeps every URL emitted since --------------------------------------------------------------------
def test_rollback_keeps_serving_the_urls_emitted_since(presets, distribution, recorder, settings):
    deploy()
    first = live()
    old_md = presets["md"].fingerprint
    presets["md"].width = 300
    presets["md"].save()
    VariantPreset.objects.create(name="hero", width=1600)
    deploy()
    second = live()
    new_md, hero = presets["md"].fingerprint, VariantPreset.objects.get(name="hero").fingerprint
    # Pages rendered now carry md's new URLs and hero's; one of them has been made and stored.
    stored = f"_v/md.{new_md}/images/photo.jpg"
    conf.source_storage.save(stored, ContentFile(b"variant"))

    recorder.calls.clear()
    output = deploy("--rollback")
    rolled = live()
    assert rolled.pk not in (first.pk, second.pk) and rolled.created_by.endswith("(rollback)")
    assert rolled.function_arn.endswith(":3") and attached(recorder) == rolled.function_arn
    assert f"~ md: {new_md}" in output and "= hero: kept" in output

    # What the new version carries (the zip as sent) and what the tags use are the same document.
    zip_bytes = uploaded(recorder)
    assert recorder.sent("PublishVersion")[0]["CodeSha256"] == lambda_sha(zip_bytes)
    document = publishing.published_document()
    assert baked(zip_bytes)["presets"] == document.to_dict()["presets"]
    assert document.presets["md"].current[0] == old_md  # the old presets are current again
    assert new_md in document.presets["md"].revisions  # the URLs emitted in between still answer
    assert hero in document.presets["hero"].revisions
    assert document.sources == ("images/",)

    # prune_variants keeps the variants of those URLs.
    call_command("prune_variants", "--yes", stdout=io.StringIO())
    assert conf.source_storage.exists(stored)


# -- 3. a failed wait does not make a live deployment "failed" ----------------------------------------------------
def test_a_failed_wait_leaves_the_deployment_live(presets, distribution, recorder):
    recorder.fail("GetDistribution")
    out = io.StringIO()
    call_command("deploy_edge", "--poll-seconds", "0", stdout=out)
    deployment = Publication.objects.get(target="cloudfront")
    assert deployment.status == "succeeded" and deployment.error == "" and deployment.finished_at
    assert "not confirmed" in deployment.note and "GetDistribution" in deployment.note
    assert attached(recorder) == deployment.function_arn == live().function_arn
    assert publishing.published_document().sha256 == deployment.document_sha256
    assert "recorded as live" in out.getvalue() and "not confirmed" in out.getvalue()


def test_an_interrupted_wait_leaves_the_deployment_live(presets, distribution, recorder):
    def interrupt() -> None:
        raise KeyboardInterrupt

    once_on(recorder, "GetDistribution", interrupt)
    with pytest.raises(KeyboardInterrupt):
        call_command("deploy_edge", "--poll-seconds", "0", stdout=io.StringIO())
    deployment = Publication.objects.get(target="cloudfront")
    assert deployment.status == "succeeded" and "Interrupted" in deployment.note
    assert attached(recorder) == live().function_arn


def test_the_wait_ends_inside_the_lease(presets, distribution, recorder, monkeypatch):
    from imagevariants import deploy as deploy_module
    from imagevariants.deploy import aws

    timeouts: list[float] = []
    wait = aws.wait_deployed
    monkeypatch.setattr(aws, "wait_deployed", lambda *args: timeouts.append(args[-1]) or wait(*args))
    monkeypatch.setattr(deploy_module, "LEASE", timedelta(minutes=10))
    call_command("deploy_edge", "--poll-seconds", "0", stdout=io.StringIO())
    assert 0 < timeouts[0] <= 9 * 60 and live().note == ""  # confirmed
    VariantPreset.objects.filter(name="md").update(width=300)
    deploy()  # --no-wait
    assert live().status == "succeeded" and "not awaited" in live().note


# -- 4. the execution role -----------------------------------------------------------------------------------------
def test_reads_are_scoped_to_the_source_prefixes_under_the_origin_path(presets, distribution, recorder, settings):
    config = copy.deepcopy(DISTRIBUTION_CONFIG)
    config["CallerReference"] = "imagevariants-tests-origin-path"
    config["Origins"]["Items"][0]["OriginPath"] = "/site"
    created = boto3.client("cloudfront", region_name="us-east-1").create_distribution(DistributionConfig=config)
    settings.IMAGEVARIANTS = {
        **settings.IMAGEVARIANTS,
        "DISTRIBUTION_ID": created["Distribution"]["Id"],
        "SOURCE_PREFIXES": ["uploads/"],
    }
    output = deploy()
    policy = json.loads(recorder.sent("PutRolePolicy")[0]["PolicyDocument"])
    statements = {s["Sid"]: s for s in policy["Statement"]}
    assert statements["ReadSources"]["Action"] == "s3:GetObject"
    assert statements["ReadSources"]["Resource"] == [
        "arn:aws:s3:::media/site/images/*",
        "arn:aws:s3:::media/site/uploads/*",
    ]
    assert statements["WriteVariantsOnly"]["Resource"] == "arn:aws:s3:::media/site/_v/*"
    assert "arn:aws:s3:::media/site/uploads/*" in output  # the printed policy
    assert live().document["sources"] == ["images/", "uploads/"]


def existing_role(managed: str = "", inline: str = "") -> None:
    """A role made by hand, as the classic setup does, before the first deploy."""
    from imagevariants.deploy.aws import TRUST_POLICY

    iam = boto3.client("iam", region_name="us-east-1")
    iam.create_role(RoleName="imagevariants-edge-media", AssumeRolePolicyDocument=json.dumps(TRUST_POLICY))
    if managed:
        iam.attach_role_policy(RoleName="imagevariants-edge-media", PolicyArn=managed)
    if inline:
        document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        iam.put_role_policy(RoleName="imagevariants-edge-media", PolicyName=inline, PolicyDocument=json.dumps(document))


@pytest.mark.parametrize(
    "managed, inline, named",
    [(S3_FULL_ACCESS, "", "AmazonS3FullAccess"), ("", "legacy-s3", "legacy-s3")],
)
def test_a_role_with_other_policies_is_refused(presets, distribution, recorder, managed, inline, named):
    existing_role(managed, inline)
    with pytest.raises(CommandError, match=named) as excinfo:
        deploy()
    message = str(excinfo.value)
    assert "--detach-foreign-policies" in message and "\n" not in message
    mutating = {"PutRolePolicy", "UpdateAssumeRolePolicy", "CreateFunction", "UpdateDistribution"}
    assert mutating.isdisjoint(recorder.names())  # refused before anything was changed
    iam = boto3.client("iam", region_name="us-east-1")
    kept = iam.list_attached_role_policies(RoleName="imagevariants-edge-media")["AttachedPolicies"]
    assert [p["PolicyArn"] for p in kept] == ([managed] if managed else [])
    assert Publication.objects.get(target="cloudfront").status == "failed"


def test_other_policies_are_removed_only_when_asked(presets, distribution, recorder):
    existing_role(S3_FULL_ACCESS, "legacy-s3")
    output = deploy("--detach-foreign-policies")
    iam = boto3.client("iam", region_name="us-east-1")
    assert iam.list_attached_role_policies(RoleName="imagevariants-edge-media")["AttachedPolicies"] == []
    assert iam.list_role_policies(RoleName="imagevariants-edge-media")["PolicyNames"] == ["imagevariants-edge"]
    assert f"detached {S3_FULL_ACCESS}" in output and "deleted inline policy legacy-s3" in output
    assert live().status == "succeeded"


def test_an_existing_roles_trust_policy_is_rewritten(presets, distribution, recorder):
    """A role made by hand for plain Lambda cannot run at the edge: the deploy makes it trust both services,
    before the function is created. Checked as sent, and as IAM then holds it."""
    iam = boto3.client("iam", region_name="us-east-1")
    lambda_only = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    iam.create_role(RoleName="imagevariants-edge-media", AssumeRolePolicyDocument=json.dumps(lambda_only))
    deploy()
    [sent] = recorder.sent("UpdateAssumeRolePolicy")
    assert sent["RoleName"] == "imagevariants-edge-media"
    both = ["lambda.amazonaws.com", "edgelambda.amazonaws.com"]
    assert json.loads(sent["PolicyDocument"]) == {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": both}, "Action": "sts:AssumeRole"}],
    }
    names = recorder.names()
    assert names.index("UpdateAssumeRolePolicy") < names.index("CreateFunction")
    trust = iam.get_role(RoleName="imagevariants-edge-media")["Role"]["AssumeRolePolicyDocument"]
    assert sorted(trust["Statement"][0]["Principal"]["Service"]) == sorted(both)
    assert live().status == "succeeded"


def test_a_deploy_refuses_presets_that_no_longer_fit(presets, distribution, recorder, settings):
    """MEMORY_MB lowered after the presets were saved: the deploy says which preset, before any AWS call, and
    leaves no pending deployment behind."""
    settings.IMAGEVARIANTS = {**settings.IMAGEVARIANTS, "MEMORY_MB": 512}
    with pytest.raises(CommandError, match="Preset 'lg'.*MEMORY_MB 512"):
        deploy()
    assert recorder.calls == []
    assert not Publication.objects.filter(status="pending").exists()
