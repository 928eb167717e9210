"""``manage.py deploy_edge``: bundle the presets with the edge function and put it live on CloudFront."""

from __future__ import annotations

import getpass
import socket
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ... import conf, deploy, publishing
from ...deploy import aws
from ...deploy.bundle import build, fetch_pillow
from ...exceptions import BundleError, DeployError
from ...texts import local_publication_line, plan_lines


class Command(BaseCommand):
    help = (
        "Publish the variant presets: bake them into the Lambda@Edge bundle, deploy it and attach it to the "
        "CloudFront distribution. Safe to run again: nothing changed means nothing is published."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Print the plan; change nothing.")
        parser.add_argument("--bundle-only", metavar="PATH", help="Write the bundle zip to PATH; deploy nothing.")
        parser.add_argument(
            "--fetch-pillow",
            action="store_true",
            help="Only fetch Pillow for the Lambda runtime into this machine's cache (a build step: the admin's "
            "Deploy button never downloads it).",
        )
        parser.add_argument(
            "--rollback",
            action="store_true",
            help="Make the presets of the previous successful deployment current again, as a new version that "
            "keeps serving every revision published since.",
        )
        parser.add_argument(
            "--abandon-pending",
            action="store_true",
            help="Mark the deployment in progress as failed, when its run died; deploy nothing.",
        )
        parser.add_argument(
            "--detach-foreign-policies",
            action="store_true",
            help="Remove the other policies an existing execution role carries, instead of refusing it.",
        )
        parser.add_argument(
            "--create-distribution",
            action="store_true",
            help="Find the site's CloudFront distribution for its media bucket, or create it (the bucket read through "
            "an origin access control, the bucket policy that lets only it read), then deploy to it and print the "
            "settings that name it.",
        )
        parser.add_argument("--no-wait", action="store_true", help="Do not wait for the distribution to deploy.")
        parser.add_argument(
            "--seed-urls",
            action="store_true",
            help="Also attach the function to the default behaviour, for seed-style URLs such as images/a-sm.png.",
        )
        parser.add_argument("--distribution-id", help="CloudFront distribution (default: DISTRIBUTION_ID).")
        parser.add_argument(
            "--function-name", help="Lambda function name (default: FUNCTION_NAME, else imagevariants-edge-<bucket>)."
        )
        parser.add_argument("--bucket", help="S3 bucket of the sources (default: BUCKET, or the distribution's).")
        parser.add_argument(
            "--role-name", help="Execution role name (default: ROLE_NAME, else imagevariants-edge-<bucket>)."
        )
        parser.add_argument("--runtime", help="Lambda runtime (default: RUNTIME, python3.12).")
        parser.add_argument("--poll-seconds", type=float, default=60, help="Seconds between status polls.")

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            user = getpass.getuser()
        except (OSError, KeyError):  # no USER variable and no password entry (a container's uid)
            user = "unknown"
        by = f"{user}@{socket.gethostname()}"
        options = deploy.Options.from_settings(
            distribution_id=opts["distribution_id"],
            function_name=opts["function_name"],
            bucket=opts["bucket"],
            role_name=opts["role_name"],
            runtime=opts["runtime"],
            seed_urls=opts["seed_urls"],
            wait=not opts["no_wait"],
            poll_seconds=opts["poll_seconds"],
            detach_foreign_policies=opts["detach_foreign_policies"],
        )
        try:
            if opts["abandon_pending"]:
                if not deploy.abandon(by, report=self.stdout.write):
                    self.stdout.write("No deployment is in progress.")
            elif opts["fetch_pillow"]:
                self._fetch_pillow(options.runtime)
            elif opts["bundle_only"]:
                self._fetch_pillow(options.runtime)
                self._bundle(Path(opts["bundle_only"]), options.runtime)
            elif opts["create_distribution"]:
                if opts["rollback"]:
                    raise CommandError("--create-distribution deploys the current presets: run --rollback on its own.")
                self._create_distribution(by, options, dry_run=opts["dry_run"])
            elif conf.settings().local_mode and options.distribution_id:  # a first run: not a silent local publish
                raise CommandError(_no_cdn_url(options.distribution_id))
            elif opts["rollback"]:
                self._fetch_pillow(options.runtime)
                deploy.rollback(by, options=options, report=self.stdout.write)
            elif conf.settings().local_mode:
                self._publish_locally(by, dry_run=opts["dry_run"])
            else:
                self._fetch_pillow(options.runtime)
                deploy.publish_to_cloudfront(
                    by, options=options, dry_run=opts["dry_run"], report=self.stdout.write, show_plan=self._show_plan
                )
        except (DeployError, BundleError) as exc:
            raise CommandError(str(exc)) from None

    def _create_distribution(self, by: str, options: deploy.Options, dry_run: bool) -> None:
        """The site's distribution, found or made, then the deployment to it, even while the settings do not name
        it yet (the site then stays on the local edge until CDN_URL is set); the settings lines to add come last,
        also when the deployment fails."""
        self._fetch_pillow(options.runtime)
        site = deploy.ensure_distribution(options, dry_run=dry_run, report=self.stdout.write)
        try:
            if site.options.distribution_id:
                deploy.publish_to_cloudfront(
                    by,
                    options=site.options,
                    dry_run=dry_run,
                    report=self.stdout.write,
                    show_plan=self._show_plan,
                    ahead_of_cdn_url=True,
                )
            else:  # a dry run, with no distribution yet to read
                self._show_plan(deploy.plan())
                self.stdout.write(
                    f"Would then deploy to it: role {site.options.role_name}, function {site.options.function_name}"
                    f" (us-east-1, {site.options.runtime}), origin-response on {conf.settings().variant_prefix}*."
                )
        finally:
            for line in _settings_lines(site):
                self.stdout.write(line)

    def _publish_locally(self, by: str, dry_run: bool) -> None:
        if dry_run:
            self.stdout.write("Local edge: publishing would apply the presets at once.")
        else:
            self.stdout.write(local_publication_line(publishing.publish_locally(by)))

    def _show_plan(self, plan: deploy.Plan) -> None:
        for line in plan_lines(plan):
            self.stdout.write(line)

    def _fetch_pillow(self, runtime: str) -> None:
        path, fetched = fetch_pillow(runtime)
        self.stdout.write(f"Pillow for {runtime}: {'fetched into' if fetched else 'already in'} {path}")

    def _bundle(self, path: Path, runtime: str) -> None:
        bundle = build(publishing.draft_document(), runtime)
        deploy.check_bundle(bundle, self.stdout.write)
        path.write_bytes(bundle.data)
        self.stdout.write(f"Wrote {path}: {bundle.size / 1e6:.1f} MB, sha256 {bundle.sha256}")


def _settings_lines(site: deploy.SiteDistribution) -> list[str]:
    """The IMAGEVARIANTS entries that name the site's distribution, as lines to paste, for those the settings lack.

    Settings are the project's code, so the command prints them rather than storing them: until CDN_URL is set the
    site keeps the local edge, and ``manage.py check`` warns (W005) while DISTRIBUTION_ID is set without it."""
    if not site.options.distribution_id:
        return ["The settings to add, CDN_URL and DISTRIBUTION_ID, are printed once the distribution exists."]
    wanted = {"CDN_URL": site.cdn_url, "DISTRIBUTION_ID": site.options.distribution_id}
    current = {"CDN_URL": str(conf.settings().cdn_url).rstrip("/"), "DISTRIBUTION_ID": conf.settings().distribution_id}
    missing = {name: value for name, value in wanted.items() if current[name] != value}
    if not missing:
        return [
            f"The settings name this distribution: CDN_URL {site.cdn_url}, DISTRIBUTION_ID {wanted['DISTRIBUTION_ID']}."
        ]
    lines = [f"Set in settings.IMAGEVARIANTS, for the site to use distribution {wanted['DISTRIBUTION_ID']}:"]
    lines += [f'    "{name}": "{value}",' for name, value in missing.items()]
    if "CDN_URL" in missing:
        lines.append(
            "Until CDN_URL is set the site keeps its current URLs; manage.py check warns (imagevariants.W005) while"
            " DISTRIBUTION_ID is set without it."
        )
    return lines


def _no_cdn_url(distribution_id: str) -> str:
    """Refuse to publish locally when a distribution is named: CDN_URL, which switches the site to it, is missing."""
    try:
        domain = aws.clients()["cloudfront"].get_distribution(Id=distribution_id)["Distribution"]["DomainName"]
    except (ClientError, BotoCoreError, KeyError):
        domain = ""
    url = f"https://{domain}" if domain else "the distribution's URL (https://….cloudfront.net)"
    return (
        f"Distribution {distribution_id} is given but IMAGEVARIANTS['CDN_URL'] is not set, so the site runs the"
        f" local edge: set CDN_URL to {url} and run again."
    )
