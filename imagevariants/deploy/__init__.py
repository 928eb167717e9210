"""Publishing presets to CloudFront: the code path shared by ``manage.py deploy_edge`` and the admin action.

(On the local edge, ``publishing.publish_locally`` publishes instead.) A deployment takes the lock (its own
pending ``Publication``: one at a time per target), builds and verifies the bundle, then creates or updates
the role and the function, publishes a version of exactly that bundle, and attaches it to the distribution. Once
the distribution runs the new version the deployment is live and the tags switch to its presets, even when
CloudFront's propagation could not be confirmed afterwards.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeGuard, overload

from botocore.exceptions import BotoCoreError, ClientError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from .. import conf, publishing
from ..edge.presets import Document
from ..exceptions import BundleError, DeployError, RuntimeUnavailable
from ..models import Publication, memory_problem
from . import aws
from .bundle import Bundle, build, verify

__all__ = [
    "DeployError",
    "Options",
    "Plan",
    "SiteDistribution",
    "abandon",
    "acquire",
    "check_bundle",
    "ensure_distribution",
    "finish",
    "plan",
    "publish_to_cloudfront",
    "rollback",
]
Report = Callable[[str], None]

#: How long a pending deployment holds the lock; after that it is taken to have died (marked failed, abandoned).
#: Longer than every step together: the role's propagation, Lambda's updates and the CloudFront wait.
LEASE = timedelta(minutes=45)
#: How long to wait for the distribution to be Deployed (well inside the lease).
WAIT_TIMEOUT = 30 * 60


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
    detach_foreign_policies: bool = False

    @classmethod
    def from_settings(cls, **overrides: Any) -> Options:
        options = cls(
            distribution_id=conf.settings().distribution_id,
            function_name=conf.settings().function_name,
            bucket=conf.settings().bucket,
            role_name=conf.settings().role_name,
            runtime=conf.settings().runtime,
            memory=conf.settings().memory_mb,
        )
        options = replace(options, **{k: v for k, v in overrides.items() if v is not None})
        site = options.bucket or options.distribution_id
        if not site:
            return options
        function_name, role_name = aws.site_names(site)  # names of this site's own unless given
        return replace(
            options, function_name=options.function_name or function_name, role_name=options.role_name or role_name
        )


@dataclass
class Plan:
    """What a deployment would change against the live one (``previous``, its document ``before``): the names of
    the presets added, changed (other current revisions) and removed, in the document's order. Data only: the
    words are ``texts.plan_lines``."""

    document: Document
    previous: Publication | None
    before: Document | None = None
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def plan() -> Plan:
    document = publishing.draft_document()
    previous = publishing.last_publication(Publication.Target.CLOUDFRONT)
    before = Document.from_dict(previous.document) if previous else None
    result = Plan(document, previous, before)
    for name, preset in document.presets.items():
        if before is None or name not in before.presets:
            result.added.append(name)
        elif before.presets[name].current != preset.current:
            result.changed.append(name)
    result.removed = sorted(set(before.presets) - set(document.presets) if before else ())
    return result


@overload
def publish_to_cloudfront(
    by: str = ...,
    *,
    options: Options | None = ...,
    dry_run: Literal[False] = ...,
    report: Report = ...,
    show_plan: Callable[[Plan], None] = ...,
    deployment: Publication | None = ...,
    ahead_of_cdn_url: bool = ...,
) -> Publication: ...


@overload
def publish_to_cloudfront(
    by: str = ...,
    *,
    options: Options | None = ...,
    dry_run: bool,
    report: Report = ...,
    show_plan: Callable[[Plan], None] = ...,
    deployment: Publication | None = ...,
    ahead_of_cdn_url: bool = ...,
) -> Publication | None: ...


def publish_to_cloudfront(
    by: str = "",
    *,
    options: Options | None = None,
    dry_run: bool = False,
    report: Report = lambda line: None,
    show_plan: Callable[[Plan], None] = lambda plan: None,
    deployment: Publication | None = None,
    ahead_of_cdn_url: bool = False,
) -> Publication | None:
    """Deploy the current presets to CloudFront. Returns the deployment (the live one when up to date), None on a
    dry run. ``show_plan`` gets what the deployment changes, once planned (under the lock), before the bundle is
    built; ``report`` gets each step's line. ``deployment`` is the lock when the caller took it already
    (:func:`acquire`: the admin, whose deployments run in a process of their own); that record then keeps how the
    deployment ended, up to date or failed with its reason, where a deployment that changed nothing on AWS
    otherwise leaves no trace.

    Raises DeployError with a one-sentence reason: when the site runs the local edge (no CDN_URL), when another
    deployment is in progress, or when a step fails before the distribution was updated (the deployment is then
    recorded as failed and the distribution and the tags stay on the previous version).

    ``ahead_of_cdn_url``: the distribution is the site's own (``ensure_distribution``), which the settings may not
    name yet, so a site still on the local edge deploys to it all the same; the tags use that deployment once
    CDN_URL is set.
    """
    # the tags would never read this deployment: they use the local edge's publications
    if conf.settings().local_mode and not ahead_of_cdn_url:
        raise DeployError("IMAGEVARIANTS['CDN_URL'] is not set, so the site runs the local edge: publish locally.")
    options = options or Options.from_settings()
    _check(options)
    if dry_run:
        return _dry_run(options, report, show_plan)
    keep = deployment is not None
    deployment = deployment or _acquire(by, options)
    try:
        # Planned under the lock: no other deployment can finish (and publish revisions) from here on.
        current = plan()
        _check_memory(current.document)
        show_plan(current)
        bundle = _build(current.document, options.runtime)
        report(f"Bundle: {bundle.size / 1e6:.1f} MB, sha256 {bundle.sha256}")
        previous = current.previous
        if _up_to_date(previous, current.document, bundle, options) and _still_up_to_date(
            options, current.document, report
        ):
            up_to_date = f"Up to date: the live deployment ({previous.function_arn}) already serves these presets."
            _release(deployment, keep, note=up_to_date)
            report(up_to_date)
            return previous
        if options.verify:
            check_bundle(bundle, report)
    except BaseException as exc:
        _release(deployment, keep, error=_reason(exc) if keep else "")
        raise
    return _go_live(deployment, current.document, bundle, options, report, "Deployed")


def rollback(by: str = "", *, options: Options | None = None, report: Report = lambda line: None) -> Publication:
    """Make the presets of the deployment before the live one current again, as a new function version.

    The new document also keeps every revision served in the last ``REVISIONS_KEEP_DAYS`` days (those of the
    deployment rolled back from included), so the URLs emitted meanwhile, which cached pages may hold, keep
    working and ``prune_variants`` keeps their stored variants. The bundle is built with the installed edge code.
    """
    options = options or Options.from_settings()
    _check(options)
    deployment = _acquire(f"{by} (rollback)".strip(), options)
    try:
        live, target = _rollback_target()
        document = _rollback_document(live, target)
        report(f"Rollback to the presets of the deployment of {_utc(target.created_at)} ({target.function_arn}):")
        for line in _rollback_lines(Document.from_dict(live.document), Document.from_dict(target.document), document):
            report(f"  {line}")
        bundle = _build(document, options.runtime)
        report(f"Bundle: {bundle.size / 1e6:.1f} MB, sha256 {bundle.sha256}")
        if options.verify:
            check_bundle(bundle, report)
    except BaseException:
        _release(deployment)
        raise
    done = f"Rolled back to the presets of the deployment of {_utc(target.created_at)}"
    return _go_live(deployment, document, bundle, options, report, done)


def abandon(by: str = "", report: Report = lambda line: None) -> int:
    """Mark the pending CloudFront deployment (whose run died) as failed, releasing the lock. Returns how many."""
    abandoned = 0
    for deployment in _pending():
        abandoned += finish(
            deployment,
            Publication.Status.FAILED,
            f"Abandoned by {by or 'an operator'} (deploy_edge --abandon-pending).",
        )
        report(f"Marked the deployment started by {deployment.created_by} at {_utc(deployment.created_at)} as failed.")
    return abandoned


def _dry_run(options: Options, report: Report, show_plan: Callable[[Plan], None]) -> Publication | None:
    current = plan()
    show_plan(current)
    bundle = _build(current.document, options.runtime)
    report(f"Bundle: {bundle.size / 1e6:.1f} MB, sha256 {bundle.sha256}")
    holder = _pending().first()
    if holder is not None:
        report(_busy(holder))
    if _up_to_date(current.previous, current.document, bundle, options):
        report(f"Up to date: the live deployment ({current.previous.function_arn}) already serves these presets.")
        report(f"Would check role {options.role_name}'s policies and rewrite any that changed.")
        return current.previous
    lines, refusals = _calls(options, current.document)
    for line in lines:
        report(line)
    if refusals:
        raise DeployError(refusals[0])
    return None


def _up_to_date(
    previous: Publication | None, document: Document, bundle: Bundle, options: Options
) -> TypeGuard[Publication]:
    return bool(
        previous
        and previous.document_sha256 == document.sha256
        and previous.bundle_sha256 == bundle.sha256
        and previous.distribution_id == options.distribution_id
        and _function_name(previous.function_arn) == options.function_name
    )


def _function_name(arn: str) -> str:
    """The function name of a (versioned) Lambda ARN: ``arn:aws:lambda:region:account:function:NAME:VERSION``."""
    return arn.split(":")[6] if arn.count(":") >= 6 else ""


def _still_up_to_date(options: Options, document: Document, report: Report) -> bool:
    """On the "Up to date" path: the live function must still be this site's, running ``options.role_name``, whose
    policies are checked and repaired. False (a full deployment follows) when the function is missing or runs
    another role."""
    clients = aws.clients()
    site, policy = _site_policy(clients, document, options)
    live = aws.claim_function(clients["lambda"], clients["iam"], options.function_name, site)
    if live is None or live.role_name != options.role_name:
        why = "does not exist" if live is None else f"runs role {live.role_name}, not {options.role_name}"
        report(f"Function {options.function_name} {why}: deploying it again.")
        return False
    aws.ensure_role(
        clients["iam"], options.role_name, policy, site, detach_foreign=options.detach_foreign_policies, report=report
    )
    if live.adopt:
        aws.tag_function(clients["lambda"], live, site, report)
    return True


# -- the lock ---------------------------------------------------------------------------------------------------
def _pending() -> QuerySet[Publication]:
    pending = Publication.objects.filter(target=Publication.Target.CLOUDFRONT, status=Publication.Status.PENDING)
    return pending.order_by("created_at", "pk")


def _utc(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def _busy(holder: Publication) -> str:
    return (
        f"Another deployment to CloudFront is in progress, started by {holder.created_by} at"
        f" {_utc(holder.created_at)}: wait for it to finish or, if that run died, clear it with"
        f" `manage.py deploy_edge --abandon-pending` (it stops blocking by itself at"
        f" {_utc(holder.created_at + LEASE)})."
    )


def _acquire(by: str, options: Options) -> Publication:
    """Record a pending deployment, which is the lock; DeployError naming the holder when another has it."""
    now = timezone.now()
    _pending().filter(created_at__lt=now - LEASE).update(
        status=Publication.Status.FAILED,
        error=(
            f"Abandoned: still in progress {int(LEASE.total_seconds() // 60)} minutes after it started,"
            " so its run is taken to have died."
        ),
        finished_at=now,
    )
    try:
        with transaction.atomic():
            deployment = publishing.record(
                publishing.draft_document(),  # a placeholder: the document is made under the lock
                Publication.Target.CLOUDFRONT,
                by,
                distribution_id=options.distribution_id,
            )
    except IntegrityError:
        holder = _pending().first()
        if holder is None:
            raise DeployError("Another deployment to CloudFront started at the same moment: run again.") from None
        raise DeployError(_busy(holder)) from None
    # Where the database cannot enforce the conditional unique constraint (MySQL), check it here.
    holder = _pending().exclude(pk=deployment.pk).first()
    if holder is not None:
        deployment.delete()
        raise DeployError(_busy(holder))
    return deployment


def acquire(by: str = "", options: Options | None = None) -> Publication:
    """Take the lock for a deployment that ``publish_to_cloudfront(deployment=...)`` runs later (elsewhere).

    DeployError as ``publish_to_cloudfront`` refuses: no distribution, or another deployment in progress."""
    options = options or Options.from_settings()
    _check(options)
    return _acquire(by, options)


def _release(deployment: Publication, keep: bool = False, error: str = "", note: str = "") -> None:
    """Give the lock back without a trace: nothing was changed on AWS (up to date, or the bundle failed). A
    deployment its caller handed in (``keep``) is closed instead, so that its record says how it ended."""
    if keep:
        finish(deployment, Publication.Status.FAILED if error else Publication.Status.UNCHANGED, error, note)
        return
    Publication.objects.filter(pk=deployment.pk, status=Publication.Status.PENDING).delete()


def _hold(deployment: Publication) -> None:
    """Refuse to touch the distribution once the lock was taken away (abandoned by an operator or the lease)."""
    if not Publication.objects.filter(pk=deployment.pk, status=Publication.Status.PENDING).exists():
        raise DeployError("This deployment was marked abandoned while it ran, so its version was not attached.")


# -- rollback ---------------------------------------------------------------------------------------------------
def _rollback_target() -> tuple[Publication, Publication]:
    """The live deployment and the latest earlier successful one whose presets differ from it."""
    succeeded = Publication.objects.filter(
        target=Publication.Target.CLOUDFRONT, status=Publication.Status.SUCCEEDED
    ).order_by("-created_at", "-pk")
    live = succeeded.first()
    if live is not None:
        live_current = _currents(Document.from_dict(live.document))
        for candidate in succeeded.exclude(pk=live.pk).iterator():
            if _currents(Document.from_dict(candidate.document)) != live_current:
                return live, candidate
    raise DeployError("There is no earlier successful deployment with other presets to roll back to.")


def _currents(document: Document) -> dict[str, tuple[str, ...]]:
    return {name: preset.current for name, preset in document.presets.items()}


def _rollback_document(live: Publication, target: Publication) -> Document:
    """The target's presets as current, presets added since kept as they are, and every revision still served."""
    old, now = Document.from_dict(target.document), Document.from_dict(live.document)
    current = {name: [preset.revisions[fp] for fp in preset.current] for name, preset in old.presets.items()}
    for name, preset in now.presets.items():
        current.setdefault(name, [preset.revisions[fp] for fp in preset.current])  # its URLs are in pages
    return Document.build(
        current,
        publishing.served_revisions(Publication.Target.CLOUDFRONT),
        prefix=conf.settings().variant_prefix,
        limits=conf.settings().limits,
        sources=conf.settings().sources,
    )


