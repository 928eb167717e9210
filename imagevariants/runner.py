"""Deployments started from the admin, run in a process of their own so that the web request returns at once.

The Deploy button calls :func:`begin`: it checks what can be checked at once (a distribution, Pillow for the
runtime in the cache), takes the lock (a pending ``Publication``) and starts the process, detached from the web
worker (a session of its own), so that it outlives a worker that is recycled or killed meanwhile, which a thread
would not. The process (:func:`run`) runs ``deploy.publish_to_cloudfront`` with that deployment: it appends the
command's progress lines to the deployment's ``log`` as they come, records how it ended, and touches
``heartbeat_at`` every few seconds while it runs. A pending deployment whose heartbeat stopped is one whose process
died (:func:`state`): :func:`abandon` marks it failed, which releases the lock.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
from datetime import timedelta
from subprocess import DEVNULL, Popen

from django.conf import settings
from django.db import connection
from django.db.models import F, TextField, Value
from django.db.models.functions import Concat
from django.utils import timezone

from . import deploy
from .deploy.bundle import pillow_for
from .models import Publication
from .texts import plan_lines

logger = logging.getLogger(__name__)

#: What the process runs: Django set up from the settings module it is given, then :func:`main`.
BOOT = "import sys, django; django.setup(); from imagevariants.runner import main; sys.exit(main(int(sys.argv[1])))"
#: How often a running deployment shows it is alive, and how long without a sign of life means its process died.
HEARTBEAT_SECONDS = 5.0
STALE_AFTER = timedelta(seconds=60)
#: Seconds between two reads of the distribution's status while waiting for it to be Deployed.
POLL_SECONDS = 15.0

RUNNING, STOPPED, ELSEWHERE = "running", "stopped", "elsewhere"


def begin(by: str) -> Publication:
    """Start deploying the presets to CloudFront in a process of its own; returns its pending deployment at once.

    Raises DeployError (no distribution, another deployment in progress, the process could not start) or
    PillowMissing (the build step was not run), having started nothing."""
    options = deploy.Options.from_settings()
    pillow_for(options.runtime)  # never fetched here: the error names the build step
    holder = Publication.objects.filter(target=Publication.Target.CLOUDFRONT, status=Publication.Status.PENDING)
    for stale in holder:
        if state(stale) == STOPPED:  # its process died: it can no longer finish, so it holds the lock for nothing
            abandon(stale, by)
    deployment = deploy.acquire(by, options)
    deployment.heartbeat_at = timezone.now()  # alive from now on: the process takes over within seconds
    deployment.save(update_fields=["heartbeat_at"])
    try:
        start(deployment)
    except (OSError, deploy.DeployError) as exc:
        error = f"The deployment's process could not be started: {str(exc).rstrip('.')}."
        deploy.finish(deployment, Publication.Status.FAILED, error)
        raise deploy.DeployError(error) from None
    return deployment


def start(deployment: Publication) -> Popen:
    """Run ``deployment`` in a new process of this Python, with these settings and import path, in a session of its
    own; its output goes to the deployment's record (errors before Django is set up go to this process's stderr)."""
    module = os.environ.get("DJANGO_SETTINGS_MODULE") or getattr(settings, "SETTINGS_MODULE", None)
    if not module:
        raise deploy.DeployError(
            "the settings are no module it can load (DJANGO_SETTINGS_MODULE): run `manage.py deploy_edge`"
        )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": module,
        "PYTHONPATH": os.pathsep.join(os.path.abspath(entry) if entry else os.getcwd() for entry in sys.path),
    }
    process = Popen(
        [sys.executable, "-c", BOOT, str(deployment.pk)],
        env=env,
        stdin=DEVNULL,
        stdout=DEVNULL,
        start_new_session=True,
    )
    # Collect its exit status here while this process lives (no zombie); if this one ends first, init does.
    threading.Thread(target=process.wait, name=f"imagevariants-deploy-{deployment.pk}", daemon=True).start()
    return process


def main(pk: int) -> int:
    """The process's entry point: a termination (SIGTERM) stops the deployment as an interruption does, so that its
    record says so at once, then :func:`run`."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(f"Terminated (signal {signum})."))
    return run(pk)


def run(pk: int) -> int:
    """The process's work: deploy the pending deployment ``pk``, its progress into its record. Returns the exit
    status: 0 when it is live or up to date, 1 otherwise (its record says why)."""
    deployment = Publication.objects.filter(pk=pk, status=Publication.Status.PENDING).first()
    if deployment is None:  # abandoned before the process got to it
        return 1

    def show_plan(plan: deploy.Plan) -> None:
        for line in plan_lines(plan):
            append(pk, line)

    stop = threading.Event()
    heartbeat = threading.Thread(target=_beat, args=(pk, stop), name="imagevariants-heartbeat", daemon=True)
    heartbeat.start()
    try:
        append(pk, f"Process {os.getpid()} on {socket.gethostname()} runs this deployment.")
        deploy.publish_to_cloudfront(
            deployment.created_by,
            options=deploy.Options.from_settings(poll_seconds=POLL_SECONDS),
            report=lambda line: append(pk, line),
            show_plan=show_plan,
            deployment=deployment,
        )
    except BaseException as exc:  # the deployer recorded it, unless it refused before it began
        append(pk, f"Failed: {exc}")
        deploy.finish(deployment, Publication.Status.FAILED, str(exc) or type(exc).__name__)
        if not isinstance(exc, Exception):
            raise
        return 1
    finally:
        stop.set()
        heartbeat.join()
    return 0


def append(pk: int, line: str) -> None:
    """Add a progress line to deployment ``pk``'s log, in the database at once, where the admin reads it."""
    Publication.objects.filter(pk=pk).update(log=Concat(F("log"), Value(f"{line}\n"), output_field=TextField()))


def state(deployment: Publication) -> str:
    """How a pending deployment runs: RUNNING (its process showed it is alive lately), STOPPED (its process died),
    ELSEWHERE (started by ``deploy_edge``, whose progress is printed where it runs); "" once it ended."""
    if deployment.status != Publication.Status.PENDING:
        return ""
    if deployment.heartbeat_at is None:
        return ELSEWHERE
    return RUNNING if timezone.now() - deployment.heartbeat_at < STALE_AFTER else STOPPED


def abandon(deployment: Publication, by: str) -> bool:
    """Mark ``deployment`` failed if it is still pending (its run died), which releases the lock. As with
    ``deploy_edge --abandon-pending``, a run that was in fact alive then refuses to attach its version."""
    why = "its process stopped without finishing" if state(deployment) == STOPPED else "its run was taken to have died"
    return deploy.finish(
        deployment, Publication.Status.FAILED, f"Abandoned by {by or 'an operator'} from the admin: {why}."
    )


def _beat(pk: int, stop: threading.Event) -> None:
    try:
        while True:
            try:
                Publication.objects.filter(pk=pk, status=Publication.Status.PENDING).update(heartbeat_at=timezone.now())
            except Exception:  # a busy database: the next beat tries again
                logger.warning("Deployment %s: its heartbeat could not be recorded", pk, exc_info=True)
            if stop.wait(HEARTBEAT_SECONDS):
                return
    finally:
        connection.close()  # this thread's own
