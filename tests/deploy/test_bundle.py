"""The Lambda bundle: reproducible, Django-free, and working under the runtime's own Python."""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile

import boto3
import pytest
from django.core.management import call_command

from imagevariants import publishing
from imagevariants.deploy import bundle as bundle_module
from imagevariants.deploy.bundle import DOCUMENT_NAME, BundleError, build, find_interpreter, verify

pytestmark = pytest.mark.django_db


@pytest.fixture
def bundle(presets):
    return build(publishing.draft_document(), "python3.12")


def test_reproducible(presets, bundle):
    bundle_module._zip.cache_clear()  # really build it again
    again = build(publishing.draft_document(), "python3.12")
    assert again.data == bundle.data and again.sha256 == bundle.sha256
    with zipfile.ZipFile(io.BytesIO(bundle.data)) as archive:
        infos = archive.infolist()
    assert [i.filename for i in infos] == sorted(i.filename for i in infos)
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}


def test_contents(presets, bundle):
    names = bundle.names()
    assert "imagevariants/edge/handler.py" in names and "PIL/__init__.py" in names
    assert "imagevariants/__init__.py" in names
    assert not any(
        n.startswith(("django", "boto3", "botocore", "imagevariants/models", "imagevariants/deploy")) for n in names
    )
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    assert any(n.startswith("PIL/_imaging.cpython-312-x86_64-linux-gnu") for n in names)  # the Lambda platform's
    with zipfile.ZipFile(io.BytesIO(bundle.data)) as archive:
        baked = json.loads(archive.read(DOCUMENT_NAME))
    assert baked == publishing.draft_document().to_dict()
    assert 3_000_000 < bundle.size < 50_000_000  # Lambda's limit for a zipped package is 50 MB


def test_a_preset_edit_changes_the_bundle(presets, bundle):
    presets["md"].quality = 70
    presets["md"].save()
    assert build(publishing.draft_document(), "python3.12").sha256 != bundle.sha256


def test_the_unzipped_bundle_runs_under_python_312(presets, bundle):
    interpreter = find_interpreter("python3.12")
    if interpreter is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have a Python 3.12 interpreter to run the bundle")
        pytest.skip("no Python 3.12 interpreter on this machine")
    report = verify(bundle, interpreter)
    assert report["python"].startswith("3.12.")
    assert report["presets"] == ["lg", "md", "sm", "xl"]
    assert report["variants"] == 12


def test_a_broken_bundle_is_caught_before_upload(presets, bundle):
    interpreter = find_interpreter("python3.12")
    if interpreter is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have a Python 3.12 interpreter to run the bundle")
        pytest.skip("no Python 3.12 interpreter on this machine")
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(bundle.data)) as source, zipfile.ZipFile(out, "w") as broken:
        for info in source.infolist():
            if not info.filename.startswith("PIL/"):
                broken.writestr(info, source.read(info))
    with pytest.raises(BundleError, match="No module named 'PIL'"):
        verify(type(bundle)(out.getvalue(), bundle.runtime), interpreter)


def test_bundle_only_writes_and_deploys_nothing(presets, tmp_path, aws):
    out = io.StringIO()
    call_command("deploy_edge", "--bundle-only", str(tmp_path / "edge.zip"), stdout=out)
    data = (tmp_path / "edge.zip").read_bytes()
    assert zipfile.is_zipfile(io.BytesIO(data))
    assert f"sha256 {hashlib.sha256(data).hexdigest()}" in out.getvalue()
    assert "MB" in out.getvalue()
    assert boto3.client("lambda", region_name="us-east-1").list_functions()["Functions"] == []


def test_pillow_for_an_unknown_python_is_a_clear_error(presets):
    with pytest.raises(BundleError, match="could not be fetched"):
        build(publishing.draft_document(), "python3.99")