def _rollback_lines(live: Document, target: Document, document: Document) -> list[str]:
    lines = []
    for name, preset in document.presets.items():
        before = live.presets.get(name)
        if before is None:
            lines.append(f"+ {name}: {', '.join(preset.current)} again")
        elif name not in target.presets:
            lines.append(f"= {name}: kept, as it was added since and its URLs may be in pages")
        elif before.current != preset.current:
            lines.append(f"~ {name}: {', '.join(before.current)} -> {', '.join(preset.current)} (both served)")
    return lines


# -- building and going live ------------------------------------------------------------------------------------
def _check_memory(document: Document) -> None:
    """DeployError when a current output's worst case cannot fit the function's memory (MEMORY_MB changed)."""
    for name, preset in document.presets.items():
        problem = memory_problem([preset.revisions[fp] for fp in preset.current], document.limits)
        if problem:
            raise DeployError(f"Preset {name!r}: {problem}")


def _check(options: Options) -> None:
    if conf.settings().region != aws.LAMBDA_REGION:
        raise DeployError(f"Lambda@Edge functions live in us-east-1, not {conf.settings().region!r}: fix REGION.")
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
    except RuntimeUnavailable as exc:
        report(f"Bundle not run before upload: {exc}.")
    except BundleError as exc:
        raise DeployError(str(exc)) from None
    else:
        report(f"Bundle verified under Python {result['python']}: {result['variants']} variants made.")


