"""The AWS side of a deployment: execution role, Lambda function and version, CloudFront association, and the
site's own distribution (its origin access control, the distribution, the bucket policy that lets it read).

Every client is made with a region only (no endpoint of its own), so botocore's ``AWS_ENDPOINT_URL*`` variables
apply. Each function does one step and raises ``DeployError`` with one clear sentence when it cannot.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from ..edge.store import parse_s3_domain
from ..exceptions import DeployError

LAMBDA_REGION = "us-east-1"
HANDLER = "imagevariants.edge.handler.lambda_handler"
POLICY_NAME = "imagevariants-edge"
EVENT_TYPE = "origin-response"
#: Tags on the role and the function the deployer made or adopted: the site they serve.
TAG_BUCKET = "imagevariants:bucket"
TAG_DISTRIBUTION = "imagevariants:distribution"
#: CloudFront's managed cache policy CachingOptimizedForUncompressedObjects: the URL alone is the cache key (no
#: header, not even Accept-Encoding, no cookie, no query string); TTLs from 1 s to a year, a day by default.
CACHE_POLICY_ID = "b2884449-e4de-46a7-ac36-70bc7f1ddd6d"
#: A distribution made for a site serves HTTP/2 and HTTP/3, from every edge location.
HTTP_VERSION = "http2and3"
PRICE_CLASS = "PriceClass_All"
#: How CloudFront reads the bucket: an origin access control that signs every request (no legacy OAI).
OAC_SIGNING = {"SigningProtocol": "sigv4", "SigningBehavior": "always", "OriginAccessControlOriginType": "s3"}
TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": ["lambda.amazonaws.com", "edgelambda.amazonaws.com"]},
            "Action": "sts:AssumeRole",
        }
    ],
}


def explain(exc: Exception) -> str:
    """One sentence for an AWS error."""
    if isinstance(exc, NoCredentialsError):
        return "No AWS credentials were found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY."
    if isinstance(exc, NoRegionError):
        return "No AWS region is configured."
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"AWS refused {exc.operation_name}: {error.get('Code', '')}: {error.get('Message', '')}".strip()
    return f"AWS call failed: {exc}"


def site_names(site: str) -> tuple[str, str]:
    """The default (function, role) names of a site (its bucket or distribution id): ``imagevariants-edge-<site>``
    in the characters each allows, at most 64 long (a long one ends in a hash of the site, so it stays unique)."""
    return _site_name(site, r"[^A-Za-z0-9_-]"), _site_name(site, r"[^A-Za-z0-9_+=,.@-]")


def _site_name(site: str, disallowed: str) -> str:
    name = re.sub(disallowed, "-", f"imagevariants-edge-{site}")
    if len(name) > 64:
        name = f"{name[:55]}-{hashlib.sha256(site.encode()).hexdigest()[:8]}"
    return name


@dataclass(frozen=True)
class Site:
    """What a role or a function serves, as tagged on it: the bucket and the distribution of one site."""

    bucket: str
    distribution_id: str

    def tags(self) -> dict[str, str]:
        return {TAG_BUCKET: self.bucket, TAG_DISTRIBUTION: self.distribution_id}

    def iam_tags(self) -> list[dict[str, str]]:
        """The tags as IAM takes them."""
        return [{"Key": key, "Value": value} for key, value in self.tags().items()]

    def claim(self, kind: str, name: str, tags: dict[str, str], buckets: set[str], setting: str) -> bool:
        """DeployError when the resource serves another site; True when it carries no tag of ours yet (to adopt).

        An untagged resource (an earlier release's) is adopted unless its policy grants another bucket.
        """
        bucket, distribution = tags.get(TAG_BUCKET), tags.get(TAG_DISTRIBUTION)
        others = sorted(buckets - {self.bucket}) if bucket is None else [bucket] if bucket != self.bucket else []
        if others:
            raise DeployError(
                f"{kind} {name!r} serves bucket {others[0]!r}, not {self.bucket!r}: set {setting} to a name of"
                " this site's own."
            )
        if distribution and distribution != self.distribution_id:
            raise DeployError(
                f"{kind} {name!r} serves distribution {distribution} (bucket {bucket or self.bucket!r}), not"
                f" {self.distribution_id}: set {setting} to a name of this site's own."
            )
        return bucket is None or distribution is None


def policy_buckets(policy: dict[str, Any] | None) -> set[str]:
    """The buckets the S3 resources of a policy document name."""
    buckets: set[str] = set()
    for statement in (policy or {}).get("Statement", []):
        resources = statement.get("Resource", [])
        for resource in [resources] if isinstance(resources, str) else resources:
            if resource.startswith("arn:aws:s3:::"):
                buckets.add(resource.removeprefix("arn:aws:s3:::").split("/", 1)[0])
    return buckets


def _absent(exc: ClientError, code: str) -> bool:
    return exc.response.get("Error", {}).get("Code") == code


def read_role(iam: Any, name: str) -> dict[str, Any] | None:
    """The role ``name`` as GetRole gives it, None when it does not exist."""
    try:
        return iam.get_role(RoleName=name)["Role"]
    except ClientError as exc:
        if not _absent(exc, "NoSuchEntity"):
            raise
        return None


def read_function(lambda_: Any, name: str) -> dict[str, Any] | None:
    """The function ``name`` as GetFunction gives it, None when it does not exist."""
    try:
        return lambda_.get_function(FunctionName=name)
    except ClientError as exc:
        if not _absent(exc, "ResourceNotFoundException"):
            raise
        return None


def inline_policy(iam: Any, role_name: str) -> dict[str, Any] | None:
    """The role's ``imagevariants-edge`` inline policy, None when the role or the policy does not exist."""
    try:
        document = iam.get_role_policy(RoleName=role_name, PolicyName=POLICY_NAME)["PolicyDocument"]
    except ClientError as exc:
        if not _absent(exc, "NoSuchEntity"):
            raise
        return None
    return json.loads(document) if isinstance(document, str) else document


def clients() -> dict[str, Any]:
    """The deployer's clients, all in us-east-1 (botocore follows a bucket of another region for S3)."""
    session = boto3.session.Session()
    return {name: session.client(name, region_name=LAMBDA_REGION) for name in ("iam", "lambda", "cloudfront", "s3")}


def role_policy(
    bucket: str, key_prefix: str, variant_prefix: str, function_name: str, sources: Iterable[str]
) -> dict[str, Any]:
    """Least privilege: read only under the source prefixes, write only under the variant prefix, write the
    function's logs. Every S3 resource is under the origin path (``key_prefix``), as the keys the edge sees are."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadSources",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": [f"arn:aws:s3:::{bucket}/{key_prefix}{source}*" for source in sorted(set(sources))],
            },
            {
                "Sid": "WriteVariantsOnly",
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{bucket}/{key_prefix}{variant_prefix}*",
            },
            {
                "Sid": "Logs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": f"arn:aws:logs:*:*:log-group:/aws/lambda/{LAMBDA_REGION}.{function_name}:*",
            },
        ],
    }


@dataclass
class Origin:
    bucket: str
    key_prefix: str  # the origin path, as a key prefix ("media/" or "")


@dataclass
class DistributionConfig:
    config: dict[str, Any]
    etag: str


def get_config(cloudfront: Any, distribution_id: str) -> DistributionConfig:
    try:
        response = cloudfront.get_distribution_config(Id=distribution_id)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchDistribution":
            raise DeployError(f"CloudFront distribution {distribution_id!r} does not exist.") from None
        raise DeployError(explain(exc)) from None
    return DistributionConfig(response["DistributionConfig"], response["ETag"])


def s3_origin(config: dict[str, Any], variant_prefix: str) -> Origin:
    """The S3 origin that the variant behaviour (or the default one) sends requests to."""
    behaviour = find_behaviour(config, variant_prefix) or config["DefaultCacheBehavior"]
    for origin in config["Origins"]["Items"]:
        if origin["Id"] == behaviour["TargetOriginId"]:
            try:
                bucket, _region = parse_s3_domain(origin["DomainName"])
            except ValueError:
                raise DeployError(f"Origin {origin['Id']!r} ({origin['DomainName']}) is not an S3 bucket.") from None
            path = origin.get("OriginPath", "").strip("/")
            return Origin(bucket, f"{path}/" if path else "")
    raise DeployError(f"The distribution has no origin {behaviour['TargetOriginId']!r}.")


def find_behaviour(config: dict[str, Any], variant_prefix: str) -> dict[str, Any] | None:
    for behaviour in config.get("CacheBehaviors", {}).get("Items", []) or []:
        if behaviour["PathPattern"] == f"{variant_prefix}*":
            return behaviour
    return None


def _associate(behaviour: dict[str, Any], arn: str) -> None:
    """Set the origin-response association, keeping the behaviour's associations of other event types."""
    current = behaviour.get("LambdaFunctionAssociations", {}).get("Items", []) or []
    items = [item for item in current if item["EventType"] != EVENT_TYPE]
    items.append({"LambdaFunctionARN": arn, "EventType": EVENT_TYPE, "IncludeBody": False})
    behaviour["LambdaFunctionAssociations"] = {"Quantity": len(items), "Items": items}


def associated(config: dict[str, Any], variant_prefix: str, arn: str, seed_urls: bool) -> dict[str, Any]:
    """A copy of ``config`` with the function on the variant behaviour (created if missing) and, if asked, on
    the default behaviour that serves seed-style URLs. Every other field is kept exactly as it was."""
    config = copy.deepcopy(config)
    behaviour = find_behaviour(config, variant_prefix)
    if behaviour is None:
        behaviour = copy.deepcopy(config["DefaultCacheBehavior"])
        behaviour["PathPattern"] = f"{variant_prefix}*"
        behaviours = config.setdefault("CacheBehaviors", {"Quantity": 0, "Items": []})
        behaviours["Items"] = [behaviour, *(behaviours.get("Items") or [])]
        behaviours["Quantity"] = len(behaviours["Items"])
    _associate(behaviour, arn)
    if seed_urls:
        _associate(config["DefaultCacheBehavior"], arn)
    return config


# -- the site's own distribution: origin access control, distribution, bucket policy ---------------------------
def target_origin(config: dict[str, Any], variant_prefix: str) -> dict[str, Any] | None:
    """The origin the variant behaviour (or, while there is none, the default one) sends requests to."""
    behaviour = find_behaviour(config, variant_prefix) or config["DefaultCacheBehavior"]
    return next((item for item in config["Origins"]["Items"] if item["Id"] == behaviour["TargetOriginId"]), None)


def needs_bucket_origin(config: dict[str, Any], variant_prefix: str) -> bool:
    """Whether the variant behaviour's origin (or the default one's) is not a bucket: the app's, say."""
    origin = target_origin(config, variant_prefix)
    return origin is not None and _bucket_of(origin["DomainName"]) is None


def _bucket_of(domain: str) -> str | None:
    try:
        return parse_s3_domain(domain)[0]
    except ValueError:
        return None


def bucket_region(s3: Any, bucket: str) -> str:
    """The bucket's region (GetBucketLocation); DeployError when the bucket does not exist."""
    try:
        location = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint")
    except ClientError as exc:
        if not _absent(exc, "NoSuchBucket"):
            raise
        raise DeployError(f"Bucket {bucket!r} does not exist.") from None
    return {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(location, location)


def origin_id(bucket: str) -> str:
    return f"imagevariants-{bucket}"


def oac_name(bucket: str) -> str:
    """The name of the bucket's origin access control, the function's default name (at most 64 characters)."""
    return site_names(bucket)[0]


def find_oac(cloudfront: Any, name: str) -> dict[str, Any] | None:
    """The origin access control ``name`` as ListOriginAccessControls gives it, None when there is none."""
    for page in cloudfront.get_paginator("list_origin_access_controls").paginate():
        for item in page["OriginAccessControlList"].get("Items") or []:
            if item["Name"] == name:
                return dict(item)
    return None


def ensure_oac(cloudfront: Any, bucket: str, report: Callable[[str], None]) -> str:
    """The bucket's origin access control (signing every request with SigV4), created when missing. Returns its
    id; DeployError when one of its name signs otherwise."""
    name = oac_name(bucket)
    found = find_oac(cloudfront, name)
    if found is not None:
        signing = {key: found.get(key) for key in OAC_SIGNING}
        if signing != OAC_SIGNING:
            raise DeployError(
                f"Origin access control {name!r} exists with {signing}, not {OAC_SIGNING}: fix it in CloudFront or"
                " delete it, and run again."
            )
        return str(found["Id"])
    config = {"Name": name, "Description": f"django-imagevariants: reads bucket {bucket}", **OAC_SIGNING}
    created = cloudfront.create_origin_access_control(OriginAccessControlConfig=config)["OriginAccessControl"]
    report(f"Created origin access control {name} ({created['Id']}): SigV4, signs every request to bucket {bucket}.")
    return str(created["Id"])


def bucket_origin(bucket: str, region: str, key_prefix: str, oac_id: str) -> dict[str, Any]:
    """The bucket as an S3 origin read through the origin access control ``oac_id`` (no OAI, no public bucket),
    under the origin path ``key_prefix`` (the storage's location)."""
    path = key_prefix.strip("/")
    return {
        "Id": origin_id(bucket),
        "DomainName": f"{bucket}.s3.{region}.amazonaws.com",
        "OriginPath": f"/{path}" if path else "",
        "S3OriginConfig": {"OriginAccessIdentity": ""},
        "OriginAccessControlId": oac_id,
    }


def bucket_behaviour(target: str) -> dict[str, Any]:
    """A behaviour that serves the bucket: GET and HEAD only, HTTPS (HTTP is redirected), cached on the URL alone
    (the managed cache policy), not compressed (images are)."""
    methods = {"Quantity": 2, "Items": ["GET", "HEAD"]}
    return {
        "TargetOriginId": target,
        "ViewerProtocolPolicy": "redirect-to-https",
        "AllowedMethods": {**methods, "CachedMethods": dict(methods)},
        "Compress": False,
        "CachePolicyId": CACHE_POLICY_ID,
        "LambdaFunctionAssociations": {"Quantity": 0},
    }


def new_distribution(bucket: str, origin: dict[str, Any], variant_prefix: str) -> dict[str, Any]:
    """The configuration of the site's distribution: the bucket's originals on the default behaviour, the variant
    behaviour ``{prefix}*`` (the deployment attaches the function to it). The caller reference is the same for
    every attempt with this origin access control, so a retried creation makes no second distribution."""
    return {
        "CallerReference": f"imagevariants-{bucket}-{origin['OriginAccessControlId']}",
        "Comment": f"django-imagevariants: bucket {bucket}"[:128],
        "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [origin]},
        "DefaultCacheBehavior": bucket_behaviour(origin["Id"]),
        "CacheBehaviors": {
            "Quantity": 1,
            "Items": [{"PathPattern": f"{variant_prefix}*", **bucket_behaviour(origin["Id"])}],
        },
        "HttpVersion": HTTP_VERSION,
        "PriceClass": PRICE_CLASS,
        "IsIPV6Enabled": True,
    }


def with_bucket_origin(config: dict[str, Any], variant_prefix: str, origin: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``config`` with the bucket's ``origin`` added (its fields set, if an origin of its id is there)
    and the variant behaviour pointed at it, created as ``bucket_behaviour`` when missing. The rest is kept."""
    config = copy.deepcopy(config)
    origins = config["Origins"]
    items = origins.get("Items") or []
    existing = next((item for item in items if item["Id"] == origin["Id"]), None)
    if existing is None:
        items.append(copy.deepcopy(origin))
    else:
        existing.update(copy.deepcopy(origin))
    origins["Items"], origins["Quantity"] = items, len(items)
    behaviour = find_behaviour(config, variant_prefix)
    if behaviour is not None:
        behaviour["TargetOriginId"] = origin["Id"]
        return config
    behaviours = config.setdefault("CacheBehaviors", {"Quantity": 0, "Items": []})
    behaviours["Items"] = [
        {"PathPattern": f"{variant_prefix}*", **bucket_behaviour(origin["Id"])},
        *(behaviours.get("Items") or []),
    ]
    behaviours["Quantity"] = len(behaviours["Items"])
    return config


@dataclass(frozen=True)
class Distribution:
    id: str
    arn: str
    domain: str


def find_distribution(cloudfront: Any, bucket: str) -> Distribution | None:
    """The site's distribution: one with an origin on ``bucket`` tagged ``imagevariants:bucket`` with it (only the
    distributions in front of the bucket have their tags read). DeployError when there are several."""
    found = []
    for page in cloudfront.get_paginator("list_distributions").paginate():
        for summary in page["DistributionList"].get("Items") or []:
            origins = summary.get("Origins", {}).get("Items") or []
            if not any(_bucket_of(origin["DomainName"]) == bucket for origin in origins):
                continue
            tags = cloudfront.list_tags_for_resource(Resource=summary["ARN"])["Tags"].get("Items") or []
            if any(tag["Key"] == TAG_BUCKET and tag.get("Value") == bucket for tag in tags):
                found.append(Distribution(summary["Id"], summary["ARN"], summary["DomainName"]))
    if len(found) > 1:
        raise DeployError(
            f"Distributions {', '.join(d.id for d in found)} are all tagged {TAG_BUCKET}={bucket}: set"
            " DISTRIBUTION_ID to the site's, and remove the tag from the others."
        )
    return found[0] if found else None


def read_distribution(cloudfront: Any, distribution_id: str) -> Distribution:
    distribution = cloudfront.get_distribution(Id=distribution_id)["Distribution"]
    return Distribution(distribution["Id"], distribution["ARN"], distribution["DomainName"])


def create_distribution(cloudfront: Any, config: dict[str, Any], bucket: str) -> Distribution:
    """Create the distribution, tagged ``imagevariants:bucket`` in the same call (how a rerun finds it)."""
    tags = {"Items": [{"Key": TAG_BUCKET, "Value": bucket}]}
    created = cloudfront.create_distribution_with_tags(
        DistributionConfigWithTags={"DistributionConfig": config, "Tags": tags}
    )["Distribution"]
    return Distribution(created["Id"], created["ARN"], created["DomainName"])


def bucket_statement(bucket: str, key_prefix: str, distribution: Distribution) -> dict[str, Any]:
    """The bucket policy statement that lets this distribution, and no other, read the bucket (under the origin
    path): ``s3:GetObject`` for CloudFront's service principal with the distribution as ``AWS:SourceArn``."""
    return {
        "Sid": f"ImageVariantsCloudFront{re.sub(r'[^A-Za-z0-9]', '', distribution.id)}",
        "Effect": "Allow",
        "Principal": {"Service": "cloudfront.amazonaws.com"},
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/{key_prefix}*",
        "Condition": {"StringEquals": {"AWS:SourceArn": distribution.arn}},
    }


def read_bucket_policy(s3: Any, bucket: str) -> dict[str, Any] | None:
    """The bucket's policy, None when it has none."""
    try:
        policy = s3.get_bucket_policy(Bucket=bucket)["Policy"]
    except ClientError as exc:
        if not _absent(exc, "NoSuchBucketPolicy"):
            raise
        return None
    document: dict[str, Any] = json.loads(policy)
    return document


def merged_bucket_policy(policy: dict[str, Any] | None, statement: dict[str, Any]) -> dict[str, Any] | None:
    """``policy`` with ``statement`` in it (replacing the statement of its Sid, every other kept as it is); None
    when the policy already holds it."""
    policy = copy.deepcopy(policy) if policy else {"Version": "2012-10-17", "Statement": []}
    statements = policy.get("Statement", [])
    statements = [statements] if isinstance(statements, dict) else list(statements)
    if statement in statements:
        return None
    others = [item for item in statements if item.get("Sid") != statement["Sid"]]
    policy["Statement"] = [*others, statement]
    return policy


def put_bucket_policy(s3: Any, bucket: str, policy: dict[str, Any]) -> None:
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))


