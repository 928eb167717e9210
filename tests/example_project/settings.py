"""The example project's own settings (example_project/settings.py), with a database in memory and media in a
temporary folder: the demo app's tests run with these, in a process that tests/test_example_project.py starts."""

import tempfile

from example_project.settings import *  # noqa: F403

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
MEDIA_ROOT = tempfile.mkdtemp(prefix="imagevariants-example-tests-")
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
