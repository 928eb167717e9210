"""The example project (example_project/) under its own settings.

Its tests, in tests/example_project/, need the demo app, which the suite's settings do not install: they run here in
a process of their own, with the example project's settings, and every one of them must pass.
"""

import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

ROOT = Path(__file__).resolve().parents[1]
NOT_PASSED = {"skipped", "failure", "error"}  # the outcomes a test case can report besides passing


def test_the_example_project_under_its_own_settings(tmp_path):
    report = tmp_path / "report.xml"
    command = [sys.executable, "-m", "pytest", "tests/example_project", "--ds=tests.example_project.settings"]
    command += ["-p", "no:cacheprovider", f"--junitxml={report}"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    cases = list(ElementTree.parse(report).getroot().iter("testcase"))
    assert cases, result.stdout
    outcomes = {case.get("name"): child.tag for case in cases for child in case if child.tag in NOT_PASSED}
    assert outcomes == {}, result.stdout
