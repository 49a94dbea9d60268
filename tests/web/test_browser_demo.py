"""The browser demo in real headless Chromium: both runtimes against the Python reference, UI, drawing."""
from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from starlette.applications import Starlette

from rosetta.contract import LANES
from serving.artifact_site import mount

pytestmark = pytest.mark.slow

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]  # Playwright itself gives each launch a fresh temp profile
TEST_IMAGES = (0, 1, 2, 3, 4)
TOLERANCE = 1e-4  # max |browser - Python| per probability


def reference(artifacts_dir: Path, lane: str) -> np.ndarray:
    return np.load(artifacts_dir / lane / "source_probabilities.npy")


@pytest.fixture(scope="module")
def base_url(site_dir: Path) -> Iterator[str]:
    """The site mounted exactly as the ORT server mounts it, on a free loopback port, for this module."""
    import uvicorn

    app = Starlette()
    mount(app, site_dir)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/artifacts/"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture(scope="module")
def browser():
    reason = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = "the playwright package is not installed (pip install playwright==1.65.2)"
    if reason is None and not CHROMIUM.exists():
        reason = f"{CHROMIUM} missing (apt-get install -y chromium)"
    if reason and os.environ.get("CI"):  # CI installs both: a skip there would hide a broken browser path
        pytest.fail(reason)
    if reason:
        pytest.skip(reason)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Demo:
    page: object
    errors: list[str] = field(default_factory=list)
    remote: list[str] = field(default_factory=list)

    def js(self, expression: str, arg=None):
        return self.page.evaluate(expression, arg)


@pytest.fixture(scope="module")
def demo(browser, base_url: str) -> Iterator[Demo]:
    page = browser.new_page(viewport={"width": 1200, "height": 860})
    page.set_default_timeout(120_000)  # two shared cores: compiling 14 MB of wasm can take a while
    demo = Demo(page)
    page.on("console", lambda m: m.type == "error" and demo.errors.append(f"console: {m.text}"))
    page.on("pageerror", lambda e: demo.errors.append(f"pageerror: {e}"))

    def local_only(route) -> None:  # the page must load nothing from outside (no CDN)
        if urlsplit(route.request.url).hostname in ("127.0.0.1", None) or route.request.url.startswith("data:"):
            route.continue_()
        else:
            demo.remote.append(route.request.url)
            route.abort()

    page.route("**/*", local_only)
    page.goto(base_url + "demo/")
    demo.js("() => window.rosetta.ready")
    yield demo
    page.close()


def test_both_runtimes_match_the_python_reference(demo: Demo, artifacts_dir: Path, test_split) -> None:
    assert demo.js("() => window.rosetta.lanes()") == list(LANES)
    for lane in LANES:
        ref = reference(artifacts_dir, lane)
        for i in TEST_IMAGES:
            result = demo.js("([pixels, lane]) => window.rosetta.predictImage(pixels, lane)",
                             [test_split.images[i].reshape(-1).tolist(), lane])
            assert result["lane"] == lane
            for runtime in ("tfjs", "onnx"):
                probs = np.asarray(result[runtime]["probabilities"])
                assert result[runtime]["top"] == ref[i].argmax() == probs.argmax(), (lane, i, runtime)
                assert np.abs(probs - ref[i]).max() <= TOLERANCE, (lane, i, runtime)
                assert result[runtime]["ms"] > 0


def test_ui_lane_select_and_test_digit_button(demo: Demo, artifacts_dir: Path, tmp_path: Path) -> None:
    page = demo.page
    page.select_option("#lane", "torch")
    page.wait_for_function("document.getElementById('status').textContent.includes('lane torch')")
    button = page.locator("#digits button").nth(3)
    digit = demo.js("() => fetch('digits.json').then(r => r.json()).then(d => d.images[3])")
    button.click()
    result = demo.js("() => window.rosetta.idle()")
    expected = int(reference(artifacts_dir, "torch")[digit["index"]].argmax())
    assert result["lane"] == "torch" and result["tfjs"]["top"] == result["onnx"]["top"] == expected
    for runtime in ("tfjs", "onnx"):
        assert page.locator(f"#{runtime} [data-role=top]").inner_text() == str(expected)
        assert page.locator(f"#{runtime} .bars li").count() == 10
        assert "ms" in page.locator(f"#{runtime} [data-role=latency]").inner_text()
    assert f"the Python torch model says {expected}" in page.locator("#compare").inner_text()
    shot = tmp_path / "demo-screenshot.png"
    page.screenshot(path=str(shot), full_page=True)
    shutil.copyfile(shot, artifacts_dir / "demo-screenshot.png")  # a stable place to look at it


def test_drawing_a_digit_on_the_pad(demo: Demo, artifacts_dir: Path) -> None:
    import onnxruntime as ort

    page = demo.page
    demo.js("() => window.rosetta.setLane('keras')")
    page.click("#clear")
    box = page.locator("#pad").bounding_box()
    x = box["x"] + box["width"] * 0.5
    page.mouse.move(x, box["y"] + box["height"] * 0.15)
    page.mouse.down()
    page.mouse.move(x + 4, box["y"] + box["height"] * 0.85, steps=12)  # a vertical stroke: a "1"
    page.mouse.up()
    result = demo.js("() => window.rosetta.idle()")
    pixels = np.asarray(demo.js("() => window.rosetta.lastInput()"), dtype=np.float32)
    assert pixels.shape == (784,) and 0 <= pixels.min() and pixels.max() <= 1 and pixels.sum() > 10
    session = ort.InferenceSession(str(artifacts_dir / "keras" / "onnx" / "model.onnx"),
                                   providers=["CPUExecutionProvider"])
    expected = session.run(None, {"images": pixels.reshape(1, 28, 28)})[0][0]
    for runtime in ("tfjs", "onnx"):
        probs = np.asarray(result[runtime]["probabilities"])
        assert np.abs(probs - expected).max() <= TOLERANCE, runtime
        assert result[runtime]["top"] == expected.argmax() == 1, runtime


def test_url_parameters_pick_the_lane_and_a_test_digit(demo: Demo, base_url: str, artifacts_dir: Path) -> None:
    demo.page.goto(base_url + "demo/?lane=jax&digit=2")
    demo.js("() => window.rosetta.ready")
    result = demo.js("() => window.rosetta.idle()")
    digit = demo.js("() => fetch('digits.json').then(r => r.json()).then(d => d.images[2])")
    assert result["lane"] == "jax" and demo.page.locator("#lane").input_value() == "jax"
    assert result["onnx"]["top"] == result["tfjs"]["top"] == reference(artifacts_dir, "jax")[digit["index"]].argmax()


def test_no_page_errors_and_nothing_loaded_from_outside(demo: Demo, base_url: str) -> None:
    demo.page.goto(base_url)  # the download page too
    assert demo.page.locator("table").count() == len(LANES)
    assert demo.errors == []
    assert demo.remote == []