@dataclass
class ForeignPolicies:
    """What an existing role carries besides this app's inline policy: every grant would reach the function."""

    managed: list[str]  # ARNs of attached managed policies
    inline: list[str]  # names of other inline policies

    def __bool__(self) -> bool:
        return bool(self.managed or self.inline)

    def names(self) -> list[str]:
        return [f"managed {arn.rsplit('/', 1)[-1]}" for arn in self.managed] + [f"inline {n}" for n in self.inline]


def foreign_policies(iam: Any, role_name: str) -> ForeignPolicies:
    managed = [
        policy["PolicyArn"]
        for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=role_name)
        for policy in page["AttachedPolicies"]
    ]
    inline = [
        name
        for page in iam.get_paginator("list_role_policies").paginate(RoleName=role_name)
        for name in page["PolicyNames"]
        if name != POLICY_NAME
    ]
    return ForeignPolicies(managed, inline)


def foreign_refusal(role_name: str, foreign: ForeignPolicies) -> str:
    """Why a role that carries other policies is refused, and what to do."""
    return (
        f"Role {role_name!r} has policies beyond {POLICY_NAME!r} that the function would also get"
        f" ({', '.join(foreign.names())}): detach them in IAM, run again with --detach-foreign-policies"
        " to have them removed, or give another --role-name."
    )


