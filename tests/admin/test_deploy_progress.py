"""The Deploy button with a CDN: it starts the deployment in a process of its own and answers at once; the
deployment's page follows its progress and shows how it ended; one whose process died is shown as such, and its
lock can be released. Two tests run the real process against the moto server; the others run its work here."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import boto3
import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse
from django.utils import timezone

from imagevariants import deploy, publishing, runner
from imagevariants.deploy import bundle as bundle_module
from imagevariants.models import Publication

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
DEPLOY = "admin:imagevariants_variantpreset_deploy"


def staff(*codenames: str, username: str = "editor") -> User:
    user = User.objects.create_user(username, password="pw", is_staff=True)
    for codename in codenames:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    return user


def deployment_page(pk: int) -> str:
    return reverse("admin:imagevariants_publication_change", args=[pk])


def progress(pk: int) -> str:
    return reverse("admin:imagevariants_publication_progress", args=[pk])


def abandon(pk: int) -> str:
    return reverse("admin:imagevariants_publication_abandon", args=[pk])


class Started:
    """A process the button started, recorded instead of run."""

    def __init__(self, args: list[str], **kwargs) -> None:
        self.args, self.kwargs, self.pid = args, kwargs, 0

    def wait(self) -> int:
        return 0


@pytest.fixture
def started(monkeypatch) -> list[Started]:
    processes: list[Started] = []
    monkeypatch.setattr(
        runner, "Popen", lambda args, **kwargs: processes.append(Started(args, **kwargs)) or processes[-1]
    )
    return processes


@pytest.fixture
def deployer(client):
    """An editor who may publish (and does not hold the view permission on publications)."""
    user = staff("view_variantpreset", "deploy_edge")
    client.force_login(user)
    return user


@pytest.fixture
def here(monkeypatch, skip_bundle_run):
    """The process's work run in this test (``runner.run``), without its heartbeat thread."""
    monkeypatch.setattr(runner, "_beat", lambda pk, stop: None)


def test_the_button_starts_the_deployment_in_a_process_and_returns_at_once(
    client, deployer, presets, distribution, recorder, started, monkeypatch
):
    monkeypatch.setattr(deploy, "publish_to_cloudfront", lambda *args, **kwargs: pytest.fail("deployed in the request"))
    response = client.post(reverse(DEPLOY))
    deployment = Publication.objects.get(target="cloudfront")
    assert response.status_code == 302 and response["Location"] == deployment_page(deployment.pk)
    assert deployment.status == "pending" and deployment.created_by == "editor"  # the lock, taken in the request
    assert deployment.distribution_id == distribution and deployment.heartbeat_at is not None
    assert recorder.calls == []  # AWS is left to the process
    [process] = started
    assert process.args == [sys.executable, "-c", runner.BOOT, str(deployment.pk)]
    assert process.kwargs["start_new_session"] is True  # outlives the web worker
    assert process.kwargs["stdout"] == subprocess.DEVNULL and process.kwargs["stdin"] == subprocess.DEVNULL
    env = process.kwargs["env"]
    assert env["DJANGO_SETTINGS_MODULE"] == "tests.settings"
    assert str(ROOT) in env["PYTHONPATH"].split(os.pathsep)
    assert env["AWS_ENDPOINT_URL"] == os.environ["AWS_ENDPOINT_URL"]

    html = client.get(response["Location"]).content.decode()
    assert "Deployment started: this page follows its progress." in html
    assert "<strong>In progress</strong>: started by editor." in html and 'data-status="pending"' in html
    assert "imagevariants/progress.js" in html  # the page refreshes itself
    changelist = client.get(reverse("admin:imagevariants_variantpreset_changelist")).content.decode()
    assert (
        "A deployment by editor is in progress: follow it" in changelist
        and deployment_page(deployment.pk) in changelist
    )


def test_the_page_shows_the_progress_then_the_outcome(client, deployer, presets, distribution, started, here):
    client.post(reverse(DEPLOY))
    pk = Publication.objects.get(target="cloudfront").pk
    runner.append(pk, "A first step")
    assert client.get(progress(pk)).json() == {
        "status": "pending",
        "status_display": "In progress",
        "state": "running",
        "log": "A first step\n",
        "error": "",
        "note": "",
        "finished_at": None,
    }
    assert "A first step" in client.get(deployment_page(pk)).content.decode()

    assert runner.run(pk) == 0, Publication.objects.get(pk=pk).log  # what the process does
    deployment = Publication.objects.get(pk=pk)
    assert deployment.status == "succeeded" and deployment.function_arn.endswith(":function:imagevariants-edge-media:1")
    lines = deployment.log.splitlines()
    assert lines[0] == "A first step" and lines[1].startswith(f"Process {os.getpid()} on ")
    for expected in ("Presets:", "  + md:", "Bundle: ", "Published ", f"distribution {distribution}: Deployed"):
        assert any(line.startswith(expected) or expected in line for line in lines), expected
    assert lines[-1] == f"Deployed: {deployment.function_arn} on {distribution}."
    assert deployment.note == ""  # the process waits for the propagation: the outcome is confirmed
    data = client.get(progress(pk)).json()
    assert (data["status"], data["state"], data["log"]) == ("succeeded", "", deployment.log)
    html = client.get(deployment_page(pk)).content.decode()
    assert f"<strong>Succeeded</strong>: {deployment.function_arn} is live." in html
    assert f"Deployed: {deployment.function_arn} on {distribution}." in html
    assert publishing.published_document().sha256 == deployment.document_sha256


