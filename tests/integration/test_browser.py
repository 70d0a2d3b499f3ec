"""The live lanes where the course is read: JupyterLab serves the course notebook's eight-jobs cell,
headless Chromium runs it against 4 local workers, and mid-batch the page shows four lanes with
bars still growing; the batch's last frame then holds all eight, done.

Real parts: a JupyterLab server (the test extra's), Debian's chromium and chromedriver (scripts/test
installs them), a real kernel, real workers. The mid-batch screenshot is the test's file
(`lanes-mid-batch.png`); `UPDATE_DOCS_SCREENSHOT=1` also copies it to docs/, where docs/course.md
shows it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import nbformat
import pytest

from devcluster.redis_server import free_port
from tests.helpers import NOTEBOOK, ROOT, SVG, bars, skip_unless_required, wait_for

pytestmark = pytest.mark.integration

#: The course notebook's cell that runs eight jobs on the four workers, found by its call.
EIGHT_JOBS = "run_jobs(jobs=8, duration=1)"
#: Where the screenshot is shown to readers (docs/course.md).
DOCS_SCREENSHOT = ROOT / "docs" / "notebook-live-lanes.png"
#: The front end's view of the cell's output: the lanes' HTML as the browser holds it now.
LANES_JS = ("const d = document.querySelectorAll('.jp-OutputArea-output .producer-lanes');"
            "return d.length ? d[d.length - 1].outerHTML : null;")
KERNEL_IDLE_JS = ("const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
                  "const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;"
                  "return k ? k.status : null;")


def browser_tools() -> tuple[str, str]:
    """Chromium and its driver (Debian's), or a skip naming what is missing (a failure under REQUIRE_ALL=1)."""
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        skip_unless_required("chromium and chromedriver are not installed (scripts/test installs them)")
    try:
        import jupyterlab  # noqa: F401  (the test extra's)
        import selenium  # noqa: F401
    except ImportError as exc:
        skip_unless_required(f"the browser test needs the test extra ({exc.name}): pip install -e '.[test]'")
    return str(chromium), str(driver)


def course_cells(tmp_path: Path) -> Path:
    """A notebook of the course notebook's import of run_jobs and its eight-jobs cell, as written there."""
    course = nbformat.read(NOTEBOOK, as_version=4)
    cell = next(c for c in course.cells if c.cell_type == "code" and EIGHT_JOBS in c.source)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("from producer import run_jobs"),
                                         nbformat.v4.new_code_cell(cell.source)],
                                  metadata=course.metadata)  # its kernel named: JupyterLab asks otherwise
    path = tmp_path / "lab" / "lanes.ipynb"
    path.parent.mkdir(exist_ok=True)
    nbformat.write(nb, path)
    return path


def jupyter_lab(root: Path, port: int, token: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    """A JupyterLab server on 127.0.0.1 serving `root`, the app reachable from the page's scripts."""
    home = root.parent / "jupyter-home"  # beside the served folder: the file browser shows the notebook alone
    notification = home / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notification.parent.mkdir(parents=True, exist_ok=True)
    notification.write_text('{"fetchNews": "false", "checkForUpdates": false}')  # no news toast over the picture
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=", "--LabApp.check_for_updates_class="
         "jupyterlab.NeverCheckForUpdate"],
        env={**os.environ, **env, "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_RUNTIME_DIR":
             str(home / "runtime"), "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
             "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces")},
        stdout=log.open("w"), stderr=subprocess.STDOUT, cwd=root)

    def answers() -> bool:
        assert proc.poll() is None, log.read_text()[-3000:]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    wait_for(answers, 60, "JupyterLab to answer", interval_s=0.3)
    return proc


def chromium_page(chromium: str, driver: str, log: Path) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1300,900",
                     "--disable-gpu", "--no-first-run"):
        options.add_argument(argument)
    return webdriver.Chrome(options=options, service=Service(driver, log_output=str(log)))