def _go_live(
    deployment: Publication, document: Document, bundle: Bundle, options: Options, report: Report, done: str
) -> Publication:
    """Upload, publish and attach; the deployment is live from the moment UpdateDistribution succeeded."""
    deployment.document = document.to_dict()
    deployment.document_sha256 = document.sha256
    deployment.bundle_sha256 = bundle.sha256
    deployment.save(update_fields=["document", "document_sha256", "bundle_sha256"])
    try:
        clients = aws.clients()
        deployment.function_arn = _upload(clients, bundle, document, options, report)
        deployment.save(update_fields=["function_arn"])
        _hold(deployment)
        _attach(clients, deployment.function_arn, document, options, report)
    except BaseException as exc:
        reason = _reason(exc)
        finish(deployment, Publication.Status.FAILED, error=reason)
        if isinstance(exc, Exception):
            raise DeployError(reason) from None
        raise
    # The distribution now runs the new version: whatever the wait says, that is what is live.
    note, interrupted = "Propagation to the edge locations was not awaited (no wait asked).", None
    if options.wait:
        # Within the lease, so that no other deployment can take the lock while this one still runs.
        left = (deployment.created_at + LEASE - timezone.now()).total_seconds() - 60
        try:
            aws.wait_deployed(
                clients["cloudfront"], options.distribution_id, report, options.poll_seconds, min(WAIT_TIMEOUT, left)
            )
            note = ""
        except BaseException as exc:
            note = f"Propagation to the edge locations was not confirmed: {_reason(exc).rstrip('.')}."
            interrupted = None if isinstance(exc, Exception) else exc
    if not finish(deployment, Publication.Status.SUCCEEDED, note=note):
        raise DeployError(
            f"Version {deployment.function_arn} is attached but this deployment was marked abandoned while it ran,"
            " so the tags stay on the previous presets (which it also serves): run deploy_edge again."
        )
    report(f"{done}: {deployment.function_arn} on {options.distribution_id}.")
    if note and options.wait:
        report(
            f"{note[:-1]}; the deployment is recorded as live, since the distribution already runs"
            f" {deployment.function_arn}: check its status in the CloudFront console rather than deploying again."
        )
    if interrupted is not None:
        raise interrupted
    return deployment