def ensure_role(
    iam: Any,
    role_name: str,
    policy: dict[str, Any],
    site: Site,
    *,
    detach_foreign: bool = False,
    report: Callable[[str], None] = lambda line: None,
) -> str:
    """Create the execution role (tagged with ``site``) when missing; check its trust and inline policies and
    rewrite each one that differs, saying so. Returns the role ARN.

    An existing role that serves another site (by its tags or, untagged, by its policy's bucket) is refused, and so
    is one that carries other policies (attached managed ones such as AmazonS3FullAccess, or other inline ones),
    before anything is changed, unless ``detach_foreign``: then they are removed, so the function has exactly the
    inline policy's permissions.
    """
    try:
        current: dict[str, Any] | None = None
        role = read_role(iam, role_name)
        if role is None:
            arn = iam.create_role(
                RoleName=role_name,
                AssumeRolePolicyDocument=json.dumps(TRUST_POLICY),
                Description="Runs the django-imagevariants Lambda@Edge function",
                Tags=site.iam_tags(),
            )["Role"]["Arn"]
        else:
            arn = role["Arn"]
            current = inline_policy(iam, role_name)
            tags = {tag["Key"]: tag["Value"] for tag in role.get("Tags", [])}
            adopt = site.claim("Role", role_name, tags, policy_buckets(current), "ROLE_NAME (--role-name)")
            foreign = foreign_policies(iam, role_name)
            if foreign and not detach_foreign:
                raise DeployError(foreign_refusal(role_name, foreign))
            if adopt:
                iam.tag_role(RoleName=role_name, Tags=site.iam_tags())
                report(f"Role {role_name}: tagged as serving bucket {site.bucket} on {site.distribution_id}.")
            for policy_arn in foreign.managed:
                iam.detach_role_policy(RoleName=role_name, PolicyArn=policy_arn)
                report(f"Role {role_name}: detached {policy_arn}.")
            for name in foreign.inline:
                iam.delete_role_policy(RoleName=role_name, PolicyName=name)
                report(f"Role {role_name}: deleted inline policy {name}.")
            if role.get("AssumeRolePolicyDocument") != TRUST_POLICY:
                iam.update_assume_role_policy(RoleName=role_name, PolicyDocument=json.dumps(TRUST_POLICY))
                report(f"Role {role_name}: trust policy rewritten to trust Lambda and Lambda@Edge.")
        if current == policy:
            report(f"Role {role_name}: inline policy {POLICY_NAME} checked, as expected.")
        else:
            iam.put_role_policy(RoleName=role_name, PolicyName=POLICY_NAME, PolicyDocument=json.dumps(policy))
            if current is not None:
                report(f"Role {role_name}: inline policy {POLICY_NAME} differed and was rewritten.")
    except (ClientError, BotoCoreError) as exc:
        raise DeployError(explain(exc)) from None
    return arn


