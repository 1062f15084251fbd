"""A served app in Debian's headless Chromium: the server, the browser, and what the page's
terminal received. Used by tests/test_serve.py and to take screenshots/serve-zh.png:

    python -m tests.browser screenshots/serve-zh.png
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"

# Collects what the app writes to the page's terminal (textual-serve sends it as binary websocket
# messages; xterm.js draws it on a canvas, so the DOM holds no text to read).
RECORD_TERMINAL = """
window.__terminal = [];
const Native = window.WebSocket;
window.WebSocket = function (url, protocols) {
  const ws = protocols === undefined ? new Native(url) : new Native(url, protocols);
  const decoder = new TextDecoder("utf-8");
  ws.addEventListener("message", (event) => {
    const data = event.data;
    if (typeof data === "string") window.__terminal.push(data);
    else if (data instanceof ArrayBuffer) window.__terminal.push(decoder.decode(data, {stream: true}));
    else if (data instanceof Blob)
      data.arrayBuffer().then((b) => window.__terminal.push(decoder.decode(b, {stream: true})));
  });
  return ws;
};
window.WebSocket.prototype = Native.prototype;
for (const k of ["CONNECTING", "OPEN", "CLOSING", "CLOSED"]) window.WebSocket[k] = Native[k];
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def app_processes() -> set[int]:
    out = subprocess.run(["pgrep", "-f", f"{sys.executable} -m tui "], capture_output=True, text=True).stdout
    return {int(p) for p in out.split()}


@contextmanager
def server(*args: str) -> Iterator[tuple[subprocess.Popen, int]]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "tui", "serve", "--port", str(port), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # Ctrl-C, as a user stops it
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1400,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_TERMINAL})
    return driver


def wait_for(driver, text: str, since: int = 0, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    seen = ""
    while time.monotonic() < deadline:
        seen = "".join(driver.execute_script("return window.__terminal;")[since:])
        if text in seen:
            return seen
        time.sleep(0.2)
    raise AssertionError(f"{text!r} never reached the page; it got {len(seen)} characters")


def _row_of(container: str, host_port: int) -> int:
    """The containers pane's row of a published port of the demo (one row per binding, in order)."""
    from tui.cli import demo_bundle_path
    from tui.collect.bundle import load_bundle

    rows: list[tuple[str, int | None]] = []
    for c in load_bundle(demo_bundle_path()).containers:
        for b in c.ports or (None,):
            rows.append((c.name, b.host_port if b is not None and b.published and b.host_ip == "0.0.0.0" else None))
    return rows.index((container, host_port))


def screenshot(out: str) -> None:
    """The demo in Chinese, traced and stepped into its journey, as a browser shows it."""
    with server("--demo", "--lang", "zh") as (_proc, port):
        driver = browser()
        try:
            driver.get(f"http://127.0.0.1:{port}/")
            wait_for(driver, "demo-web")
            from selenium.webdriver.common.by import By

            keys = driver.find_element(By.CSS_SELECTOR, "textarea.xterm-helper-textarea")
            mark = len(driver.execute_script("return window.__terminal;"))
            for key in ("\ue015",) * _row_of("demo-web", 80) + ("\ue007", "n", "n", "n"):  # Down…, Enter, 3 hops
                keys.send_keys(key)
                time.sleep(0.15)
            wait_for(driver, "第 3/", since=mark)
            time.sleep(1)
            driver.save_screenshot(out)
        finally:
            driver.quit()


if __name__ == "__main__":
    screenshot(sys.argv[1] if len(sys.argv) > 1 else "screenshots/serve-zh.png")
