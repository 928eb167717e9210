"""deploy_edge --dry-run reads AWS (Get and List calls only) so that its plan is true; a distribution named
without CDN_URL is refused instead of a silent publish to the local edge."""

from __future__ import annotations

import io
import json

import boto3
import pytest
from django.core.management import CommandError, call_command

from imagevariants.deploy import Options, aws
from imagevariants.exceptions import DeployError
from imagevariants.models import Publication
from tests.deploy.conftest import app_distribution

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("skip_bundle_run")]


def deploy(*args: str, out: io.StringIO | None = None) -> str:
    out = out or io.StringIO()
    call_command("deploy_edge", "--no-wait", *args, stdout=out)
    return out.getvalue()


def reads_only(recorder) -> None:
    """What went on the wire: reads, and nothing else."""
    names = recorder.names()
    assert names and [n for n in names if not n.startswith(("Get", "List"))] == [], names


def test_a_first_dry_run_reads_what_aws_holds(presets, distribution, recorder):
    output = deploy("--dry-run")
    assert {"GetDistributionConfig", "GetRole", "GetFunction"} <= set(recorder.names())
    reads_only(recorder)
    options = Options.from_settings()
    assert f"role {options.role_name} does not exist: CreateRole" in output
    assert f"function {options.function_name} does not exist: CreateFunction" in output
    assert "no _v/* behaviour yet" in output and "origin media-origin is S3 bucket media" in output
    assert not Publication.objects.filter(target="cloudfront").exists()


def test_a_dry_run_after_a_deploy_finds_the_role_the_function_and_the_behaviour(presets, distribution, recorder):
    deploy()
    presets["md"].width = 300
    presets["md"].save()
    recorder.calls.clear()
    output = deploy("--dry-run")
    reads = {"GetDistributionConfig", "GetRole", "ListRolePolicies", "ListAttachedRolePolicies", "GetFunction"}
    assert reads <= set(recorder.names())
    reads_only(recorder)
    assert "exists: UpdateAssumeRolePolicy" in output and "exists: UpdateFunctionCode" in output
    assert "behaviour _v/*, origin media-origin" in output
    assert Publication.objects.filter(target="cloudfront").count() == 1


def test_a_role_with_other_policies_is_refused_by_the_dry_run_too(presets, distribution, recorder):
    role = Options.from_settings().role_name
    iam = boto3.client("iam", region_name="us-east-1")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(aws.TRUST_POLICY))
    iam.attach_role_policy(RoleName=role, PolicyArn="arn:aws:iam::aws:policy/AmazonS3FullAccess")
    out = io.StringIO()
    with pytest.raises(CommandError, match="AmazonS3FullAccess.*--detach-foreign-policies") as excinfo:
        deploy("--dry-run", out=out)
    assert "\n" not in str(excinfo.value) and "AmazonS3FullAccess): refused" in out.getvalue()
    reads_only(recorder)
    output = deploy("--dry-run", "--detach-foreign-policies")
    assert "DetachRolePolicy arn:aws:iam::aws:policy/AmazonS3FullAccess" in output
    reads_only(recorder)
    assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]  # still attached


def test_an_origin_that_is_not_a_bucket_is_refused_by_the_dry_run(presets, aws, recorder, settings):
    app_distribution(settings, "imagevariants-tests-site", origin="site")  # and no bucket "media"
    out = io.StringIO()
    with pytest.raises(CommandError, match="'site' \\(www.example.com\\) is not an S3 bucket"):
        deploy("--dry-run", out=out)
    assert "origin site is not an S3 bucket: refused" in out.getvalue()
    reads_only(recorder)


def test_a_missing_distribution_is_a_clear_error_of_the_dry_run(presets, distribution, recorder, settings):
    settings.IMAGEVARIANTS = {**settings.IMAGEVARIANTS, "DISTRIBUTION_ID": "E404NOTHERE"}
    with pytest.raises(CommandError, match="^CloudFront distribution 'E404NOTHERE' does not exist.$"):
        deploy("--dry-run")
    assert recorder.names() == ["GetDistributionConfig"]


@pytest.mark.parametrize("args", [(), ("--dry-run",), ("--rollback",)])
def test_a_distribution_flag_without_cdn_url_is_refused(presets, distribution, recorder, settings, args):
    cloudfront = boto3.client("cloudfront", region_name="us-east-1")
    domain = cloudfront.get_distribution(Id=distribution)["Distribution"]["DomainName"]
    settings.IMAGEVARIANTS = {"BUCKET": "media"}  # a new user's settings: no CDN_URL, no DISTRIBUTION_ID
    before = list(Publication.objects.values_list("pk", flat=True))
    with pytest.raises(CommandError) as excinfo:
        deploy("--distribution-id", distribution, *args)
    message = str(excinfo.value)
    assert f"set CDN_URL to https://{domain} and run again." in message and "\n" not in message
    assert list(Publication.objects.values_list("pk", flat=True)) == before  # nothing published anywhere
    assert recorder.names() == ["GetDistribution"]


def test_a_distribution_setting_without_cdn_url_is_refused(presets, aws, recorder, settings):
    settings.IMAGEVARIANTS = {"DISTRIBUTION_ID": "E404NOTHERE"}  # its domain cannot be read
    out = io.StringIO()
    with pytest.raises(CommandError, match="E404NOTHERE is given but IMAGEVARIANTS\\['CDN_URL'\\] is not set"):
        deploy(out=out)
    assert "Local edge" not in out.getvalue()
    assert recorder.names() == ["GetDistribution"]


def test_the_plan_is_data_the_command_words(presets, settings):
    """``deploy.plan()`` names the presets; ``plan_lines`` is what deploy_edge prints for it."""
    from imagevariants import deploy, publishing
    from imagevariants.models import VariantPreset
    from imagevariants.texts import plan_lines

    settings.IMAGEVARIANTS = {"CDN_URL": "https://d111111abcdef8.cloudfront.net", "BUCKET": "b"}
    added = [f"  + {name}: {current(p)}" for name, p in sorted(presets.items())]  # in the document's order
    assert plan_lines(deploy.plan()) == ["Presets:", *added]
    publishing.record(publishing.draft_document(), "cloudfront", status="succeeded")
    assert plan_lines(deploy.plan()) == ["Presets: no change since the live deployment."]
    old = ", ".join(s.fingerprint for s in presets["md"].specs())
    presets["md"].width = 300
    presets["md"].save()
    presets["xl"].delete()
    new = VariantPreset.objects.create(name="new", width=50, avif=False)
    current_plan = deploy.plan()
    assert (current_plan.added, current_plan.changed, current_plan.removed) == (["new"], ["md"], ["xl"])
    assert plan_lines(current_plan) == [
        "Presets:",
        f"  + new: {current(new)}",
        f"  ~ md: {old} -> {current(presets['md'])} (old revisions still served)",
        "  - xl: its URLs will no longer be generated",
    ]


def current(preset) -> str:
    return ", ".join(f"{s.fingerprint} ({s.format or 'as source'})" for s in preset.specs())


def test_a_cloudfront_deployment_is_refused_on_the_local_edge(presets):
    from imagevariants import deploy

    before = list(Publication.objects.values_list("pk", flat=True))
    with pytest.raises(DeployError, match="the site runs the local edge"):
        deploy.publish_to_cloudfront("someone")
    assert list(Publication.objects.values_list("pk", flat=True)) == before
