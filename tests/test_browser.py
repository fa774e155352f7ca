"""JupyterLab in a real browser: 00_setup run through the UI in headless Chromium.

Starts JupyterLab on a free port of 127.0.0.1 with this session's local AWS, opens a copy of
notebooks/00_setup.ipynb (outputs cleared, so only this run can show OK) in Debian's chromium
driven by Playwright, runs every cell from the Run menu and reads the environment check. The
screenshot lands in the test's tmp_path and in output/browser/. Playwright never downloads a
browser here: `make browser` (scripts/install-browser.sh) installs Debian's chromium; where
there is none, or it does not start, the test skips and says how to install it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from workshop import config
from workshop.config import PROJECT_ROOT

pytestmark = pytest.mark.browser

BROWSER = Path(os.environ.get("WORKSHOP_BROWSER", "/usr/bin/chromium"))  # override: any Chromium
# The flags a closed-network, root, screenless machine needs (Playwright adds --headless and,
# without a sandbox, --no-sandbox); without the networking ones Chromium phones Google at start.
BROWSER_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
HOW_TO_INSTALL = ("install Debian's chromium with `make browser` (scripts/install-browser.sh, as "
                  "root: apt-get install -y --no-install-recommends chromium), or set "
                  "WORKSHOP_BROWSER to a Chromium binary")
NOTEBOOK = PROJECT_ROOT / "notebooks" / "00_setup.ipynb"
SCREENSHOT_DIR = PROJECT_ROOT / "output" / "browser"  # kept for a person to look at; git-ignored
LAB_START_SECONDS = 60.0
RUN_ALL_SECONDS = 90.0  # measured 31 s for Run All on 2 cores under a load average of 6
# JupyterLab settings for this run only: no news prompt covering the page (and no request to the
# internet), the notebook's own kernel started without asking ("Always start the preferred
# kernel"), and every cell attached to the page so its text can be read without scrolling.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
        {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings":
        {"windowingMode": "none", "autoStartDefaultKernel": True},  # no "Select Kernel" dialog
}


@dataclass(frozen=True)
class Lab:
    """A running JupyterLab: where it answers and what the notebook kernels will see."""

    url: str  # http://127.0.0.1:PORT
    token: str
    root: Path  # its root_dir, holding the notebook copy
    prefix: str  # WORKSHOP_PREFIX of its kernels
    aws_port: int  # where their local AWS answers
    log: Path


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    """Debian's chromium launched headless by Playwright; skips, saying how to install, if not."""
    if not (BROWSER.is_file() and os.access(BROWSER, os.X_OK)):
        pytest.skip(f"no Chromium at {BROWSER}: {HOW_TO_INSTALL}")
    sync_api = pytest.importorskip(
        "playwright.sync_api",
        reason="the Playwright package is missing: .venv/bin/pip install -e '.[dev]'")
    with sync_api.sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=str(BROWSER), headless=True,
                                                 args=BROWSER_FLAGS)
        except sync_api.Error as error:
            first_line = str(error).strip().splitlines()[0]
            pytest.skip(f"Chromium at {BROWSER} did not start ({first_line}): {HOW_TO_INSTALL}")
        yield browser
        browser.close()


def copy_without_outputs(source: Path, target: Path) -> None:
    """Write source's notebook to target with every output and execution count cleared."""
    notebook = json.loads(source.read_text())
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    target.write_text(json.dumps(notebook, indent=1))