def _reason(exc: BaseException) -> str:
    if isinstance(exc, DeployError):
        return str(exc)
    if isinstance(exc, KeyboardInterrupt):
        return "Interrupted."
    if isinstance(exc, Exception):
        return aws.explain(exc)
    return f"Stopped by {type(exc).__name__}."


def _has_association(behaviour: dict[str, Any], function_name: str) -> bool:
    """Whether ``behaviour`` runs a version of this function at origin-response."""
    items = behaviour.get("LambdaFunctionAssociations", {}).get("Items", []) or []
    return any(
        item["EventType"] == aws.EVENT_TYPE and f":function:{function_name}:" in item["LambdaFunctionARN"]
        for item in items
    )


def _site_policy(clients: dict[str, Any], document: Document, options: Options) -> tuple[aws.Site, dict[str, Any]]:
    """This site (its bucket and distribution) and the role policy it needs, from the distribution's origin."""
    config = aws.get_config(clients["cloudfront"], options.distribution_id).config
    origin = _media_origin(clients, config, document.prefix, options)
    site = aws.Site(options.bucket or origin.bucket, options.distribution_id)
    policy = aws.role_policy(site.bucket, origin.key_prefix, document.prefix, options.function_name, document.sources)
    return site, policy


def _upload(clients: dict[str, Any], bundle: Bundle, document: Document, options: Options, report: Report) -> str:
    """The role with its policy, the function with the bundle, a published version. Returns its ARN.

    A role or a function that serves another site is refused before anything is changed."""
    site, policy = _site_policy(clients, document, options)
    report(f"Role {options.role_name}: inline policy {aws.POLICY_NAME}:\n{json.dumps(policy, indent=2)}")
    live = aws.claim_function(clients["lambda"], clients["iam"], options.function_name, site)
    role_arn = aws.ensure_role(
        clients["iam"], options.role_name, policy, site, detach_foreign=options.detach_foreign_policies, report=report
    )
    if live is not None and live.adopt:
        aws.tag_function(clients["lambda"], live, site, report)
    description = f"imagevariants presets {document.sha256[:12]} bundle {bundle.sha256[:12]}"
    arn = aws.publish_function(
        clients["lambda"],
        name=options.function_name,
        role_arn=role_arn,
        runtime=options.runtime,
        memory=options.memory,
        zip_bytes=bundle.data,
        description=description,
        tags=site.tags(),
    )
    report(f"Published {arn} (code {aws.code_sha256(bundle.data)}).")
    return arn


