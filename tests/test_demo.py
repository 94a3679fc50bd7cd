"""The Gradio demo in a real headless browser (Debian's chromium and chromedriver, driven by selenium): submit a post
with an image, read the highlighted entities back from the page, choose another entity, save a screenshot.

The screenshot goes to the test's temporary folder, or to $UMT_DEMO_SCREENSHOT: docs/demo-screenshot.png is made with
`UMT_DEMO_SCREENSHOT=docs/demo-screenshot.png .venv/bin/python -m pytest tests/test_demo.py`."""

import os
import shutil
import socket
from pathlib import Path

import PIL.Image
import PIL.ImageDraw
import pytest


pytest.importorskip("gradio", reason="the demo extra is not installed: pip install -e .[demo]")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed: pip install -e .[test]")

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from hub_scripts.demo import build_demo, entity_choices, launch  # noqa: E402
from hub_scripts.predict import load_pipeline  # noqa: E402

CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--window-size=1400,1000",
]  # fmt: skip
POST = "Kevin Durant enters Oracle Arena with Stephen Curry before the Warriors game #NBA"
WAIT_S = 120


@pytest.fixture
def browser(tmp_path):
    found = {"chromium": shutil.which("chromium") is not None, "chromedriver": os.path.exists(CHROMEDRIVER)}
    missing = [name for name, present in found.items() if not present]
    if missing:
        message = f"{' and '.join(missing)} not installed: apt-get install -y chromium chromium-driver (.ci/setup does)"
        print(message)
        pytest.skip(message)
    options = webdriver.ChromeOptions()
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


@pytest.fixture
def served_demo(trained_run):
    """The demo app on the small trained model, served on a free local port; yields (url, pipeline)."""
    ner = load_pipeline(str(trained_run), device="cpu")
    demo = build_demo(ner)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = launch(demo, port=port, block=False)
    yield url, ner
    demo.close()


@pytest.fixture
def picture_file(tmp_path) -> Path:
    """A picture of a player: a head over a yellow jersey, on a blue background."""
    picture = PIL.Image.new("RGB", (400, 300), (90, 140, 200))
    draw = PIL.ImageDraw.Draw(picture)
    draw.ellipse((150, 60, 260, 200), fill=(240, 200, 160))
    draw.rectangle((120, 200, 290, 300), fill=(250, 200, 30))
    path = tmp_path / "player.png"
    picture.save(path)
    return path


def highlighted_entities(driver) -> list[tuple[str, str]]:
    """(text, type) of each highlighted span of the page: the type is the legend entry of the span's colour."""
    legend = {
        item.value_of_css_property("background-color"): item.text
        for item in driver.find_elements(By.CSS_SELECTOR, "#entities .legend-item")
    }
    return [
        (span.text, legend[span.value_of_css_property("background-color")])
        for span in driver.find_elements(By.CSS_SELECTOR, "#entities .token.highlighted")
    ]


def test_demo_tags_a_post_with_an_image_in_a_browser(browser, served_demo, picture_file, tmp_path):
    url, ner = served_demo
    expected = ner(POST, image=PIL.Image.open(picture_file), return_visual_evidence=True)
    assert len(expected) >= 2, "the small trained model should find entities in this post"
    wait = WebDriverWait(browser, WAIT_S)

    browser.get(url)
    wait.until(lambda driver: driver.find_elements(By.CSS_SELECTOR, "#tag-button"))
    text_box = browser.find_element(By.CSS_SELECTOR, "#post-text textarea")
    text_box.clear()
    text_box.send_keys(POST)
    browser.find_element(By.CSS_SELECTOR, "#post-image input[type=file]").send_keys(str(picture_file))
    wait.until(lambda driver: driver.find_elements(By.CSS_SELECTOR, "#post-image img"))
    browser.find_element(By.CSS_SELECTOR, "#tag-button").click()
    wait.until(lambda driver: driver.find_elements(By.CSS_SELECTOR, "#attention img"))

    assert highlighted_entities(browser) == [(entity["word"], entity["entity_group"]) for entity in expected]
    evidence = browser.find_element(By.CSS_SELECTOR, "#evidence").text
    assert expected[0]["word"] in evidence and f"visual gate: {expected[0]['visual_gate']:.3f}" in evidence

    # Choose the second entity: its own gate value and attention map are shown.
    browser.find_element(By.CSS_SELECTOR, "#entity-choice input").click()
    second = entity_choices(expected)[1]
    wait.until(lambda driver: driver.find_elements(By.CSS_SELECTOR, f"[role=option][aria-label='{second}']"))
    browser.find_element(By.CSS_SELECTOR, f"[role=option][aria-label='{second}']").click()
    wait.until(lambda driver: expected[1]["word"] in driver.find_element(By.CSS_SELECTOR, "#evidence").text)
    assert f"visual gate: {expected[1]['visual_gate']:.3f}" in browser.find_element(By.CSS_SELECTOR, "#evidence").text

    screenshot = Path(os.environ.get("UMT_DEMO_SCREENSHOT", tmp_path / "demo-screenshot.png"))
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(screenshot))
    assert PIL.Image.open(screenshot).size[0] >= 1000