def wait_until_serving(lab: Lab, process: subprocess.Popen[bytes]) -> None:
    """Poll JupyterLab's status API until it answers; fail with its log if it exits or hangs."""
    deadline = time.monotonic() + LAB_START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"JupyterLab exited with {process.returncode}:\n{lab.log.read_text()}")
        try:
            with urllib.request.urlopen(f"{lab.url}/api/status?token={lab.token}", timeout=2):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.3)
    pytest.fail(f"JupyterLab did not answer within {LAB_START_SECONDS:.0f} s:\n"
                f"{lab.log.read_text()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop JupyterLab (it shuts its kernels down), then anything left in its process group."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # a kernel that outlived its server


@pytest.fixture
def jupyter_lab(chromium: object, request: pytest.FixtureRequest, tmp_path: Path
                ) -> Iterator[Lab]:
    """JupyterLab on a free port of 127.0.0.1, its kernels on this session's local AWS."""
    from workshop.local.aws.ports import free_port

    # Asked for only now, after `chromium`: a skip for want of a browser starts no local AWS.
    local_aws: config.Settings = request.getfixturevalue("local_aws")
    root, home = tmp_path / "lab", tmp_path / "jupyter"
    root.mkdir()
    copy_without_outputs(NOTEBOOK, root / NOTEBOOK.name)
    for name, values in LAB_SETTINGS.items():
        path = home / "config" / "lab" / "user-settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    port = free_port()
    lab = Lab(url=f"http://127.0.0.1:{port}", token=secrets.token_hex(16), root=root,
              prefix="b" + uuid.uuid4().hex[:10], aws_port=local_aws.local_port,
              log=tmp_path / "jupyterlab.log")
    env = {**os.environ,  # the kernels inherit it: this session's local AWS, a prefix of our own
           "WORKSHOP_TARGET": "local", "WORKSHOP_LOCAL_PORT": str(local_aws.local_port),
           "WORKSHOP_STATE_DIR": str(local_aws.state_dir), "WORKSHOP_PREFIX": lab.prefix,
           "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_DATA_DIR": str(home / "data"),
           "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "IPYTHONDIR": str(home / "ipython"),
           "JUPYTER_PLATFORM_DIRS": "1"}
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={lab.token}", f"--ServerApp.root_dir={root}",
               "--ServerApp.terminals_enabled=False",
               "--LabApp.extension_manager=readonly"]  # no PyPI listing asked for
    if os.geteuid() == 0:  # CI and this kind of machine run as root
        command.append("--allow-root")
    with lab.log.open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        wait_until_serving(lab, process)
        yield lab
    finally:
        stop(process)


ALL_RAN_OR_FAILED = """() => {
    const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
        .map(e => e.textContent.trim());
    const failed = [...document.querySelectorAll('.jp-OutputArea-output')]
        .some(e => e.textContent.includes('Traceback'));
    return failed || (prompts.length > 0 && prompts.every(p => /^\\[\\d+\\]:$/.test(p)));
}"""


def test_00_setup_runs_in_jupyterlab_and_its_environment_check_shows_ok(
        chromium, jupyter_lab: Lab, tmp_path: Path) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page = chromium.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(30_000)
    page.goto(f"{jupyter_lab.url}/lab/tree/{NOTEBOOK.name}?token={jupyter_lab.token}")
    # The kernel is connected once the status bar names it; earlier, Run All does nothing.
    page.locator(".jp-StatusBar-TextItem", has_text="Python 3 (ipykernel) | Idle").wait_for()

    page.locator(".lm-MenuBar-item", has_text="Run").first.click()
    page.locator(".lm-Menu-item", has=page.locator(".lm-Menu-itemLabel",
                                                 has_text=re.compile(r"^Run All Cells$"))).click()
    check_cell = page.locator(".jp-CodeCell", has_text="checks.check_environment()")
    try:
        page.wait_for_function(ALL_RAN_OR_FAILED, timeout=RUN_ALL_SECONDS * 1000)
    except PlaywrightTimeout:
        prompts = page.locator(".jp-CodeCell .jp-InputPrompt").all_text_contents()
        pytest.fail(f"the cells did not all run within {RUN_ALL_SECONDS:.0f} s (prompts "
                    f"{prompts}; screenshot {take_screenshot(page, check_cell, tmp_path)}; "
                    f"JupyterLab log {jupyter_lab.log}):\n{outputs_text(page)}")

    text = outputs_text(page)
    screenshot = take_screenshot(page, check_cell, tmp_path)
    assert "Traceback" not in text, f"a cell failed (screenshot {screenshot}):\n{text}"
    assert f"prefix: {jupyter_lab.prefix}" in text and "target: local" in text, text
    assert f"local AWS on http://127.0.0.1:{jupyter_lab.aws_port} since" in text, text
    lines = [line.strip() for line in text.splitlines()]
    verdicts = [line for line in lines if re.match(r"(OK|FAIL)\s", line)]
    assert verdicts and all(line.startswith("OK ") for line in verdicts), "\n".join(verdicts)
    assert f"All {len(verdicts)} checks passed." in lines, text
    assert f"OK    local AWS: answers at http://127.0.0.1:{jupyter_lab.aws_port}" in text, text
    page.close()


def outputs_text(page) -> str:
    """Every output of the notebook on the page, as one text."""
    return "\n".join(page.locator(".jp-Notebook .jp-OutputArea-output").all_text_contents())


def take_screenshot(page, top, tmp_path: Path) -> Path:
    """Screenshot the page with `top` (the environment check) at its top: tmp_path and
    output/browser/."""
    if top.count():
        top.first.evaluate("cell => cell.scrollIntoView({block: 'start'})")
    path = tmp_path / "00_setup.png"
    page.screenshot(path=str(path))
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, SCREENSHOT_DIR / path.name)
    return path