def lanes_now(page: Any) -> dict[str, Any] | None:
    """The lanes the page shows now: how many, and the bars by kind; None before the first frame."""
    html = page.execute_script(LANES_JS)
    if not html:
        return None
    import xml.etree.ElementTree as ET

    # the browser serialises the inline SVG as HTML: close what XML needs closed
    svg_start = html.index("<svg")
    svg = html[svg_start:html.rindex("</svg>") + len("</svg>")]
    lanes = [g for g in ET.fromstring(svg).iter(f"{SVG}g") if g.get("class") == "lane"]
    return {"lanes": len(lanes), "bars": bars(f'<div>{svg}</div>'), "html": html}


def mid_batch(now: dict[str, Any]) -> bool:
    """Four lanes, the first four jobs done and the next ones growing, a third of the way (a picture in
    which the growing bars can be seen)."""
    done, running = now["bars"].get("succeeded", []), now["bars"].get("running", [])
    return (now["lanes"] == 4 and len(done) >= 4 and bool(running)
            and max(c for _, c in running) * 3 >= min(c for _, c in done))


def test_the_eight_jobs_cell_draws_four_lanes_growing_in_a_real_browser(start_workers, redis_env, tmp_path):
    chromium, driver = browser_tools()
    start_workers(4)
    notebook = course_cells(tmp_path)
    port, token = free_port(), uuid.uuid4().hex
    lab = jupyter_lab(notebook.parent, port, token, redis_env, tmp_path / "jupyter.log")
    page = None
    try:
        page = chromium_page(chromium, driver, tmp_path / "chromedriver.log")
        page.get(f"http://127.0.0.1:{port}/lab/tree/{notebook.name}?token={token}")
        wait_for(lambda: page.execute_script(KERNEL_IDLE_JS) == "idle", 90, "the notebook's kernel to be idle", 0.3)
        page.execute_script("window.jupyterapp.commands.execute('application:toggle-left-area');")  # the cell wide
        page.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells');")
        # mid-batch: four lanes, the first four jobs done and the next ones growing; the screenshot taken
        # between two looks that agree
        # Mid-batch: four lanes with a bar running, then a later look in which each of those bars grew (or
        # ended). The screenshot: the first look that `mid_batch` calls a picture, else the first running one.
        first = later = nice = now = None
        shot = tmp_path / "lanes-mid-batch.png"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            now = lanes_now(page)
            if now is not None and len(now["bars"].get("succeeded", [])) == 8:
                break
            if now is not None and now["lanes"] == 4 and now["bars"].get("running"):
                if first is None:
                    first = now
                    page.save_screenshot(str(shot))
                elif later is None:
                    later = now
                if nice is None and mid_batch(now):
                    nice = now
                    page.save_screenshot(str(shot))
            time.sleep(0.05)
        assert first is not None and later is not None, f"no two frames with 4 lanes and a running bar: {now}"
        # growing: a bar running in the first look is longer (or as long) in the later one, or done there
        grown = dict(later["bars"]["running"]) | {t: 10**6 for t, _ in later["bars"].get("succeeded", [])}
        assert all(grown.get(t, -1) >= c for t, c in first["bars"]["running"]), (first["bars"], later["bars"])
        wait_for(lambda: (now := lanes_now(page)) is not None and len(now["bars"].get("succeeded", [])) == 8
                 and page.execute_script(KERNEL_IDLE_JS) == "idle", 90, "the last frame with all eight jobs done", 0.3)
        shown = shot.read_bytes()
        assert shown.startswith(b"\x89PNG") and len(shown) > 10_000  # a picture, not a blank page
        if os.environ.get("UPDATE_DOCS_SCREENSHOT") == "1":
            assert nice is not None, "no look made a picture (4 jobs done, the next a third grown): not copied to docs"
            shutil.copyfile(shot, DOCS_SCREENSHOT)
    finally:
        if page is not None:
            page.quit()
        lab.terminate()
        try:
            lab.wait(timeout=20)
        except subprocess.TimeoutExpired:
            lab.kill()