def test_a_real_process_deploys_and_writes_its_progress_to_the_record(client, deploy_process, wait_for):
    client.force_login(staff("view_variantpreset", "deploy_edge"))
    response = client.post(reverse(DEPLOY))
    pk = Publication.objects.get(target="cloudfront").pk
    assert response["Location"] == deployment_page(pk)
    deployment = wait_for(pk, lambda deployment: deployment.status != "pending")
    assert deployment.status == "succeeded", deployment.error
    assert deployment.log.startswith("Process ") and f"Process {os.getpid()} " not in deployment.log
    for line in ("  + md:", "Bundle: ", "Published ", "Deployed: "):
        assert line in deployment.log
    functions = boto3.client("lambda", region_name="us-east-1").list_functions()["Functions"]
    assert [function["FunctionName"] for function in functions] == ["imagevariants-edge-media"]
    html = client.get(deployment_page(pk)).content.decode()
    assert f"<strong>Succeeded</strong>: {deployment.function_arn} is live." in html and "Published " in html


def test_a_deployment_whose_process_died_is_shown_stopped_and_its_lock_released(
    client, deploy_process, wait_for, monkeypatch
):
    processes: list[subprocess.Popen] = []
    start = runner.start
    monkeypatch.setattr(runner, "start", lambda deployment: processes.append(start(deployment)) or processes[-1])
    client.force_login(staff("view_variantpreset", "deploy_edge"))
    client.post(reverse(DEPLOY))
    pk = Publication.objects.get(target="cloudfront").pk
    wait_for(pk, lambda deployment: "  + md:" in deployment.log)  # halfway: planned, building the bundle
    [process] = processes
    os.killpg(process.pid, signal.SIGKILL)  # its session: the process and any it started
    process.wait()
    assert Publication.objects.get(pk=pk).status == "pending"  # nothing recorded its end: the lock is held
    assert client.get(progress(pk)).json()["state"] == "running"  # its last sign of life is recent

    monkeypatch.setattr(runner, "STALE_AFTER", timedelta(seconds=1))  # as a minute later
    time.sleep(1.5)
    assert client.get(progress(pk)).json()["state"] == "stopped"
    html = client.get(deployment_page(pk)).content.decode()
    assert "<strong>Stopped: its process died</strong>" in html and "Mark it abandoned to release the lock" in html
    assert f'action="{abandon(pk)}"' in html
    listing = client.get(reverse("admin:imagevariants_publication_changelist")).content.decode()
    assert "Stopped: its process died" in listing

    response = client.post(abandon(pk), follow=True)
    assert "Marked as abandoned: another deployment can start." in response.content.decode()
    deployment = Publication.objects.get(pk=pk)
    assert deployment.status == "failed" and deployment.finished_at is not None
    assert deployment.error == "Abandoned by editor from the admin: its process stopped without finishing."
    assert "<strong>Failed</strong>: Abandoned by editor" in response.content.decode()
    assert deploy.acquire("next").status == "pending"  # the lock is free
    assert boto3.client("lambda", region_name="us-east-1").list_functions()["Functions"] == []


def test_the_next_deploy_releases_a_lock_whose_process_died(client, deployer, presets, distribution, started):
    client.post(reverse(DEPLOY))
    dead = Publication.objects.get(target="cloudfront")
    changelist = reverse("admin:imagevariants_variantpreset_changelist")
    assert "Deploy presets" not in client.get(changelist).content.decode()  # it runs: its page is linked instead
    Publication.objects.filter(pk=dead.pk).update(heartbeat_at=timezone.now() - runner.STALE_AFTER)
    html = client.get(changelist).content.decode()
    assert "The deployment by editor stopped: its process died" in html and "Deploy presets" in html
    response = client.post(reverse(DEPLOY))
    dead.refresh_from_db()
    assert dead.status == "failed" and "its process stopped without finishing" in dead.error
    fresh = Publication.objects.get(target="cloudfront", status="pending")
    assert response["Location"] == deployment_page(fresh.pk) and len(started) == 2


def test_a_running_deployment_is_not_abandoned_and_abandoning_needs_the_permission(
    client, deployer, presets, distribution, started
):
    client.post(reverse(DEPLOY))
    pk = Publication.objects.get(target="cloudfront").pk
    assert client.get(abandon(pk)).status_code == 405
    response = client.post(abandon(pk), follow=True)
    assert "This deployment is still running: it was not marked abandoned." in response.content.decode()
    assert Publication.objects.get(pk=pk).status == "pending"
    assert 'class="iv-abandon"' not in response.content.decode()  # no way to stop a live run from here

    client.force_login(staff("view_publication", username="viewer"))
    assert client.get(progress(pk)).json()["state"] == "running"
    Publication.objects.filter(pk=pk).update(heartbeat_at=timezone.now() - runner.STALE_AFTER)
    assert 'class="iv-abandon"' not in client.get(deployment_page(pk)).content.decode()
    assert client.post(abandon(pk)).status_code == 403
    client.force_login(User.objects.create_user("nobody", is_staff=True))
    assert client.get(progress(pk)).status_code == 403
    client.logout()
    for url in (progress(pk), abandon(pk)):
        anonymous = client.post(url)
        assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    assert Publication.objects.get(pk=pk).status == "pending"


