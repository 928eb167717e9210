"""The Lambda bundle: reproducible, Django-free, and working under the runtime's own Python."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import zipfile
from dataclasses import replace
from pathlib import Path

import boto3
import pytest
from django.core.management import call_command

from imagevariants import deploy, publishing
from imagevariants.deploy import bundle as bundle_module
from imagevariants.deploy.aws import HANDLER
from imagevariants.deploy.bundle import (
    DOCUMENT_NAME,
    VERIFY_SCRIPT,
    build,
    fetch_pillow,
    find_interpreter,
    pillow_dir,
    pillow_for,
    verify,
)
from imagevariants.exceptions import BundleError, PillowMissing, RuntimeUnavailable

pytestmark = pytest.mark.django_db


@pytest.fixture
def bundle(presets):
    return build(publishing.draft_document(), "python3.12")


def test_reproducible(presets, bundle):
    bundle_module._zip.cache_clear()  # really build it again
    bundle_module._bytecode.cache_clear()  # and compile it again
    again = build(publishing.draft_document(), "python3.12")
    assert again.data == bundle.data and again.sha256 == bundle.sha256
    with zipfile.ZipFile(io.BytesIO(bundle.data)) as archive:
        infos = archive.infolist()
    assert [i.filename for i in infos] == sorted(i.filename for i in infos)
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}


def test_contents(presets, bundle):
    with zipfile.ZipFile(io.BytesIO(bundle.data)) as archive:
        names = archive.namelist()
    assert "imagevariants/edge/handler.py" in names and "PIL/__init__.py" in names
    assert "imagevariants/edge/events.py" in names  # the verifier builds its events with it
    assert "imagevariants/__init__.py" in names
    assert not any(
        n.startswith(("django", "boto3", "botocore", "imagevariants/models", "imagevariants/deploy")) for n in names
    )
    # No bytecode of this machine's Python: only the runtime's, beside the source it was compiled from (see below).
    shipped = {n for n in names if n.endswith(".py")}
    for name in (n for n in names if "__pycache__" in n or n.endswith(".pyc")):
        folder, _, pyc = name.rpartition("__pycache__/")
        assert pyc.endswith(".cpython-312.pyc") and folder + pyc.removesuffix(".cpython-312.pyc") + ".py" in shipped
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


def test_an_entry_point_the_bundle_lacks_is_caught_before_upload(presets, bundle, monkeypatch):
    """The function's configured handler must be a function of the bundle, or Lambda would fail every request."""
    interpreter = find_interpreter("python3.12")
    if interpreter is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have a Python 3.12 interpreter to run the bundle")
        pytest.skip("no Python 3.12 interpreter on this machine")
    monkeypatch.setattr(bundle_module, "HANDLER", "imagevariants.edge.handler.handler")
    with pytest.raises(BundleError, match="no entry point imagevariants.edge.handler.handler"):
        verify(bundle, interpreter)


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


def test_a_missing_pillow_is_a_clear_error_and_nothing_is_downloaded(presets, tmp_path, monkeypatch):
    """Building never runs pip (the admin's Deploy button builds in a web request): it names the build step."""
    ran: list[list[str]] = []
    monkeypatch.setattr(subprocess, "run", lambda command, **kwargs: ran.append(command))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    bundle_module._zip.cache_clear()  # a zip built by an earlier test would not look for Pillow
    for runtime in ("python3.12", "python3.99"):
        with pytest.raises(PillowMissing, match=rf"deploy_edge --fetch-pillow --runtime {runtime}`") as caught:
            build(publishing.draft_document(), runtime)
        assert str(tmp_path) in str(caught.value)
    assert ran == [] and list(tmp_path.iterdir()) == []


def _fake_pip(calls: list[list[str]], returncode: int = 0, stderr: str = ""):
    def run(command, **kwargs):
        calls.append(command)
        target = Path(command[command.index("--target") + 1])
        if returncode == 0:
            (target / "PIL").mkdir()
            (target / "PIL" / "__init__.py").write_text("")
        return subprocess.CompletedProcess(command, returncode, "", stderr)

    return run