def _attach(clients: dict[str, Any], arn: str, document: Document, options: Options, report: Report) -> None:
    """The version on the variant behaviour, and on the default one when asked or when it already runs this
    function, or the live deployment's under its former name, there (for seed-style URLs), so no behaviour keeps
    an older version."""
    previous = publishing.last_publication(Publication.Target.CLOUDFRONT)
    former = _function_name(previous.function_arn) if previous else ""
    names = {options.function_name, former} - {""}

    def change(config: dict[str, Any]) -> dict[str, Any]:
        config = _with_media_origin(clients, config, document.prefix, options, report)
        default = config["DefaultCacheBehavior"]
        seed = options.seed_urls or any(_has_association(default, name) for name in names)
        return aws.associated(config, document.prefix, arn, seed)

    aws.update_distribution(clients["cloudfront"], options.distribution_id, change)
    report(f"Distribution {options.distribution_id}: origin-response on {document.prefix}* -> {arn}.")
    if former and former != options.function_name:
        report(
            f"Function {options.function_name} replaces {former} here: delete {former} and its role once no"
            " distribution runs it."
        )


def _calls(options: Options, document: Document) -> tuple[list[str], list[str]]:
    """The calls a deployment would make, from what AWS holds now (read with Get and List calls only), and the
    reasons it would be refused. DeployError when the distribution cannot be read."""
    clients = aws.clients()
    try:
        return _survey(clients, options, document)
    except (ClientError, BotoCoreError) as exc:
        raise DeployError(aws.explain(exc)) from None