@dataclass
class LiveFunction:
    """An existing function of this site's, as GetFunction gave it."""

    arn: str  # unqualified
    role_name: str
    adopt: bool  # untagged: to be tagged as this site's once the role is checked


def claim_function(lambda_: Any, iam: Any, name: str, site: Site) -> LiveFunction | None:
    """The existing function ``name`` (None when missing), read only; DeployError when it serves another site.

    An untagged one (an earlier release's) is adopted unless its role's inline policy names another bucket.
    """
    try:
        function = read_function(lambda_, name)
        if function is None:
            return None
        configuration, tags = function["Configuration"], function.get("Tags") or {}
        role_name = configuration["Role"].rsplit("/", 1)[-1]
        buckets = set() if TAG_BUCKET in tags else policy_buckets(inline_policy(iam, role_name))
    except (ClientError, BotoCoreError) as exc:
        raise DeployError(explain(exc)) from None
    adopt = site.claim("Function", name, tags, buckets, "FUNCTION_NAME (--function-name)")
    return LiveFunction(configuration["FunctionArn"], role_name, adopt)


def tag_function(lambda_: Any, function: LiveFunction, site: Site, report: Callable[[str], None]) -> None:
    try:
        lambda_.tag_resource(Resource=function.arn, Tags=site.tags())
    except (ClientError, BotoCoreError) as exc:
        raise DeployError(explain(exc)) from None
    report(f"Function {function.arn}: tagged as serving bucket {site.bucket} on {site.distribution_id}.")


