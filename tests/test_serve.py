"""`dockport-tui serve` in a real browser: Debian's headless Chromium loads the page, a key pressed
in the page reaches the app, and the app's answer comes back. The server is always stopped, and no
app process outlives it."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.browser import CHROMEDRIVER, CHROMIUM, app_processes, browser, free_port, server, wait_for

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def browser_needed():
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        if os.environ.get("CI") == "true":
            pytest.fail("CI needs Debian's chromium and chromium-driver (scripts/test installs them)")
        pytest.skip("needs chromium and chromium-driver")


@pytest.mark.parametrize("lang, title, answer", [
    (None, "Containers & ports", "where does a packet to this port go?"),
    ("zh", "容器与端口", "发往这个端口的包去了哪里？"),
])
def test_a_key_pressed_in_the_browser_reaches_the_served_app(browser_needed, lang, title, answer):
    before = app_processes()
    extra = ("--lang", lang) if lang else ()
    with server("--demo", *extra) as (proc, port):
        driver = browser()
        try:
            driver.get(f"http://127.0.0.1:{port}/")
            wait_for(driver, "demo-web")
            wait_for(driver, title)
            assert app_processes() - before, "no app process behind the page"
            mark = len(driver.execute_script("return window.__terminal;"))
            # A key typed into the terminal's own input element (xterm.js) goes to the app.
            from selenium.webdriver.common.by import By

            driver.find_element(By.CSS_SELECTOR, "textarea.xterm-helper-textarea").send_keys("?")  # help
            wait_for(driver, answer, since=mark)
        finally:
            driver.quit()
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    deadline = time.monotonic() + 10
    while app_processes() - before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not app_processes() - before, "an app process outlived the server"


def test_serve_warns_when_it_listens_beyond_loopback():
    with server("--demo", "--host", "0.0.0.0") as (proc, _port):
        pass
    err = proc.stderr.read() if proc.stderr else ""
    assert "anyone who can reach this port can use the app" in err
    with server("--demo") as (proc, _port):
        pass
    assert "anyone who can reach" not in (proc.stderr.read() if proc.stderr else "")


def test_serve_live_needs_the_rights_of_the_live_app():
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to become an ordinary user")
    from tests.test_no_root import _as_nobody

    out = subprocess.run(_as_nobody("serve", "--port", str(free_port())), capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2
    assert "needs root" in out.stderr and "Traceback" not in out.stderr
