"""The Lambda bundle: the edge package, the baked presets document and Pillow for the Lambda platform.

The zip is reproducible (sorted entries, fixed timestamps and permissions), so the same presets and code give
the same bytes and the same SHA-256, which is how ``deploy_edge`` knows that nothing changed.

Every module ships with its bytecode for the runtime's Python beside it (``__pycache__/NAME.cpython-312.pyc`` for
python3.12): Lambda's code folder is read-only, so a module without it would be compiled again at every cold start.
The bytecode is made by an interpreter of the runtime's version (:func:`find_interpreter`); without one the bundle
has none, and :func:`verify` says so.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import PIL

from ..edge.presets import Document
from ..exceptions import BundleError, PillowMissing, RuntimeUnavailable
from .aws import HANDLER

PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # imagevariants/
EDGE_FILES = ("__init__.py", "edge")
DOCUMENT_NAME = "imagevariants/edge/presets.json"
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
VERIFY_SCRIPT = Path(__file__).with_name("verify_bundle.py")


@dataclass(frozen=True)
class Bundle:
    data: bytes
    runtime: str
    #: Whether each module has its bytecode for the runtime's Python beside it.
    bytecode: bool = False

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def size(self) -> int:
        return len(self.data)


def python_version(runtime: str) -> str:
    """``python3.12`` -> ``3.12``."""
    if not runtime.startswith("python3."):
        raise BundleError(f"Runtime {runtime!r} is not a Python runtime such as python3.12.")
    return runtime.removeprefix("python")


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "imagevariants"


def pillow_dir(runtime: str, version: str = PIL.__version__) -> Path:
    """Where Pillow ``version`` for ``runtime`` on the Lambda platform (x86_64 manylinux) is cached."""
    pyver = python_version(runtime)
    return cache_dir() / f"pillow-{version}-cp{pyver.replace('.', '')}-manylinux-x86_64"


def pillow_for(runtime: str, version: str = PIL.__version__) -> Path:
    """The cached Pillow for ``runtime``; PillowMissing if :func:`fetch_pillow` has not filled the cache.

    Building a bundle never downloads anything: a web request (the admin's Deploy button) must not run pip.
    """
    target = pillow_dir(runtime, version)
    if not (target / "PIL" / "__init__.py").exists():
        raise PillowMissing(
            f"Pillow {version} for {runtime} on x86_64 is not in the cache ({target}): "
            f"run `manage.py deploy_edge --fetch-pillow --runtime {runtime}` where you build and deploy."
        )
    return target


def fetch_pillow(runtime: str, version: str = PIL.__version__) -> tuple[Path, bool]:
    """Fill the cache with Pillow ``version`` for ``runtime`` (pip, binary wheels only); return it and if fetched."""
    target = pillow_dir(runtime, version)
    if (target / "PIL" / "__init__.py").exists():
        return target, False
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        command = [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
            "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux2014_x86_64",
            "--only-binary=:all:", "--implementation", "cp", "--python-version", python_version(runtime),
            "--target", tmp, f"Pillow=={version}",
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["pip failed"])[-1]
            raise BundleError(f"Pillow {version} for {runtime} on x86_64 could not be fetched: {last}")
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
        os.makedirs(tmp)  # let TemporaryDirectory clean up an empty folder
    return target, True


def _files(root: Path, prefix: str = "") -> dict[str, Path]:
    found = {}
    for path in root.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            found[prefix + path.relative_to(root).as_posix()] = path
    return found


def build(document: Document, runtime: str) -> Bundle:
    """Zip the edge package, ``document`` and Pillow for ``runtime``, with their bytecode when this machine has an
    interpreter of the runtime's version. Same inputs, same bytes."""
    interpreter = find_interpreter(runtime)
    return Bundle(_zip(document.to_json(), runtime, interpreter), runtime, bytecode=interpreter is not None)


@functools.lru_cache(maxsize=4)
def _zip(document_json: str, runtime: str, interpreter: str | None) -> bytes:
    """The zip's bytes (kept for the process: compressing Pillow takes seconds and the inputs do not change)."""
    document = Document.from_json(document_json)
    entries: dict[str, bytes] = {}
    for name in EDGE_FILES:
        path = PACKAGE_ROOT / name
        if path.is_file():
            entries[f"imagevariants/{name}"] = path.read_bytes()
        else:
            for arcname, file in _files(path, f"imagevariants/{name}/").items():
                if not arcname.endswith("presets.json"):
                    entries[arcname] = file.read_bytes()
    entries[DOCUMENT_NAME] = json.dumps(document.to_dict(), sort_keys=True, indent=1).encode("utf-8")
    for arcname, file in _files(pillow_for(runtime)).items():
        if not arcname.startswith("bin/"):
            entries[arcname] = file.read_bytes()
    if interpreter is not None:
        entries.update(_bytecode(interpreter, tuple((n, d) for n, d in sorted(entries.items()) if n.endswith(".py"))))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for arcname in sorted(entries):
            info = zipfile.ZipInfo(arcname, FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, entries[arcname], compresslevel=9)
    return out.getvalue()


#: Run by the runtime's interpreter: reads ``{name: source}`` (base64) on stdin, compiles each source in a folder of
#: its own (removed even if the build is abandoned meanwhile) to the bytecode its import looks for, and writes
#: ``{that name: bytecode}``. Unchecked-hash pycs hold no mtime and are used without a look at the source; each names
#: its source by its path in the bundle, not in that folder.
_COMPILE = """
import base64, importlib.util, json, os, py_compile, sys, tempfile
compiled = {}
with tempfile.TemporaryDirectory(prefix="imagevariants-bytecode-") as tmp:
    for name, source in json.load(sys.stdin).items():
        path = os.path.join(tmp, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as file:
            file.write(base64.b64decode(source))
        cfile = importlib.util.cache_from_source(path, optimization="")
        py_compile.compile(path, cfile, dfile=name, doraise=True, optimize=0,
                           invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
        with open(cfile, "rb") as file:
            compiled[os.path.relpath(cfile, tmp)] = base64.b64encode(file.read()).decode()
json.dump(compiled, sys.stdout)
"""


@functools.lru_cache(maxsize=2)
def _bytecode(interpreter: str, sources: tuple[tuple[str, bytes], ...]) -> dict[str, bytes]:
    """The bytecode of each ``(name, source)`` made by ``interpreter``, by the name its import looks for."""
    result = subprocess.run(
        [interpreter, "-I", "-S", "-c", _COMPILE],
        input=json.dumps({name: base64.b64encode(data).decode() for name, data in sources}),
        capture_output=True,
        text=True,
        # A fixed hash seed: before Python 3.11, a set constant's items are written in their hashes' order.
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"},
        timeout=300,
    )
    if result.returncode != 0:
        detail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise BundleError(f"The bundle's modules could not be compiled by {interpreter}: {detail}")
    return {name: base64.b64decode(data) for name, data in json.loads(result.stdout).items()}


def find_interpreter(runtime: str) -> str | None:
    """An interpreter of the runtime's Python version on this machine (pyenv's, then PATH), or None."""
    pyver = python_version(runtime)
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    candidates = sorted(root.glob(f"{pyver}.*/bin/python{pyver}"))
    if candidates:
        return str(candidates[-1])
    found = shutil.which(f"python{pyver}")
    return found if found and "/shims/" not in found else None


def verify(bundle: Bundle, interpreter: str | None = None) -> dict:
    """Unzip the bundle and run real origin-response events through its handler under the runtime's Python.

    Raises BundleError if the handler fails, if the entry point Lambda is configured with (``HANDLER``) is not a
    function of the bundle or if Django is importable inside; returns the script's report.
    Raises RuntimeUnavailable when no interpreter of the runtime's version is available.
    """
    interpreter = interpreter or find_interpreter(bundle.runtime)
    if not interpreter:
        missing = f"no Python {python_version(bundle.runtime)} interpreter on this machine"
        if not bundle.bytecode:
            missing += " (so the bundle has no bytecode: each cold start compiles its modules again)"
        raise RuntimeUnavailable(missing)
    with tempfile.TemporaryDirectory(prefix="imagevariants-bundle-") as tmp:
        with zipfile.ZipFile(io.BytesIO(bundle.data)) as archive:
            archive.extractall(tmp)
        result = subprocess.run(
            [interpreter, "-I", "-S", str(VERIFY_SCRIPT), tmp, HANDLER],
            capture_output=True,
            text=True,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"},
            timeout=120,
        )
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        detail = (result.stderr.strip().splitlines() or lines or ["no output"])[-1]
        raise BundleError(f"The bundle's handler failed under {interpreter}: {detail}")
    return json.loads(lines[-1])