def _retry(call: Callable[[], Any], attempts: int, delay: float) -> Any:
    """Retry a call that fails while a new role propagates ("cannot be assumed by Lambda")."""
    for attempt in range(attempts):
        try:
            return call()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code != "InvalidParameterValueException" or attempt == attempts - 1:
                raise
            time.sleep(delay)


def code_sha256(zip_bytes: bytes) -> str:
    """The code hash as Lambda reports it (``CodeSha256``): the base64 of the zip's SHA-256 digest."""
    return base64.b64encode(hashlib.sha256(zip_bytes).digest()).decode("ascii")


def publish_function(
    lambda_: Any,
    *,
    name: str,
    role_arn: str,
    runtime: str,
    memory: int,
    zip_bytes: bytes,
    description: str,
    tags: dict[str, str] | None = None,
) -> str:
    """Create or update the function in us-east-1 and publish a numbered version of exactly ``zip_bytes``.

    PublishVersion carries the zip's ``CodeSha256``, so Lambda refuses to publish code someone else uploaded in
    between, and the published version's own hash is checked too. Returns the versioned ARN.
    """
    sha = code_sha256(zip_bytes)
    settings = {"Role": role_arn, "Runtime": runtime, "Handler": HANDLER, "Timeout": 30, "MemorySize": memory}
    try:
        if read_function(lambda_, name) is None:
            _retry(
                lambda: lambda_.create_function(
                    FunctionName=name,
                    Code={"ZipFile": zip_bytes},
                    Architectures=["x86_64"],
                    PackageType="Zip",
                    Publish=False,
                    Description=description,
                    Tags=tags or {},
                    **settings,
                ),
                attempts=12,
                delay=5.0,
            )
        else:
            lambda_.update_function_code(FunctionName=name, ZipFile=zip_bytes, Architectures=["x86_64"])
            _wait_updated(lambda_, name)
            lambda_.update_function_configuration(FunctionName=name, Description=description, **settings)
        _wait_updated(lambda_, name)
        version = lambda_.publish_version(FunctionName=name, CodeSha256=sha, Description=description)
    except (ClientError, BotoCoreError) as exc:
        raise DeployError(explain(exc)) from None
    if version.get("CodeSha256") != sha:
        raise DeployError(
            f"Lambda published {version['FunctionArn']} with code {version.get('CodeSha256')} instead of the"
            f" uploaded bundle's {sha}, so it was not attached: someone else changed the function meanwhile."
        )
    return version["FunctionArn"]


