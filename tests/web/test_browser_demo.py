"""The pages in real headless Chromium, opened the ways the README says: the listing from disk (file://), the
demo through `rosetta site --serve`; both runtimes against the Python (torch) source model."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest

pytestmark = pytest.mark.slow

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]  # Playwright itself gives each launch a fresh temp profile
TOLERANCE = 1e-4  # max |browser - Python| per output value
DEMO_MODEL = "tiny-classifier"  # the fixture model the demo fits (tests/web/fixture_models.py)


@pytest.fixture(scope="module")
def source_model(fixture_lib):
    return fixture_lib.tiny_classifier()


def reference(model, pixels: np.ndarray) -> np.ndarray:
    return model.reference({"pixels": np.asarray(pixels, np.float32).reshape(-1, 8, 8)})["scores"]


@pytest.fixture(scope="module")
def served(site_dir: Path, built_artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`rosetta site --serve` on a free loopback port (the site is built, so it serves it as is)."""
    log = tmp_path_factory.mktemp("serve") / "requests.log"
    with open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "rosetta.cli", "site", "--serve", "--port", "0",
                                 "--artifacts", str(built_artifacts), "--site-dir", str(site_dir)],
                                stdout=subprocess.PIPE, stderr=err, text=True)
        try:
            line = proc.stdout.readline()  # the CLI prints the address once it listens
            match = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
            assert match, f"no address in {line!r}; log: {log.read_text()[-2000:]}"
            yield match.group(1)
        finally:
            proc.terminate()
            proc.wait(10)


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
class Page:
    page: object
    errors: list[str] = field(default_factory=list)
    remote: list[str] = field(default_factory=list)

    def js(self, expression: str, arg=None):
        return self.page.evaluate(expression, arg)


def open_page(browser, url: str) -> Page:
    page = browser.new_page(viewport={"width": 1200, "height": 860})
    page.set_default_timeout(120_000)  # two shared cores: compiling 14 MB of wasm can take a while
    p = Page(page)
    page.on("console", lambda m: m.type == "error" and p.errors.append(f"console: {m.text}"))
    page.on("pageerror", lambda e: p.errors.append(f"pageerror: {e}"))

    def local_only(route) -> None:  # the pages must load nothing from outside (no CDN)
        parts = urlsplit(route.request.url)
        if parts.scheme in ("file", "data") or parts.hostname == "127.0.0.1":
            route.continue_()
        else:
            p.remote.append(route.request.url)
            route.abort()

    page.route("**/*", local_only)
    page.goto(url)
    return p


@pytest.fixture(scope="module")
def demo(browser, served: str) -> Iterator[Page]:
    p = open_page(browser, served + "demo/")
    p.js("() => window.rosetta.ready")
    yield p
    p.page.close()


def test_listing_page_from_disk_has_its_style_and_no_errors(browser, site_dir: Path, site_index: dict) -> None:
    p = open_page(browser, (site_dir / "index.html").as_uri())
    try:
        assert p.js("() => getComputedStyle(document.body).maxWidth") == "1180px"
        assert p.js("() => getComputedStyle(document.querySelector('section.model')).backgroundColor") == \
            "rgb(255, 255, 255)"
        assert p.page.locator("section.model").count() == len(site_index["models"])
        assert p.page.locator("a.button[download]").count() == len(site_index["models"])
        assert p.errors == [] and p.remote == []
    finally:
        p.page.close()


def test_demo_from_disk_says_how_to_start_it(browser, site_dir: Path) -> None:
    p = open_page(browser, (site_dir / "demo" / "index.html").as_uri())
    try:
        assert p.page.locator("#from-disk").is_visible()
        assert "rosetta site --serve" in p.page.locator("#status").inner_text()
        assert p.js("() => getComputedStyle(document.querySelector('#pad')).backgroundColor") == "rgb(0, 0, 0)"
        assert p.js("() => typeof window.rosetta") == "undefined"  # nothing half-loaded
        assert p.errors == [] and p.remote == []
    finally:
        p.page.close()


