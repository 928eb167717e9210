"""Publishing presets to the edge: the code path shared by ``manage.py deploy_edge`` and the admin action.

On the local edge, publishing records the document at once. With a CDN, a deployment builds and verifies the
bundle, then creates or updates the role and the function, publishes a version, and attaches it to the
distribution; the tags switch to the new presets only once all of that succeeded.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from django.utils import timezone

from .. import conf, publishing
from ..edge.presets import Document
from ..models import EdgeDeployment
from . import aws
from .aws import DeployError
from .bundle import Bundle, BundleError, build, verify

__all__ = ["DeployError", "Options", "check_bundle", "plan", "publish", "rollback"]
Report = Callable[[str], None]


@dataclass(frozen=True)
class Options:
    """Deployment settings: IMAGEVARIANTS values unless overridden (by the command's flags)."""

    distribution_id: str = ""
    function_name: str = ""
    bucket: str | None = None
    role_name: str = ""
    runtime: str = ""
    memory: int = 0
    seed_urls: bool = False
    wait: bool = True
    poll_seconds: float = 60
    verify: bool = True

    @classmethod
    def from_settings(cls, **overrides: Any) -> Options:
        options = cls(
            distribution_id=conf.get("DISTRIBUTION_ID"),
            function_name=conf.get("FUNCTION_NAME"),
            bucket=conf.get("BUCKET"),
            role_name=conf.get("ROLE_NAME"),
            runtime=conf.get("RUNTIME"),
            memory=conf.get("MEMORY_MB"),
        )
        return replace(options, **{k: v for k, v in overrides.items() if v is not None})


@dataclass
class Plan:
    """What a deployment would change: presets added, changed, removed (by fingerprint)."""

    document: Document
    previous: EdgeDeployment | None
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        if not (self.added or self.changed or self.removed):
            return ["Presets: no change since the live deployment."]
        return ["Presets:", *(f"  {line}" for line in self.added + self.changed + self.removed)]


def plan() -> Plan:
    document = publishing.draft_document()
    previous = publishing.last_deployment(EdgeDeployment.Target.CLOUDFRONT)
    before = Document.from_dict(previous.document) if previous else None
    result = Plan(document, previous)
    for name, preset in document.presets.items():
        fingerprints = ", ".join(f"{fp} ({preset.revisions[fp].format or 'as source'})" for fp in preset.current)
        if before is None or name not in before.presets:
            result.added.append(f"+ {name}: {fingerprints}")
        elif before.presets[name].current != preset.current:
            old = ", ".join(before.presets[name].current)
            result.changed.append(f"~ {name}: {old} -> {fingerprints} (old revisions still served)")
    for name in sorted(set(before.presets) - set(document.presets) if before else ()):
        result.removed.append(f"- {name}: its URLs will no longer be generated")
    return result


def publish(
    by: str = "", *, options: Options | None = None, dry_run: bool = False, report: Report = lambda line: None
) -> EdgeDeployment | None:
    """Publish the current presets. Returns the deployment (the live one when up to date), None on a dry run.

    Raises DeployError with a one-sentence reason; a failed deployment is recorded as failed and leaves the
    distribution and the tags on the previous version.
    """
    if conf.local_mode():
        if dry_run:
            report("Local edge: publishing would apply the presets at once.")
            return None
        return publishing.publish_locally(by)
    options = options or Options.from_settings()
    _check(options)
    current = plan()
    for line in current.lines():
        report(line)
    bundle = _build(current.document, options.runtime)
    report(f"Bundle: {bundle.size / 1e6:.1f} MB, sha256 {bundle.sha256}")
    previous = current.previous
    if (
        previous
        and previous.document_sha256 == current.document.sha256
        and previous.bundle_sha256 == bundle.sha256
        and previous.distribution_id == options.distribution_id
    ):
        report(f"Up to date: the live deployment ({previous.function_arn}) already serves these presets.")
        return previous
    if dry_run:
        for line in _calls(options, current.document):
            report(line)
        return None
    if options.verify:
        check_bundle(bundle, report)
    deployment = publishing.record(
        current.document,
        EdgeDeployment.Target.CLOUDFRONT,
        by,
        bundle_sha256=bundle.sha256,
        distribution_id=options.distribution_id,
    )
    with _recorded(deployment):
        deployment.function_arn = _deploy(bundle, current.document, options, report)
        deployment.save(update_fields=["function_arn"])
        if options.wait:
            aws.wait_deployed(aws.clients()["cloudfront"], options.distribution_id, report, options.poll_seconds)
    report(f"Deployed {deployment.function_arn} on {options.distribution_id}.")
    return deployment


def rollback(by: str = "", *, options: Options | None = None, report: Report = lambda line: None) -> EdgeDeployment:
    """Put the previous successful deployment's function version back on the distribution (and its presets)."""
    options = options or Options.from_settings()
    _check(options)
    succeeded = EdgeDeployment.objects.filter(
        target=EdgeDeployment.Target.CLOUDFRONT, status=EdgeDeployment.Status.SUCCEEDED
    ).order_by("-created_at", "-pk")
    live = succeeded.first()
    target = succeeded.exclude(function_arn=live.function_arn).first() if live else None
    if target is None:
        raise DeployError("There is no earlier successful deployment to roll back to.")
    deployment = publishing.record(
        Document.from_dict(target.document),
        EdgeDeployment.Target.CLOUDFRONT,
        f"{by} (rollback)".strip(),
        bundle_sha256=target.bundle_sha256,
        distribution_id=options.distribution_id,
        function_arn=target.function_arn,
    )
    with _recorded(deployment):
        clients = aws.clients()
        if not aws.function_exists(clients["lambda"], target.function_arn):
            raise DeployError(f"Function version {target.function_arn} no longer exists.")
        config = aws.get_config(clients["cloudfront"], options.distribution_id).config
        seed = _has_association(config["DefaultCacheBehavior"])
        aws.update_distribution(
            clients["cloudfront"],
            options.distribution_id,
            lambda cfg: aws.associated(cfg, conf.get("VARIANT_PREFIX"), target.function_arn, seed),
        )
        if options.wait:
            aws.wait_deployed(clients["cloudfront"], options.distribution_id, report, options.poll_seconds)
    report(f"Rolled back to {target.function_arn} (deployment of {target.created_at:%Y-%m-%d %H:%M}).")
    return deployment


def _check(options: Options) -> None:
    if conf.get("REGION") != aws.LAMBDA_REGION:
        raise DeployError(f"Lambda@Edge functions live in us-east-1, not {conf.get('REGION')!r}: fix REGION.")
    if not options.distribution_id:
        raise DeployError("No distribution: give --distribution-id or set IMAGEVARIANTS['DISTRIBUTION_ID'].")


def _build(document: Document, runtime: str) -> Bundle:
    try:
        return build(document, runtime)
    except BundleError as exc:
        raise DeployError(str(exc)) from None


def check_bundle(bundle: Bundle, report: Report) -> None:
    """Run the bundle's handler under the runtime's Python when this machine has one; DeployError if it fails."""
    try:
        result = verify(bundle)
    except LookupError as exc:
        report(f"Bundle not run before upload: {exc}.")
    except BundleError as exc:
        raise DeployError(str(exc)) from None
    else:
        report(f"Bundle verified under Python {result['python']}: {result['variants']} variants made.")


def _has_association(behaviour: dict[str, Any]) -> bool:
    items = behaviour.get("LambdaFunctionAssociations", {}).get("Items", []) or []
    return any(item["EventType"] == aws.EVENT_TYPE for item in items)


def _deploy(bundle: Bundle, document: Document, options: Options, report: Report) -> str:
    try:
        clients = aws.clients()
        config = aws.get_config(clients["cloudfront"], options.distribution_id).config
        origin = aws.s3_origin(config, document.prefix)
        bucket = options.bucket or origin.bucket
        policy = aws.role_policy(bucket, origin.key_prefix, document.prefix, options.function_name)
        report(f"Role {options.role_name}: inline policy {aws.POLICY_NAME}:\n{json.dumps(policy, indent=2)}")
        role_arn = aws.ensure_role(clients["iam"], options.role_name, policy)
        description = f"imagevariants presets {document.sha256[:12]} bundle {bundle.sha256[:12]}"
        arn = aws.publish_function(
            clients["lambda"],
            name=options.function_name,
            role_arn=role_arn,
            runtime=options.runtime,
            memory=options.memory,
            zip_bytes=bundle.data,
            description=description,
        )
        report(f"Published {arn}.")
        aws.update_distribution(
            clients["cloudfront"],
            options.distribution_id,
            lambda cfg: aws.associated(cfg, document.prefix, arn, options.seed_urls),
        )
        report(f"Distribution {options.distribution_id}: origin-response on {document.prefix}* -> {arn}.")
        return arn
    except (ClientError, BotoCoreError) as exc:
        raise DeployError(aws.explain(exc)) from None


def _calls(options: Options, document: Document) -> list[str]:
    return [
        "Would call (nothing is changed by a dry run):",
        f"  iam: GetRole {options.role_name}, CreateRole if missing, PutRolePolicy {aws.POLICY_NAME}",
        f"  lambda (us-east-1): GetFunction {options.function_name}, CreateFunction or UpdateFunctionCode"
        f" + UpdateFunctionConfiguration ({options.runtime}, {options.memory} MB, x86_64), PublishVersion",
        f"  cloudfront: GetDistributionConfig {options.distribution_id}, UpdateDistribution (IfMatch) with"
        f" origin-response on {document.prefix}*" + (" and the default behaviour" if options.seed_urls else ""),
    ]


@contextmanager
def _recorded(deployment: EdgeDeployment) -> Iterator[None]:
    """Mark ``deployment`` succeeded when the block completes, failed (with the reason) when it raises."""
    try:
        yield
    except Exception as exc:
        reason = str(exc) if isinstance(exc, DeployError) else aws.explain(exc)
        _finish(deployment, EdgeDeployment.Status.FAILED, reason)
        raise DeployError(reason) from None
    _finish(deployment, EdgeDeployment.Status.SUCCEEDED)


def _finish(deployment: EdgeDeployment, status: str, error: str = "") -> None:
    deployment.status = status
    deployment.error = error
    deployment.finished_at = timezone.now()
    deployment.save(update_fields=["status", "error", "finished_at"])