def _survey(clients: dict[str, Any], options: Options, document: Document) -> tuple[list[str], list[str]]:
    pattern, refusals = f"{document.prefix}*", list[str]()
    config = aws.get_config(clients["cloudfront"], options.distribution_id).config
    behaviour = aws.find_behaviour(config, document.prefix)
    target = (behaviour or config["DefaultCacheBehavior"])["TargetOriginId"]
    try:
        origin = _media_origin(clients, config, document.prefix, options)
    except DeployError as exc:
        refusals.append(str(exc))
        origin_line, bucket = f"origin {target} is not an S3 bucket: refused", options.bucket
    else:
        origin_line = f"origin {target} is S3 bucket {origin.bucket}" + (
            f" under {origin.key_prefix}" if origin.key_prefix else ""
        )
        if aws.needs_bucket_origin(config, document.prefix):
            origin_line = _media_origin_line(clients, target, origin, options)
        bucket = options.bucket or origin.bucket
        if bucket != origin.bucket:
            origin_line += f" (the role's policy names bucket {bucket}, from BUCKET or --bucket)"
    name = options.role_name
    if aws.read_role(clients["iam"], name) is None:
        role_line = f"role {name} does not exist: CreateRole, PutRolePolicy {aws.POLICY_NAME}"
    else:
        foreign = aws.foreign_policies(clients["iam"], name)
        role_line = f"role {name} exists"
        if foreign and not options.detach_foreign_policies:  # as aws.ensure_role refuses it
            role_line += f" with other policies ({', '.join(foreign.names())}): refused"
            refusals.append(aws.foreign_refusal(name, foreign))
        else:
            detach = "".join(f"DetachRolePolicy {arn}, " for arn in foreign.managed)
            detach += "".join(f"DeleteRolePolicy {policy}, " for policy in foreign.inline)
            role_line += f": {detach}UpdateAssumeRolePolicy, PutRolePolicy {aws.POLICY_NAME}"
    function = options.function_name
    if aws.read_function(clients["lambda"], function) is None:
        function_line = f"function {function} does not exist: CreateFunction"
    else:
        function_line = f"function {function} exists: UpdateFunctionCode + UpdateFunctionConfiguration"
    seed = options.seed_urls or _has_association(config["DefaultCacheBehavior"], function)
    made = "for the bucket" if aws.needs_bucket_origin(config, document.prefix) else "from the default one"
    return [
        "Would call (nothing is changed by a dry run; AWS was only read):",
        f"  cloudfront: distribution {options.distribution_id}: "
        + (f"behaviour {pattern}" if behaviour else f"no {pattern} behaviour yet, made {made}")
        + f", {origin_line}",
        f"  iam: {role_line}" + (f" (on bucket {bucket})" if bucket else ""),
        f"  lambda (us-east-1): {function_line} ({options.runtime}, {options.memory} MB, x86_64), PublishVersion"
        " (with the bundle's CodeSha256)",
        f"  cloudfront: UpdateDistribution {options.distribution_id} (IfMatch) with origin-response on {pattern}"
        + (" and the default behaviour" if seed else ""),
    ], refusals


# -- the site's own distribution ------------------------------------------------------------------------------
@dataclass(frozen=True)
class SiteDistribution:
    """What ``ensure_distribution`` found or made: the options that deploy to it, its URL (CDN_URL), and whether
    this run created it. A dry run that would create one names none (``options.distribution_id`` is empty)."""

    options: Options
    cdn_url: str = ""
    created: bool = False


def ensure_distribution(
    options: Options | None = None, *, dry_run: bool = False, report: Report = lambda line: None
) -> SiteDistribution:
    """Find the site's distribution (one in front of its bucket, tagged ``imagevariants:bucket`` with it) or create
    it, then make sure the bucket policy lets it read the bucket.

    A new one reads the bucket through an origin access control (no public bucket, no legacy OAI), serves the
    originals on its default behaviour and has the variant behaviour ``{prefix}*``, both GET and HEAD only, HTTPS,
    cached on the URL alone (``aws.CACHE_POLICY_ID``), over HTTP/2 and HTTP/3. The deployment then attaches the
    function to it. Run again, it finds that distribution and creates nothing. A dry run only reads, and says what
    it would create. DeployError when no bucket is known, or when the settings name another distribution.
    """
    options = options or Options.from_settings()
    if conf.settings().region != aws.LAMBDA_REGION:
        raise DeployError(f"Lambda@Edge functions live in us-east-1, not {conf.settings().region!r}: fix REGION.")
    bucket = options.bucket or _storage_bucket()
    if not bucket:
        raise DeployError(
            "No bucket to make the distribution for: set IMAGEVARIANTS['BUCKET'] (or AWS_STORAGE_BUCKET_NAME, or"
            " the storage's bucket_name), or give --bucket."
        )
    clients = aws.clients()
    cloudfront, s3 = clients["cloudfront"], clients["s3"]
    root = _bucket_root(bucket)
    try:
        found = aws.find_distribution(cloudfront, bucket)
        if options.distribution_id and (found is None or found.id != options.distribution_id):
            raise DeployError(
                f"DISTRIBUTION_ID (or --distribution-id) names {options.distribution_id}, not the distribution made"
                f" for bucket {bucket}: deploy to it without --create-distribution (a variant behaviour whose"
                " origin is not a bucket gets the bucket as its origin), or leave it out to find or create the"
                " site's own."
            )
        region = aws.bucket_region(s3, bucket)
        created = found is None
        if found is not None:
            report(
                f"Distribution {found.id} (https://{found.domain}) is this site's, tagged {aws.TAG_BUCKET}={bucket}:"
                " nothing to create."
            )
        elif dry_run:
            _creation_lines(cloudfront, s3, bucket, region, root, report)
            return SiteDistribution(_site_options(options, bucket, ""))
        else:
            origin = aws.bucket_origin(bucket, region, root, aws.ensure_oac(cloudfront, bucket, report))
            config = aws.new_distribution(bucket, origin, conf.settings().variant_prefix)
            found = aws.create_distribution(cloudfront, config, bucket)
            report(
                f"Created distribution {found.id} (https://{found.domain}), tagged {aws.TAG_BUCKET}={bucket}: bucket"
                f" {bucket} ({region}) through origin access control {aws.oac_name(bucket)}, the originals on the"
                f" default behaviour and the variants on {conf.settings().variant_prefix}*, cached on the URL alone,"
                f" {aws.HTTP_VERSION}, {aws.PRICE_CLASS}."
            )
        _allow(s3, bucket, root, found, dry_run, report)
    except (ClientError, BotoCoreError) as exc:
        raise DeployError(aws.explain(exc)) from None
    return SiteDistribution(_site_options(options, bucket, found.id), f"https://{found.domain}", created)


