"""The browser app end to end, in a real browser (Chromium from the system's packages, driven
by Playwright): `ephys2type app` started as a user starts it, the sample recordings and a
100-cell feature table uploaded, the calls, a recording check figure and a cell's figure
shown, the predictions downloaded and compared with what `ephys2type predict` writes for the
same files, a screenshot for the README (docs/app.png); no request leaves 127.0.0.1 and
nothing reaches the terminal but the address.

Slow (the bundled mouse model is trained in a fresh cache folder), so it is not part of
`make test`: `.ci/run` installs Chromium and runs it with EPHYS2TYPE_BROWSER_TESTS=1.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RECORDINGS = ROOT.parent / "shared" / "data" / "recordings" / "pyabf_samples"
SCREENSHOT = ROOT / "docs" / "app.png"
CHROMIUM = Path("/usr/bin/chromium")
#: The command as the user has it (the project's environment).
EPHYS2TYPE = str(Path(sys.executable).with_name("ephys2type"))
#: Chromium without its own network traffic (updates, sync, safe browsing, metrics).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: ms: training the bundled model once, then predicting (2 cores).
SLOW = 600_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        os.environ.get("EPHYS2TYPE_BROWSER_TESTS") != "1",
        reason="browser test; set EPHYS2TYPE_BROWSER_TESTS=1 to run (needs /usr/bin/chromium)",
    ),
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """The user's folder: the sample recordings and 100 cells of the bundled mouse table."""
    from ephys2type import load_mouse

    folder = tmp_path_factory.mktemp("browser")
    data = load_mouse()
    data.X.iloc[:: len(data) // 100].iloc[:100].rename_axis("cell_id").to_csv(
        folder / "cells.csv", float_format="%.6g"
    )
    for abf in sorted(RECORDINGS.glob("*.abf")):
        shutil.copy(abf, folder / abf.name)
    return folder


@pytest.fixture(scope="module")
def app_server(workdir):
    """`ephys2type app` on a free port of 127.0.0.1, with a cache folder of its own; stopped
    with Ctrl-C (SIGINT) at the end, as a user stops it."""
    port = _free_port()
    env = {**os.environ, "EPHYS2TYPE_CACHE": str(workdir / "cache")}
    command = [EPHYS2TYPE, "app", "--port", str(port), "--no-browser"]
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = process.stdout.readline()
        ready = time.perf_counter() - started
        assert f"http://127.0.0.1:{port}" in first, (first, process.stderr.read())
        yield {"url": f"http://127.0.0.1:{port}", "env": env, "ready_s": ready}
    finally:
        process.send_signal(signal.SIGINT)
        try:
            _, err = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            _, err = process.communicate()
    assert process.returncode == 0, err
    assert err == "", f"the app wrote to the terminal: {err}"


def _uploader(page, label: str):
    return page.locator('[data-testid="stFileUploader"]').filter(has_text=label)


def _answer_heading(page, source: str, expected: str) -> None:
    """Wait for the answer of a Predict press (a heading naming its `source`) and check its
    words: a changed wording fails here at once with what the page says, not after SLOW."""
    import re

    heading = page.get_by_role("heading", name=re.compile(re.escape(source)))
    heading.first.wait_for(timeout=SLOW)
    assert heading.first.inner_text().strip() == expected


def test_the_app_in_a_browser(app_server, workdir):
    from playwright.sync_api import expect, sync_playwright

    assert app_server["ready_s"] < 10, app_server  # the README says about 2 s
    hosts: set[str] = set()
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1100})
            page.on("request", lambda request: hosts.add(request.url.split("/")[2]))
            page.goto(app_server["url"])
            page.get_by_role("button", name="Predict").wait_for(timeout=60_000)

            # the sample recordings: features, checks and calls with the bundled mouse model
            page.get_by_text("recordings (ABF, NWB)").click()
            files = sorted(workdir.glob("*.abf"))
            recordings = _uploader(page, "Recordings")
            recordings.locator('input[type="file"]').set_input_files(files)
            expect(recordings.locator('[data-testid="stFileChip"]')).to_have_count(
                len(files), timeout=60_000
            )
            page.get_by_role("button", name="Predict").click()
            _answer_heading(page, "recording", f"{len(files)} cells from {len(files)} recordings")
            assert page.get_by_text("failed recording check").first.is_visible()
            page.get_by_role("tab", name="Cells").click()
            check_page = page.get_by_text(f"recording checks of {files[0].stem}")
            check_page.wait_for(timeout=60_000)
            assert page.locator('[data-testid="stImage"] img').count() >= 2

            # a feature table of 100 cells
            page.get_by_text("a feature table").click()
            table = _uploader(page, "Feature table")
            table.locator('input[type="file"]').set_input_files(workdir / "cells.csv")
            expect(table.locator('[data-testid="stFileChip"]')).to_have_count(1)
            started = time.perf_counter()
            page.get_by_role("button", name="Predict").click()
            _answer_heading(page, "cells.csv", "100 cells from cells.csv")
            app_seconds = time.perf_counter() - started
            page.get_by_role("tab", name="Calls").click()
            page.locator('[data-testid="stDataFrame"]').first.wait_for()
            metrics = page.locator('[data-testid="stMetric"]')
            assert metrics.count() == 6  # five classes and unassigned
            assert "unassigned" in metrics.all_inner_texts()[-1]
            page.wait_for_timeout(1500)  # let the grid draw before the picture
            SCREENSHOT.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(SCREENSHOT))

            # the predictions downloaded are what `ephys2type predict` writes
            page.get_by_role("tab", name="Take it home").click()
            button = page.get_by_role("button", name="predictions.csv", exact=True)
            button.wait_for()
            with page.expect_download() as download:
                button.click()
            downloaded = workdir / "downloaded.csv"
            download.value.save_as(downloaded)
            commands = page.locator('[data-testid="stCode"]').first.inner_text()
        finally:
            browser.close()
    assert hosts == {app_server["url"].split("/")[2]}, hosts

    # the page's own command line, run in the same folder with the model the app trained
    predict_line = next(line for line in commands.splitlines() if " predict " in line)
    assert "--features cells.csv" in predict_line
    from ephys2type.app import bundled_models

    model = Path(app_server["env"]["EPHYS2TYPE_CACHE"]) / "app-models"
    (folder,) = [p for p in model.iterdir() if p.name.startswith(f"mouse-{bundled_models.MODEL}")]
    started = time.perf_counter()
    cli = subprocess.run(
        [EPHYS2TYPE, "predict", "--model", folder, "--features", "cells.csv", "--out", "cli.csv"],
        cwd=workdir,
        env=app_server["env"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    cli_seconds = time.perf_counter() - started
    assert cli.returncode == 0, cli.stderr
    assert downloaded.read_bytes() == (workdir / "cli.csv").read_bytes()
    print(f"100 cells: app {app_seconds:.1f} s, `ephys2type predict` {cli_seconds:.1f} s")
