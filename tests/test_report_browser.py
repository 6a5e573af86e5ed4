"""The HTML report as a reader sees it: built from the committed results of a fresh copy
(`from_tables`, no training), opened in Debian's headless chromium.

Run: python -m pytest -q -m browser tests/test_report_browser.py -p no:xdist
Needs `apt-get install chromium`; skipped without it. The screenshot is written to
$DPHARM_SCREENSHOT (default: the test's temporary folder) for a person to look at.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from dpharm.experiments import REGISTRY
from helpers import REPO, copy_workflow, snakemake

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium")


def chromium(*args: str) -> subprocess.CompletedProcess:
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=180)


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium)")
def test_the_report_of_the_committed_results_renders_in_a_browser(tmp_path):
    workdir = copy_workflow(tmp_path / "clone")
    shutil.copytree(REPO / "results", workdir / "results")
    built = snakemake(workdir, "--report", "report.html", "--config", "from_tables=True")
    assert built.returncode == 0, built.stderr[-3000:]
    page = f"file://{workdir / 'report.html'}"

    dom = chromium("--virtual-time-budget=5000", "--dump-dom", page)
    assert dom.returncode == 0, dom.stderr[-2000:]
    figures = [name for name in REGISTRY if (REPO / "results" / "figures" / f"{name}.png").exists()]
    for text in ("Claims", "Statistics", *(f"{REGISTRY[name].claim} {name}" for name in figures)):
        assert text in dom.stdout, text  # the sidebar: the claims, and every figure under its claim ID
    assert "System Message" not in dom.stdout  # no reStructuredText error rendered into the page

    screenshot = Path(os.environ.get("DPHARM_SCREENSHOT", tmp_path / "report.png"))
    shot = chromium("--virtual-time-budget=5000", f"--screenshot={screenshot}", page)
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert screenshot.stat().st_size > 20_000  # a rendered page, not a blank one
