"""The page in a real browser: headless Debian Chromium driven by Selenium against a live server.

Needs ``chromium`` and ``chromium-driver`` (Debian; ``.ci/run`` installs them) and ``selenium``.
With ``SEMSEG_SCREENSHOT=docs/images/serve_page.png`` the test also writes the README's
screenshot there (quantized to a small palette PNG).
"""

from __future__ import annotations

import base64
import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER), reason="needs Debian chromium + chromium-driver (see .ci/run)")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage")


@pytest.fixture
def browser(tmp_path):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1100,900"):
        options.add_argument(flag)
    # An explicit driver path: Selenium Manager is skipped, nothing is downloaded.
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def canvas_pixel(driver, x: int, y: int) -> tuple[int, int, int]:
    return tuple(driver.execute_script(
        "const d = document.getElementById('overlay').getContext('2d')"
        ".getImageData(arguments[0], arguments[1], 1, 1).data; return [d[0], d[1], d[2]];",
        x, y))


def test_page_segments_a_camvid_frame(browser, live_server, camvid_root, tmp_path):
    frame = sorted((camvid_root / "val").glob("*.png"))[0]
    original = np.asarray(Image.open(frame).convert("RGB"))  # (360, 480, 3)
    browser.get(live_server + "/")
    wait = WebDriverWait(browser, 60)
    wait.until(lambda d: d.find_element(By.ID, "model").get_attribute("value") == "default")
    browser.find_element(By.ID, "file").send_keys(str(frame))
    wait.until(lambda d: d.find_element(By.ID, "status").text in ("Done.", "Failed."))
    assert browser.find_element(By.ID, "status").text == "Done.", (
        browser.find_element(By.ID, "error").text)

    # Legend: "name 12.3%" rows, the server's shares for this file, largest first.
    import httpx

    shares = httpx.post(live_server + "/v1/segment", timeout=60,
                        files={"image": (frame.name, frame.read_bytes(), "image/png")}
                        ).json()["shares"]
    rows = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#legend .legend-text")]
    assert rows == [f"{name} {100 * s:.1f}%" for name, s in shares.items()]
    assert "road" in shares and sum(shares.values()) == pytest.approx(1.0, abs=1e-4)

    # The downloadable mask: a palette PNG of class ids at the image's size.
    href = browser.find_element(By.ID, "download-mask").get_attribute("href")
    assert href.startswith("data:image/png;base64,")
    mask_img = Image.open(io.BytesIO(base64.b64decode(href.split(",", 1)[1])))
    assert mask_img.mode == "P" and mask_img.size == (480, 360)
    mask = np.asarray(mask_img)

    # The overlay canvas: tinted road; unticking "road" shows the original pixels there.
    assert browser.execute_script(
        "const c = document.getElementById('overlay'); return [c.width, c.height];") == [480, 360]
    ys, xs = np.nonzero(mask == 3)  # road
    y, x = int(ys[len(ys) // 2]), int(xs[len(xs) // 2])
    road_rgb = np.asarray(mask_img.convert("RGB"))[y, x].astype(int)
    tinted = (original[y, x] * 0.5 + road_rgb * 0.5).round()
    assert np.abs(np.subtract(canvas_pixel(browser, x, y), tinted)).max() <= 1
    if os.environ.get("SEMSEG_SCREENSHOT"):
        save_screenshot(browser, Path(os.environ["SEMSEG_SCREENSHOT"]))
    browser.find_element(By.CSS_SELECTOR, "#legend input[data-index='3']").click()
    assert np.abs(np.subtract(canvas_pixel(browser, x, y), original[y, x])).max() <= 1

    # A phone-width viewport: nothing wider than the screen.
    browser.set_window_size(390, 844)
    assert browser.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth;")
    png = browser.get_screenshot_as_png()
    assert Image.open(io.BytesIO(png)).size[0] <= 390 * 2


def save_screenshot(driver, path: Path) -> None:
    """The page as a small palette PNG (for the README)."""
    shot = Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB")
    path.parent.mkdir(parents=True, exist_ok=True)
    shot.quantize(colors=96, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
