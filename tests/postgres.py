"""A throwaway PostgreSQL server for one test run: Debian's server binaries, a cluster in a temporary folder, a
Unix socket only (no TCP port), started when the settings are loaded and stopped when the run ends.

``IMAGEVARIANTS_TEST_DATABASE=postgresql`` selects it (tests/settings.py); Debian's ``postgresql`` package
provides ``initdb`` and ``pg_ctl``. Run as root, the server runs as the ``postgres`` user the package creates,
since PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

USER = "postgres"


def _binaries() -> Path:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[-3]))
    if not versions:
        raise RuntimeError(
            "IMAGEVARIANTS_TEST_DATABASE=postgresql needs PostgreSQL's server: apt-get install postgresql"
        )
    return Path(versions[-1]).parent


def _run(args: list[str], as_root: bool) -> None:
    command = ["runuser", "-u", USER, "--", *args] if as_root else args
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"{' '.join(args[:2])} failed: {(result.stderr or result.stdout).strip()}")


def throwaway_server() -> dict[str, str]:
    """Start a server and return its ``DATABASES`` entry; it is stopped and removed when the process exits."""
    binaries = _binaries()
    as_root = os.geteuid() == 0
    folder = Path(tempfile.mkdtemp(prefix="imagevariants-postgres-"))
    data, socket = folder / "data", folder / "socket"
    socket.mkdir()
    if as_root:
        shutil.chown(folder, USER)
        shutil.chown(socket, USER)
    _run([str(binaries / "initdb"), "-D", str(data), "-U", USER, "--auth=trust", "-E", "UTF8", "--no-sync"], as_root)
    options = f"-k {socket} -c listen_addresses='' -F"  # the socket only; no fsync: the data is thrown away
    _run([str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-w", "-l", str(folder / "log"), "start"], as_root)

    def stop() -> None:
        _run([str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], as_root)
        shutil.rmtree(folder, ignore_errors=True)

    atexit.register(stop)
    return {"ENGINE": "django.db.backends.postgresql", "NAME": "postgres", "USER": USER, "HOST": str(socket)}