def test_both_runtimes_match_the_python_reference(demo: Page, source_model, fixture_lib) -> None:
    assert demo.js("() => window.rosetta.models()") == [DEMO_MODEL]
    rng = np.random.default_rng(11)
    banded, _ = fixture_lib.bands(4, rng)
    inputs = [*banded, rng.uniform(0, 1, (8, 8)).astype(np.float32)]
    for pixels in inputs:
        ref = reference(source_model, pixels)[0]
        result = demo.js("([values, model]) => window.rosetta.predictImage(values, model)",
                         [pixels.reshape(-1).tolist(), DEMO_MODEL])
        assert result["model"] == DEMO_MODEL
        for runtime in ("tfjs", "onnx"):
            values = np.asarray(result[runtime]["values"])
            assert result[runtime]["top"] == ref.argmax() == values.argmax(), runtime
            assert np.abs(values - ref).max() <= TOLERANCE, runtime
            assert result[runtime]["ms"] > 0


def test_pad_and_bars_are_sized_from_the_spec(demo: Page, site_index: dict) -> None:
    plan = site_index["models"][0]["demo"]
    assert demo.js("() => window.rosetta.plan().classes") == plan["classes"] == 3
    scale = 280 // max(plan["height"], plan["width"])
    assert demo.js("() => [pad.width, pad.height, preview.width, preview.height]") == [
        plan["width"] * scale, plan["height"] * scale, plan["width"], plan["height"]]
    demo.js("() => window.rosetta.predictImage(new Array(64).fill(0.5))")
    for runtime in ("tfjs", "onnx"):
        assert demo.page.locator(f"#{runtime} .bars li").count() == 3


def test_example_button_shows_the_python_reference(demo: Page, site_dir: Path, tmp_path: Path) -> None:
    page = demo.page
    examples = json.loads((site_dir / "demo" / "examples" / f"{DEMO_MODEL}.json").read_text())["items"]
    assert page.locator("#digits button").count() == len(examples) == 3
    page.locator("#digits button").nth(2).click()
    result = demo.js("() => window.rosetta.idle()")
    expected = int(np.argmax(examples[2]["reference"]))
    assert result["tfjs"]["top"] == result["onnx"]["top"] == expected == examples[2]["label"]
    for runtime in ("tfjs", "onnx"):
        assert np.abs(np.asarray(result[runtime]["values"]) - examples[2]["reference"]).max() <= TOLERANCE
        assert page.locator(f"#{runtime} [data-role=top]").inner_text() == str(expected)
        assert "ms" in page.locator(f"#{runtime} [data-role=latency]").inner_text()
    assert f"the Python source model says {expected}" in page.locator("#compare").inner_text()
    page.screenshot(path=str(tmp_path / "demo-screenshot.png"), full_page=True)


def test_drawing_on_the_pad(demo: Page, source_model) -> None:
    page = demo.page
    page.click("#clear")
    box = page.locator("#pad").bounding_box()
    y = box["y"] + box["height"] * 0.2
    page.mouse.move(box["x"] + box["width"] * 0.1, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.9, y + 3, steps=12)  # a horizontal stroke
    page.mouse.up()
    result = demo.js("() => window.rosetta.idle()")
    pixels = np.asarray(demo.js("() => window.rosetta.lastInput()"), dtype=np.float32)
    assert pixels.shape == (64,) and 0 <= pixels.min() and pixels.max() <= 1 and pixels.sum() > 1
    ref = reference(source_model, pixels)[0]
    for runtime in ("tfjs", "onnx"):
        values = np.asarray(result[runtime]["values"])
        assert np.abs(values - ref).max() <= TOLERANCE, runtime
        assert result[runtime]["top"] == ref.argmax(), runtime


def test_url_parameters_pick_the_model_and_an_example(demo: Page, served: str, site_dir: Path) -> None:
    demo.page.goto(served + f"demo/?model={DEMO_MODEL}&example=1")
    demo.js("() => window.rosetta.ready")
    result = demo.js("() => window.rosetta.idle()")
    example = json.loads((site_dir / "demo" / "examples" / f"{DEMO_MODEL}.json").read_text())["items"][1]
    assert result["model"] == DEMO_MODEL and demo.page.locator("#model").input_value() == DEMO_MODEL
    assert result["onnx"]["top"] == result["tfjs"]["top"] == int(np.argmax(example["reference"]))


def test_no_page_errors_and_nothing_loaded_from_outside(demo: Page, served: str, site_index: dict) -> None:
    demo.page.goto(served)  # the download page, served
    assert demo.page.locator("section.model").count() == len(site_index["models"])
    assert demo.errors == []
    assert demo.remote == []
