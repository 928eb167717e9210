"""The admin's deployments run in a process of their own: what that process needs to share the test's world."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from tests.deploy import conftest as deploy_fixtures

# The deploy tests' fixtures: a distribution on the moto server, a recorder of AWS calls, no run of the bundle.
distribution, recorder, skip_bundle_run = (
    deploy_fixtures.distribution,
    deploy_fixtures.recorder,
    deploy_fixtures.skip_bundle_run,
)


@pytest.fixture
def deploy_process(request, transactional_db, distribution, settings, tmp_path, monkeypatch) -> Iterator[str]:
    """The database, settings and AWS of the test, as the admin's deployment process sees them; the article's
    presets (sm/md/lg/xl) are drafts to deploy. Returns the settings module the process loads.

    The suite's SQLite database lives in this process's memory, where no other process can read it: for the test,
    the connection moves to a database file (migrated here) and back afterwards. The live server's threads, which
    share the in-memory connection, open their own on the file meanwhile (one connection closed by a thread while
    another uses it would crash).
    Data is committed (a transactional test), and the moto server and the Pillow cache are reached through the
    environment the process inherits.
    """
    from django.core.management import call_command
    from django.db import connections

    from imagevariants.models import VariantPreset

    connection = connections["default"]
    in_memory = connection.vendor == "sqlite" and connection.is_in_memory_db()
    saved_connection, saved_name = connection.connection, connection.settings_dict["NAME"]
    overrides: dict = {}
    if in_memory:
        connection.connection = None  # kept open in saved_connection, or the in-memory database would be lost
        connection.settings_dict["NAME"] = str(tmp_path / "shared.sqlite3")
        call_command("migrate", verbosity=0)
        if "live_server" in request.fixturenames:
            overrides = request.getfixturevalue("live_server").thread.connections_override
    shared = {alias: overrides.pop(alias) for alias in list(overrides)}
    for name, width in {"sm": 100, "md": 250, "lg": 700, "xl": 1200}.items():
        VariantPreset.objects.create(name=name, width=width, quality=80)
    values = {
        "SECRET_KEY": settings.SECRET_KEY,
        "INSTALLED_APPS": list(settings.INSTALLED_APPS),
        "DATABASES": {"default": dict(connection.settings_dict)},
        "IMAGEVARIANTS": dict(settings.IMAGEVARIANTS),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "STORAGES": settings.STORAGES,
        "USE_TZ": settings.USE_TZ,
        "DEFAULT_AUTO_FIELD": settings.DEFAULT_AUTO_FIELD,
    }
    folder = tmp_path / "process_settings"
    folder.mkdir()
    (folder / "deploy_process_settings.py").write_text("".join(f"{key} = {value!r}\n" for key, value in values.items()))
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "deploy_process_settings")
    yield "deploy_process_settings"
    overrides.update(shared)
    if in_memory:
        connection.close()
        connection.settings_dict["NAME"] = saved_name
        connection.connection = saved_connection


@pytest.fixture
def wait_for() -> Callable:
    """``wait_for(pk, condition)``: the deployment once ``condition(deployment)`` holds, read every 0.2 s."""
    from imagevariants.models import Publication

    def wait(pk: int, condition: Callable, timeout: float = 180):
        deadline = time.monotonic() + timeout
        while True:
            deployment = Publication.objects.get(pk=pk)
            if condition(deployment):
                return deployment
            assert time.monotonic() < deadline, f"{deployment.status}; log:\n{deployment.log}"
            time.sleep(0.2)

    return wait
