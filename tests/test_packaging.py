"""The source distribution: the whole package (code, templates, static files, migrations, py.typed), the licence
and the docs, and none of the tests (MANIFEST.in)."""

import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_sdist_holds_the_package_and_no_test(tmp_path):
    code = f"from setuptools import build_meta; print(build_meta.build_sdist({str(tmp_path)!r}))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    archive = tmp_path / result.stdout.strip().splitlines()[-1]
    with tarfile.open(archive) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    package = {
        str(path.relative_to(ROOT))
        for path in (ROOT / "imagevariants").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert package <= names, sorted(package - names)
    assert {"LICENSE", "README.md", "imagevariants/py.typed", "docs/architecture.md"} <= names
    assert not [name for name in names if name.startswith(("tests/", "example_project/", "benchmarks/"))]


def test_a_checkout_installs_with_pip(tmp_path):
    """The README's install line before the first release: pip installs the package from a checkout."""
    target = tmp_path / "site"
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"]
    result = subprocess.run([*command, "--target", str(target), str(ROOT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    installed = target / "imagevariants"
    assert (installed / "py.typed").exists() and (installed / "edge" / "handler.py").exists()
    assert list((installed / "templates").rglob("*.html")) and list((installed / "migrations").glob("0*.py"))
    assert not (target / "tests").exists()