def test_a_deployment_run_by_the_command_is_followed_and_can_be_abandoned(
    client, deployer, presets, distribution, started
):
    """The button, during a deploy_edge run: refused, the editor is sent to that run's page, which offers the way
    out of --abandon-pending (the admin cannot know whether that run is alive)."""
    holder = deploy.acquire("ops@host")
    response = client.post(reverse(DEPLOY), follow=True)
    html = response.content.decode()
    assert response.redirect_chain[-1][0] == deployment_page(holder.pk) and started == []
    assert "Another deployment to CloudFront is in progress, started by ops@host" in html
    assert "run by manage.py deploy_edge (started by ops@host)" in html and 'class="iv-abandon"' in html
    client.post(abandon(holder.pk))
    holder.refresh_from_db()
    assert holder.status == "failed" and holder.error.startswith("Abandoned by editor from the admin")
    assert "This deployment had already ended." in client.post(abandon(holder.pk), follow=True).content.decode()


def test_a_missing_pillow_names_the_build_step_before_anything_starts(
    client, deployer, presets, distribution, started, tmp_path, monkeypatch
):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    bundle_module._zip.cache_clear()
    html = client.post(reverse(DEPLOY), follow=True).content.decode()
    assert "Deploying the presets failed: Pillow" in html
    assert "run `manage.py deploy_edge --fetch-pillow --runtime python3.12` where you build and deploy" in html
    assert started == [] and not Publication.objects.filter(target="cloudfront").exists()  # no process, no lock
    assert list(tmp_path.iterdir()) == []


def test_a_pillow_gone_before_the_build_fails_the_deployment_with_the_build_step(
    client, deployer, presets, distribution, started, here, tmp_path, monkeypatch
):
    client.post(reverse(DEPLOY))
    pk = Publication.objects.get(target="cloudfront").pk
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # the cache is gone by the time the process builds
    bundle_module._zip.cache_clear()
    assert runner.run(pk) == 1
    deployment = Publication.objects.get(pk=pk)
    assert deployment.status == "failed" and deployment.finished_at is not None
    assert "`manage.py deploy_edge --fetch-pillow --runtime python3.12`" in deployment.error
    assert f"Failed: {deployment.error}" in deployment.log
    html = client.get(deployment_page(pk)).content.decode()
    assert "<strong>Failed</strong>: Pillow" in html and "deploy_edge --fetch-pillow --runtime python3.12" in html
    assert len(started) == 1 and list(tmp_path.iterdir()) == []  # pip never ran
    assert boto3.client("lambda", region_name="us-east-1").list_functions()["Functions"] == []
    assert deploy.acquire("next").status == "pending"  # the lock was released


def test_a_deployment_that_finds_the_presets_live_says_so(client, deployer, presets, distribution, started, here):
    client.post(reverse(DEPLOY))
    live = Publication.objects.get(target="cloudfront")
    assert runner.run(live.pk) == 0
    client.post(reverse(DEPLOY))
    again = Publication.objects.get(target="cloudfront", status="pending")
    assert runner.run(again.pk) == 0
    again.refresh_from_db()
    assert again.status == "unchanged" and again.function_arn == "" and again.error == ""
    live.refresh_from_db()
    assert again.note == f"Up to date: the live deployment ({live.function_arn}) already serves these presets."
    assert publishing.last_publication("cloudfront").pk == live.pk  # the live deployment is still the one
    html = client.get(deployment_page(again.pk)).content.decode()
    assert "<strong>Up to date</strong>: Up to date: the live deployment" in html


def test_on_the_local_edge_the_button_publishes_at_once_without_a_process(client, deployer, presets, started):
    response = client.post(reverse(DEPLOY), follow=True)
    assert "Presets published (Local edge" in response.content.decode()
    assert started == [] and not Publication.objects.filter(target="cloudfront").exists()


def test_a_process_that_cannot_start_fails_the_deployment_and_says_why(
    client, deployer, presets, distribution, monkeypatch
):
    def refuse(args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(runner, "Popen", refuse)
    response = client.post(reverse(DEPLOY), follow=True)
    deployment = Publication.objects.get(target="cloudfront")
    assert deployment.status == "failed" and deployment.finished_at is not None  # the lock is not held
    assert deployment.error == "The deployment's process could not be started: [Errno 13] Permission denied."
    assert f"Deploying the presets failed: {deployment.error}" in response.content.decode().replace("&#x27;", "'")
    assert response.redirect_chain[-1][0] == reverse("admin:imagevariants_variantpreset_changelist")
