"""Debian's chromium, headless, driven by selenium: renders a report as a person's browser does.

Nothing is downloaded: the browser and its driver are the distribution's (`apt-get install
chromium chromium-driver`), passed to selenium by path so selenium-manager never runs.
"""

from __future__ import annotations

import base64
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
LAPTOP = (1366, 768)  # the screen the reports must fit without horizontal scrolling
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
INSTALL = "apt-get update && apt-get install -y chromium chromium-driver"


def missing() -> str | None:
    """Why no browser test can run here, or None when chromium, its driver and selenium exist."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists():
            return f"{path} is missing: install it with `{INSTALL}`"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed: pip install -e '.[dev]'"
    return None


@contextmanager
def chrome(size: tuple[int, int] = LAPTOP) -> Iterator[Any]:
    """A headless chromium whose viewport is `size`, with a fresh profile, closed afterwards."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="threadsync-chromium-")
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        # Headless window size includes no browser chrome, but set the viewport exactly anyway.
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": False},
        )
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def open_file(driver: Any, path: Path) -> None:
    driver.get(path.resolve().as_uri())


def full_page_png(driver: Any, path: Path, max_height: int = 4000) -> None:
    """The whole page (up to `max_height` pixels tall) as a PNG at `path`."""
    width = int(driver.execute_script("return document.documentElement.clientWidth"))
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": width, "height": min(height, max_height), "scale": 1},
        },
    )
    path.write_bytes(base64.b64decode(shot["data"]))
