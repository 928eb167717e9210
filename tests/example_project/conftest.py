"""The example project's tests need its demo app, which the suite's settings (tests/settings.py) do not install.

They run under the example project's own settings (tests/example_project/settings.py), in a process of their own
that tests/test_example_project.py starts; under any other settings they are not collected.
"""

import pytest
from django.conf import settings

if "example_project.demo" not in settings.INSTALLED_APPS:
    collect_ignore_glob = ["test_*.py"]

    @pytest.fixture(autouse=True)
    def _example_project_settings() -> None:
        """A file named on the command line is collected all the same: say how to run it."""
        pytest.fail("these tests need --ds=tests.example_project.settings (tests/test_example_project.py runs them so)")
