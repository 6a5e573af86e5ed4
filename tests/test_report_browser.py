"""The HTML report as a reader sees it: built from the committed results of a fresh copy
(`from_tables`, no training), opened in Debian's headless chromium.

Run: python -m pytest -q -m browser tests/test_report_browser.py -p no:xdist
Needs `apt-get install chromium`; skipped without it. The screenshot of the report is written to
$DPHARM_SCREENSHOT, those of the claims page (1400 and 800 px wide) to $DPHARM_SCREENSHOT_DIR
(default for both: the test's temporary folder), for a person to look at.
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


def chromium(*args: str, width: int = 1400, profile: Path | None = None) -> subprocess.CompletedProcess:
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", f"--window-size={width},1000",
               *([f"--user-data-dir={profile}"] if profile else []), *args]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=180)


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium)")
def test_the_report_of_the_committed_results_renders_in_a_browser(tmp_path):
    workdir = copy_workflow(tmp_path / "clone")
    shutil.copytree(REPO / "results", workdir / "results")
    copied = snakemake(workdir, "tables_provenance", "--config", "from_tables=True")  # each record, for the report
    assert copied.returncode == 0, copied.stderr[-3000:]
    built = snakemake(workdir, "--report", "report.html", "--config", "from_tables=True")
    assert built.returncode == 0, built.stderr[-3000:]
    page = f"file://{workdir / 'report.html'}"

    dom = chromium("--virtual-time-budget=5000", "--dump-dom", page)
    assert dom.returncode == 0, dom.stderr[-2000:]
    figures = [name for name in REGISTRY if (REPO / "results" / "figures" / f"{name}.png").exists()]
    for text in ("At a glance", "Claims", "Provenance", "Statistics",
                 *(f"{REGISTRY[name].claim} {name}" for name in figures)):  # fmt: skip
        assert text in dom.stdout, text  # the sidebar: the claims, and every figure under its claim ID
    assert "System Message" not in dom.stdout  # no reStructuredText error rendered into the page

    screenshot = Path(os.environ.get("DPHARM_SCREENSHOT", tmp_path / "report.png"))
    shot = chromium("--virtual-time-budget=5000", f"--screenshot={screenshot}", page)
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert screenshot.stat().st_size > 20_000  # a rendered page, not a blank one


# Appended to a copy of the claims page: after layout, the page says whether anything sticks out
# to the right of the window (a table cut off) and whether the verdict matrix image loaded.
MEASURE = """<script>window.addEventListener('load', () => {
  const width = document.documentElement.clientWidth;
  const wide = [...document.querySelectorAll('table, img, h1, h2, h3, p')]
    .filter(e => e.getBoundingClientRect().right > width + 1).length;
  const image = document.querySelector('img.matrix');
  const loaded = image !== null && image.complete && image.naturalWidth > 0;
  document.body.insertAdjacentHTML('beforeend',
    `<div id="measured">overflow=${wide} scroll=${document.documentElement.scrollWidth > width} image=${loaded}</div>`);
});</script>"""


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium)")
@pytest.mark.parametrize("width", [1400, 800])
def test_the_claims_page_fits_the_window_with_the_matrix_on_top(tmp_path, width):
    page = tmp_path / "claims.html"
    page.write_text((REPO / "results" / "claims.html").read_text().replace("</body>", MEASURE + "</body>"))
    dom = chromium("--virtual-time-budget=3000", "--dump-dom", f"file://{page}", width=width, profile=tmp_path / "p")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert '<div id="measured">overflow=0 scroll=false image=true</div>' in dom.stdout  # nothing cut off
    assert dom.stdout.index('class="matrix"') < dom.stdout.index("Summary")
    screenshot = Path(os.environ.get("DPHARM_SCREENSHOT_DIR", tmp_path)) / f"claims_{width}.png"
    shot = chromium(f"--screenshot={screenshot}", f"file://{REPO / 'results' / 'claims.html'}", width=width,
                    profile=tmp_path / "p")  # fmt: skip
    assert shot.returncode == 0 and screenshot.stat().st_size > 20_000