def _site_options(options: Options, bucket: str, distribution_id: str) -> Options:
    """``options`` naming the site's bucket and distribution, and the function and role of the site's own unless
    named."""
    function_name, role_name = aws.site_names(bucket)
    return replace(
        options,
        bucket=bucket,
        distribution_id=distribution_id,
        function_name=options.function_name or function_name,
        role_name=options.role_name or role_name,
    )


def _storage_bucket() -> str | None:
    """The bucket of the sources' storage (its ``bucket_name``), None when it has none."""
    try:
        bucket = getattr(conf.source_storage, "bucket_name", None)
    except Exception:  # a storage that cannot be made here names no bucket (check E006 says why)
        return None
    return str(bucket) if bucket else None


def _bucket_root(bucket: str) -> str:
    """The sources' storage's ``location`` as a key prefix ("media/") when that storage is on ``bucket``: the
    origin path of an origin on the bucket, as the keys the tags emit are relative to it."""
    try:
        storage = conf.source_storage
        if getattr(storage, "bucket_name", None) != bucket:
            return ""
        location = str(getattr(storage, "location", "") or "").strip("/")
    except Exception:  # as in _storage_bucket
        return ""
    return f"{location}/" if location else ""


def _allow(
    s3: Any, bucket: str, key_prefix: str, distribution: aws.Distribution, dry_run: bool, report: Report
) -> None:
    """Merge the statement that lets ``distribution`` read the bucket into the bucket's policy, keeping every
    other statement; nothing when it is there already."""
    statement = aws.bucket_statement(bucket, key_prefix, distribution)
    policy = aws.merged_bucket_policy(aws.read_bucket_policy(s3, bucket), statement)
    if policy is None:
        report(
            f"Bucket {bucket}: its policy lets distribution {distribution.id} read it ({statement['Sid']}), checked."
        )
        return
    what = (
        f"statement {statement['Sid']}: s3:GetObject on {statement['Resource']} for cloudfront.amazonaws.com from"
        f" distribution {distribution.id} only, {len(policy['Statement']) - 1} other statement(s) kept"
    )
    if dry_run:
        report(f"Would call PutBucketPolicy on bucket {bucket} ({what}).")
        return
    aws.put_bucket_policy(s3, bucket, policy)
    report(f"Bucket {bucket}: policy written ({what}).")


def _creation_lines(cloudfront: Any, s3: Any, bucket: str, region: str, root: str, report: Report) -> None:
    """What ``ensure_distribution`` would create, from what AWS holds now (read only)."""
    name, prefix = aws.oac_name(bucket), conf.settings().variant_prefix
    origin = aws.bucket_origin(bucket, region, root, "")
    policy = aws.read_bucket_policy(s3, bucket) or {}
    statements = policy.get("Statement", [])
    kept = len([statements] if isinstance(statements, dict) else statements)
    report("Would create (nothing is changed by a dry run; AWS was only read):")
    report(
        f"  cloudfront: origin access control {name} exists"
        if aws.find_oac(cloudfront, name)
        else f"  cloudfront: CreateOriginAccessControl {name} (SigV4, signing always, S3)"
    )
    report(
        f"  cloudfront: CreateDistributionWithTags ({aws.TAG_BUCKET}={bucket}): origin {origin['Id']}"
        f" ({origin['DomainName']}{origin['OriginPath']}) through origin access control {name}; the default"
        f" behaviour (the originals) and {prefix}* (the variants): GET and HEAD, redirect-to-https, cache policy"
        f" {aws.CACHE_POLICY_ID} (CachingOptimizedForUncompressedObjects), not compressed; {aws.HTTP_VERSION},"
        f" {aws.PRICE_CLASS}"
    )
    report(
        f"  s3: PutBucketPolicy on bucket {bucket}: s3:GetObject on arn:aws:s3:::{bucket}/{root}* for"
        f" cloudfront.amazonaws.com from the new distribution only (AWS:SourceArn), {kept} other statement(s) kept"
    )