def test_fetch_pillow_asks_pip_for_the_lambda_platform_once(tmp_path, monkeypatch):
    """The build step: binary wheels of this Pillow for the runtime's CPython on x86_64 Linux, cached once.

    pip is replaced by a stand-in that fills its --target (tests never reach a package index): this checks what
    is asked of pip and what the cache holds afterwards.
    """
    calls: list[list[str]] = []
    monkeypatch.setattr(subprocess, "run", _fake_pip(calls))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path, fetched = fetch_pillow("python3.13", "12.1.0")
    assert fetched and path == pillow_dir("python3.13", "12.1.0") and (path / "PIL" / "__init__.py").is_file()
    assert path.parent == tmp_path / "imagevariants"
    [command] = calls
    assert command[1:4] == ["-m", "pip", "install"] and command[-1] == "Pillow==12.1.0"
    assert "--only-binary=:all:" in command and {"manylinux_2_28_x86_64", "manylinux2014_x86_64"} <= set(command)
    assert command[command.index("--python-version") + 1] == "3.13"
    assert command[command.index("--implementation") + 1] == "cp"
    assert pillow_for("python3.13", "12.1.0") == path
    assert fetch_pillow("python3.13", "12.1.0") == (path, False) and len(calls) == 1
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temporary folder left behind