def _wait_updated(lambda_: Any, name: str) -> None:
    lambda_.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 2, "MaxAttempts": 150})


def update_distribution(
    cloudfront: Any, distribution_id: str, change: Callable[[dict[str, Any]], dict[str, Any]]
) -> dict[str, Any]:
    """GetDistributionConfig, apply ``change``, UpdateDistribution with IfMatch; once more on PreconditionFailed."""
    try:
        return _update_once(cloudfront, distribution_id, change)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "PreconditionFailed":
            raise DeployError(explain(exc)) from None
    try:  # someone else changed the distribution in between: read it again
        return _update_once(cloudfront, distribution_id, change)
    except ClientError as exc:
        raise DeployError(explain(exc)) from None


def _update_once(
    cloudfront: Any, distribution_id: str, change: Callable[[dict[str, Any]], dict[str, Any]]
) -> dict[str, Any]:
    current = get_config(cloudfront, distribution_id)
    result: dict[str, Any] = cloudfront.update_distribution(
        Id=distribution_id, IfMatch=current.etag, DistributionConfig=change(current.config)
    )
    return result


def wait_deployed(
    cloudfront: Any, distribution_id: str, report: Callable[[str], None], poll: float = 60, timeout: float = 1800
) -> None:
    """Poll until the distribution is Deployed, reporting elapsed time and status at each poll."""
    started = time.monotonic()
    while True:
        try:
            status = cloudfront.get_distribution(Id=distribution_id)["Distribution"]["Status"]
        except (ClientError, BotoCoreError) as exc:
            raise DeployError(explain(exc)) from None
        elapsed = time.monotonic() - started
        report(f"  {int(elapsed // 60)}:{int(elapsed % 60):02d} distribution {distribution_id}: {status}")
        if status == "Deployed":
            return
        if elapsed > timeout:
            raise DeployError(f"Distribution {distribution_id} was not Deployed after {int(timeout)} s.")
        time.sleep(poll)