def _media_origin(clients: dict[str, Any], config: dict[str, Any], prefix: str, options: Options) -> aws.Origin:
    """The bucket the variant behaviour reads (``aws.s3_origin``). When its origin is not a bucket (the app's), the
    media bucket (BUCKET, else the storage's), which the deployment adds as its origin (``_with_media_origin``);
    DeployError when that bucket does not exist."""
    bucket = options.bucket or _storage_bucket()
    target = aws.target_origin(config, prefix)
    if not bucket or target is None or not aws.needs_bucket_origin(config, prefix):
        return aws.s3_origin(config, prefix)
    try:
        aws.bucket_region(clients["s3"], bucket)
    except DeployError:
        raise DeployError(
            f"Origin {target['Id']!r} ({target['DomainName']}) is not an S3 bucket, and bucket {bucket!r}, to add as"
            f" the origin of {prefix}*, does not exist."
        ) from None
    except (ClientError, BotoCoreError) as exc:
        raise DeployError(aws.explain(exc)) from None
    return aws.Origin(bucket, _bucket_root(bucket))


def _with_media_origin(
    clients: dict[str, Any], config: dict[str, Any], prefix: str, options: Options, report: Report
) -> dict[str, Any]:
    """``config`` with the media bucket as the variant behaviour's origin (the behaviour made when missing) when
    that origin is not a bucket (the app's), after the bucket's origin access control (made when missing) and the
    bucket policy statement that lets this distribution read it. ``config`` itself otherwise."""
    bucket = options.bucket or _storage_bucket()
    target = aws.target_origin(config, prefix)
    if not bucket or target is None or not aws.needs_bucket_origin(config, prefix):
        return config
    cloudfront, s3 = clients["cloudfront"], clients["s3"]
    root = _bucket_root(bucket)
    origin = aws.bucket_origin(bucket, aws.bucket_region(s3, bucket), root, aws.ensure_oac(cloudfront, bucket, report))
    _allow(s3, bucket, root, aws.read_distribution(cloudfront, options.distribution_id), False, report)
    report(
        f"Distribution {options.distribution_id}: origin {target['Id']} is not an S3 bucket, so {prefix}* reads"
        f" bucket {bucket} (origin {origin['Id']}, through origin access control {aws.oac_name(bucket)})."
    )
    return aws.with_bucket_origin(config, prefix, origin)


def _media_origin_line(clients: dict[str, Any], target: str, origin: aws.Origin, options: Options) -> str:
    """What the deployment would do for a variant behaviour whose origin is not a bucket (read only)."""
    cloudfront, s3 = clients["cloudfront"], clients["s3"]
    name = aws.oac_name(origin.bucket)
    oac = f"origin access control {name}" + (
        " (exists)" if aws.find_oac(cloudfront, name) else " (CreateOriginAccessControl)"
    )
    statement = aws.bucket_statement(
        origin.bucket, origin.key_prefix, aws.read_distribution(cloudfront, options.distribution_id)
    )
    policy = aws.merged_bucket_policy(aws.read_bucket_policy(s3, origin.bucket), statement)
    allow = (
        "its policy already lets the distribution read"
        if policy is None
        else f"PutBucketPolicy (statement {statement['Sid']}, {len(policy['Statement']) - 1} other statement(s) kept)"
    )
    return (
        f"origin {target} is not an S3 bucket: bucket {origin.bucket} would be its origin"
        f" {aws.origin_id(origin.bucket)}, read through {oac}; {allow}"
    )


def finish(deployment: Publication, status: str, error: str = "", note: str = "") -> bool:
    """Close a pending deployment; False (and nothing changed) when it is no longer pending (abandoned)."""
    finished_at = timezone.now()
    closed = Publication.objects.filter(pk=deployment.pk, status=Publication.Status.PENDING).update(
        status=status, error=error, note=note, finished_at=finished_at
    )
    if closed:
        deployment.status, deployment.error, deployment.note = status, error, note
        deployment.finished_at = finished_at
    else:
        deployment.refresh_from_db()
    publishing.forget()  # as the post_save receiver does, which a queryset update does not trigger
    transaction.on_commit(publishing.forget)
    return bool(closed)