def test_a_failed_fetch_says_why_and_leaves_no_cache(tmp_path, monkeypatch):
    calls: list[list[str]] = []
    monkeypatch.setattr(subprocess, "run", _fake_pip(calls, 1, "ERROR: No matching distribution found for x\n"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(BundleError, match="could not be fetched: ERROR: No matching distribution found for x$"):
        fetch_pillow("python3.12", "99.0")
    assert list((tmp_path / "imagevariants").iterdir()) == []
    with pytest.raises(PillowMissing):
        pillow_for("python3.12", "99.0")


def test_deploy_edge_fetch_pillow_fills_the_cache_and_deploys_nothing(presets, tmp_path, monkeypatch, aws):
    calls: list[list[str]] = []
    monkeypatch.setattr(subprocess, "run", _fake_pip(calls))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    out = io.StringIO()
    call_command("deploy_edge", "--fetch-pillow", "--runtime", "python3.11", stdout=out)
    assert out.getvalue() == f"Pillow for python3.11: fetched into {pillow_dir('python3.11')}\n"
    call_command("deploy_edge", "--fetch-pillow", "--runtime", "python3.11", stdout=out)
    assert out.getvalue().endswith(f"Pillow for python3.11: already in {pillow_dir('python3.11')}\n")
    assert len(calls) == 1
    assert boto3.client("lambda", region_name="us-east-1").list_functions()["Functions"] == []


def test_the_admin_deploy_button_never_downloads_pillow(presets, distribution, tmp_path, monkeypatch, client):
    """A web request does not run pip: without the prepared cache the editor is told the build step to run."""
    from django.contrib.auth.models import User
    from django.urls import reverse

    from imagevariants.models import Publication

    ran: list[list[str]] = []
    monkeypatch.setattr(subprocess, "run", lambda command, **kwargs: ran.append(command))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    bundle_module._zip.cache_clear()
    client.force_login(User.objects.create_superuser("admin", password="pw"))
    response = client.post(reverse("admin:imagevariants_variantpreset_deploy"), follow=True)
    html = response.content.decode()
    assert "Deploying the presets failed: Pillow" in html and "deploy_edge --fetch-pillow --runtime python3.12" in html
    assert ran == [] and list(tmp_path.iterdir()) == []
    assert not Publication.objects.filter(target="cloudfront").exists()  # nothing changed on AWS: no trace, no lock
    assert boto3.client("lambda", region_name="us-east-1").list_functions()["Functions"] == []


def test_only_a_missing_runtime_python_skips_the_run_before_upload(bundle, monkeypatch):
    monkeypatch.setattr(bundle_module, "find_interpreter", lambda runtime: None)
    lines: list[str] = []
    deploy.check_bundle(replace(bundle, bytecode=True), lines.append)  # built where Python 3.12 was
    assert lines == ["Bundle not run before upload: no Python 3.12 interpreter on this machine."]

    def stray(bundle, interpreter=None):
        return {}["python"]  # a bug in the check itself

    monkeypatch.setattr(deploy, "verify", stray)
    with pytest.raises(KeyError):  # a failing check stops the deploy: it is never taken for a missing Python
        deploy.check_bundle(bundle, lines.append)
    assert len(lines) == 1


def _python_312() -> str:
    interpreter = find_interpreter("python3.12")
    if interpreter is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have a Python 3.12 interpreter to compile the bundle")
        pytest.skip("no Python 3.12 interpreter on this machine")
    return interpreter


def test_every_module_ships_with_unchecked_bytecode_for_the_runtime(presets, bundle):
    """Lambda's code folder is read-only: a module without valid bytecode beside it is compiled at every cold start.

    Each .py has its ``__pycache__/NAME.cpython-312.pyc``: Python 3.12's magic number, flags 0b01 (hash-based, the
    source never checked: no mtime in it, and importing never reads the source), and the hash of that source.
    """
    interpreter = _python_312()
    assert bundle.bytecode
    with zipfile.ZipFile(io.BytesIO(bundle.data)) as archive:
        names = archive.namelist()
        sources = {n: archive.read(n) for n in names if n.endswith(".py")}
        pycs = {n: archive.read(n) for n in names if n.endswith(".pyc")}
    assert len(sources) > 100 and "imagevariants/edge/handler.py" in sources and "PIL/Image.py" in sources
    expected = {}  # the pyc's name: its source
    for name, source in sources.items():
        folder, _, module = name.rpartition("/")
        expected[f"{folder}/__pycache__/{module.removesuffix('.py')}.cpython-312.pyc".lstrip("/")] = source
    assert set(pycs) == set(expected)
    script = (
        "import importlib.util, json, sys\n"
        "print(json.dumps([importlib.util.MAGIC_NUMBER.hex(), "
        "{n: importlib.util.source_hash(bytes.fromhex(h)).hex() for n, h in json.load(sys.stdin).items()}]))"
    )
    done = subprocess.run(
        [interpreter, "-I", "-S", "-c", script],
        input=json.dumps({n: source.hex() for n, source in expected.items()}),
        capture_output=True,
        text=True,
        check=True,
    )
    magic, hashes = json.loads(done.stdout)
    for name, pyc in pycs.items():
        assert pyc[:4].hex() == magic, name
        assert int.from_bytes(pyc[4:8], "little") == 0b01, name  # hash-based, unchecked
        assert pyc[8:16].hex() == hashes[name], name


def test_the_handler_never_compiles_a_module_of_the_bundle(presets, bundle, tmp_path):
    """Run the bundle's real requests (the trial run before upload) under Python 3.12 as Lambda runs it, without
    writing bytecode, after every source of the bundle was replaced by a module that exits: any module Python
    compiled instead of loading its bytecode would fail the run. Nothing is written into the folder."""
    interpreter = _python_312()
    with zipfile.ZipFile(io.BytesIO(bundle.data)) as archive:
        archive.extractall(tmp_path)
    sources = sorted(tmp_path.rglob("*.py"))
    for source in sources:
        source.write_text(f"raise SystemExit('compiled from its source: {source.relative_to(tmp_path)}')\n")
    before = sorted(tmp_path.rglob("*"))
    done = subprocess.run(
        [interpreter, "-I", "-S", "-B", str(VERIFY_SCRIPT), str(tmp_path), HANDLER],
        capture_output=True,
        text=True,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["python"].startswith("3.12.") and report["variants"] == 12
    assert len(sources) > 100 and sorted(tmp_path.rglob("*")) == before


def test_without_the_runtime_python_the_bundle_has_no_bytecode_and_the_deploy_says_so(presets, monkeypatch):
    monkeypatch.setattr(bundle_module, "find_interpreter", lambda runtime: None)
    bare = build(publishing.draft_document(), "python3.12")
    assert not bare.bytecode
    with zipfile.ZipFile(io.BytesIO(bare.data)) as archive:
        names = archive.namelist()
    assert "imagevariants/edge/handler.py" in names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    assert build(publishing.draft_document(), "python3.12").data == bare.data
    with pytest.raises(RuntimeUnavailable, match=r"no bytecode: each cold start compiles its modules again\)$"):
        verify(bare)
    lines: list[str] = []
    deploy.check_bundle(bare, lines.append)
    assert lines == [
        "Bundle not run before upload: no Python 3.12 interpreter on this machine "
        "(so the bundle has no bytecode: each cold start compiles its modules again)."
    ]
