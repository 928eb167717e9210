"""Fixtures of the whole suite: a real S3-speaking server (moto) on 127.0.0.1, presets, sources.

The autouse fixtures apply to every test, the edge's included: they reset state of the Django side (a setting and a
cache), which the edge tests never read, so no conftest below redefines them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests import images


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A moto server on 127.0.0.1 (S3, Lambda, IAM, CloudFront), reached over HTTP by boto3 as in production."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point every boto3 client at the moto server through botocore's standard variables, with fake credentials."""
    import requests

    from imagevariants.edge import store

    requests.post(f"{moto_server}/moto-api/reset", timeout=10)
    for name in [name for name in os.environ if name.startswith("AWS_")]:  # nothing ambient may send past moto
        monkeypatch.delenv(name)
    for name, value in {
        "AWS_ENDPOINT_URL": moto_server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": os.devnull,  # no profile of the machine's (an endpoint, a role) applies
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "MOTO_IAM_LOAD_MANAGED_POLICIES": "true",
    }.items():
        monkeypatch.setenv(name, value)
    store.s3_client.cache_clear()
    yield moto_server
    store.s3_client.cache_clear()


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path) -> None:
    """Each test gets its own empty media folder (a setting only: the folder is made when a file is saved)."""
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture(autouse=True)
def _fresh_published_cache() -> Iterator[None]:
    """Each test reads the published presets afresh (the document a process keeps, see imagevariants.publishing)."""
    from imagevariants import publishing

    publishing.forget()
    yield
    publishing.forget()


@pytest.fixture
def presets(db, django_capture_on_commit_callbacks):
    """The article's presets sm/md/lg/xl (100/250/700/1200 px), keeping the source's format, with AVIF and WebP.

    Created as an editor would: each save's transaction commits (on the local edge, that publishes them).
    """
    from imagevariants.models import VariantPreset

    with django_capture_on_commit_callbacks(execute=True):
        return {
            name: VariantPreset.objects.create(name=name, width=width, quality=80)
            for name, width in {"sm": 100, "md": 250, "lg": 700, "xl": 1200}.items()
        }


@pytest.fixture
def source(db, settings):
    """A tracked 800x600 JPEG on the filesystem storage."""
    return images.tracked("photo.jpg", images.jpeg(800, 600), alt="A test picture")


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's event loop beside the live server
    # Tests never reach a package index: a pip run by mistake fails at once instead of downloading.
    for name in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS"):
        os.environ.pop(name, None)
    os.environ["PIP_NO_INDEX"] = "1"
