"""The suite runs the same on any machine: nothing of the machine's AWS setup nor of its user reaches a test."""

from __future__ import annotations

import getpass
import io

import boto3
import pytest
from django.core.management import call_command

from imagevariants.models import Publication


def test_ambient_aws_settings_never_send_a_client_past_moto(monkeypatch, request):
    """A developer's or a CI runner's AWS variables (a service endpoint, container credentials, ignoring the
    configured endpoints) are cleared by the fixture: every client still reaches the moto server."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:9/credentials")
    monkeypatch.setenv("AWS_PROFILE", "production")
    request.getfixturevalue("aws")
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="hermetic")
    assert [bucket["Name"] for bucket in s3.list_buckets()["Buckets"]] == ["hermetic"]


@pytest.mark.django_db
def test_deploy_edge_runs_without_a_user_name(presets, monkeypatch):
    """A container's uid with no password entry and no USER variable: the deployment is still recorded."""

    def no_user() -> str:
        raise OSError("No username set in the environment")

    monkeypatch.setattr(getpass, "getuser", no_user)
    presets["md"].width = 260
    presets["md"].save()  # an edit to publish (its own on-commit publication never runs inside the test)
    call_command("deploy_edge", stdout=io.StringIO())
    assert Publication.objects.latest().created_by.startswith("unknown@")
