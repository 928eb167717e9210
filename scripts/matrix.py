"""Run the suite's Django side on every supported Django, on the Pythons each supports, and on PostgreSQL.

    python scripts/matrix.py            # every combination, two at a time
    python scripts/matrix.py dj42-py311 # some of them

Each combination gets a virtualenv in .matrix/ (made once, then reused) from the interpreter found on PATH
(``python3.X``, not pyenv's shim) or in pyenv's versions. The edge's tests (tests/edge/) do not depend on Django
and the browser tests need one Chromium: ``make test`` runs those once. A combination's output is kept in
.matrix/<name>.log; the exit status is 1 when any combination failed.
"""

from __future__ import annotations

import concurrent.futures
import glob
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOME = ROOT / ".matrix"
DJANGO = {"42": "Django>=4.2,<5.0", "52": "Django>=5.2,<6.0", "60": "Django>=6.0,<6.1"}
PYTHONS = {"42": ("3.11", "3.12"), "52": ("3.11", "3.12", "3.13"), "60": ("3.12", "3.13")}
POSTGRESQL = {("42", "3.12"), ("52", "3.13"), ("60", "3.13")}  # each Django once on PostgreSQL too, after SQLite
PYTEST = ["-m", "pytest", "-q", "-p", "no:cacheprovider", "--ignore=tests/edge", "-m", "not browser"]


@dataclass(frozen=True)
class Combination:
    django: str
    python: str

    @property
    def name(self) -> str:
        return f"dj{self.django}-py{self.python.replace('.', '')}"

    @property
    def venv(self) -> Path:
        return HOME / self.name

    @property
    def databases(self) -> tuple[str, ...]:
        return ("sqlite", "postgresql") if (self.django, self.python) in POSTGRESQL else ("sqlite",)


def combinations() -> list[Combination]:
    return [Combination(django, python) for django, pythons in PYTHONS.items() for python in pythons]


def interpreter(version: str) -> str:
    on_path = shutil.which(f"python{version}")
    if on_path and "/shims/" not in on_path:  # pyenv's shim answers only for the versions pyenv has selected
        return on_path
    root = (
        subprocess.run(["pyenv", "root"], capture_output=True, text=True).stdout.strip()
        if shutil.which("pyenv")
        else ""
    )
    candidates = sorted(glob.glob(f"{root}/versions/{version}.*/bin/python{version}")) if root else []
    if not candidates:
        raise SystemExit(f"No Python {version}: install it (pyenv install {version}) or put python{version} on PATH.")
    return candidates[-1]


def run(combination: Combination) -> tuple[Combination, bool, float, str]:
    started = time.monotonic()
    log = HOME / f"{combination.name}.log"
    python = combination.venv / "bin" / "python"
    with log.open("w") as out:

        def step(*args: str, env: dict[str, str] | None = None) -> bool:
            out.write(f"$ {' '.join(args)}\n")
            out.flush()
            return subprocess.run(args, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env).returncode == 0

        ok = python.exists() or step(interpreter(combination.python), "-m", "venv", str(combination.venv))
        ok = ok and step(str(python), "-m", "pip", "install", "--quiet", "-e", ".[test]", DJANGO[combination.django])
        for database in combination.databases:
            ok = ok and step(str(python), *PYTEST, env={**os.environ, "IMAGEVARIANTS_TEST_DATABASE": database})
    tail = log.read_text().strip().splitlines()[-1:] or ["no output"]
    return combination, ok, time.monotonic() - started, tail[0]


def main(names: list[str]) -> int:
    HOME.mkdir(exist_ok=True)
    chosen = [c for c in combinations() if not names or c.name in names]
    unknown = set(names) - {c.name for c in chosen}
    if unknown:
        raise SystemExit(
            f"Unknown combination(s): {', '.join(sorted(unknown))}; known: {[c.name for c in combinations()]}"
        )
    failed = []
    sys.stdout.reconfigure(line_buffering=True)
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        for combination, ok, seconds, tail in pool.map(run, chosen):
            databases = "+".join(combination.databases)
            print(
                f"{combination.name:11} {databases:17} {'ok  ' if ok else 'FAIL'} {seconds:5.0f} s  {tail}", flush=True
            )
            if not ok:
                failed.append(combination.name)
    if failed:
        print(f"Failed: {', '.join(failed)} (their output: .matrix/<name>.log)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
