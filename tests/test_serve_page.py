"""emotion-serve's page in a real headless browser: the distribution's Chromium and chromedriver (installed by
scripts/setup_env.sh) drive the page served by scripts/serve.py on the demo checkpoint."""
import shutil
from pathlib import Path

import pytest
from helpers import joined_recording
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from emotion_inference.recognizer import EmotionRecognizer

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def browser():
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.fail("chromium and chromium-driver are missing: run scripts/setup_env.sh as root (it installs them "
                    "with apt-get), or apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium  # with the driver's path below, Selenium Manager fetches nothing
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1100,1500",
                "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"):
        options.add_argument(arg)
    session = webdriver.Chrome(service=Service(executable_path=driver), options=options)
    yield session
    session.quit()


@pytest.fixture(scope="module")
def recording(demo_assets, tmp_path_factory):
    return joined_recording(demo_assets / "corpus", tmp_path_factory.mktemp("page"))


def test_page_predicts_an_uploaded_wav_and_draws_a_timeline(browser, demo_server, demo_checkpoint, recording,
                                                           tmp_path):
    rec = EmotionRecognizer.from_checkpoint(demo_checkpoint["checkpoint"], demo_checkpoint["pretrained"])
    wav, srt, utterances = recording
    u = utterances[1]
    wait = WebDriverWait(browser, 120)
    browser.get(demo_server["url"])
    wait.until(lambda b: b.find_element(By.ID, "model").get_attribute("data-ready") == "true")
    assert "ssl_emotion_shallow" in browser.find_element(By.ID, "model").text

    browser.find_element(By.ID, "predict").click()  # nothing chosen: the server's message is shown
    wait.until(lambda b: "missing audio" in b.find_element(By.ID, "predict-error").text)

    browser.find_element(By.ID, "audio").send_keys(str(u["wav"]))
    browser.find_element(By.ID, "text").send_keys(u["text"])
    browser.find_element(By.ID, "explain").click()
    browser.find_element(By.ID, "predict").click()
    wait.until(lambda b: b.find_element(By.ID, "bars").get_attribute("data-done") == "true")
    bars = {row.get_attribute("data-name"): float(row.get_attribute("data-value"))
            for row in browser.find_elements(By.CSS_SELECTOR, "#bars .bar-row")}
    expected = rec.predict(u["wav"], u["text"])
    assert list(bars) == ["neutral", "happy", "sad", "angry"] and bars == pytest.approx(expected, abs=1e-6)
    shown = [float(v.text) for v in browser.find_elements(By.CSS_SELECTOR, "#bars .value")]
    assert shown == pytest.approx([round(expected[n], 3) for n in bars], abs=1e-9)  # the numbers next to the bars
    widths = [f.value_of_css_property("width") for f in browser.find_elements(By.CSS_SELECTOR, "#bars .bar-fill")]
    track = float(browser.find_element(By.CSS_SELECTOR, "#bars .bar-track").value_of_css_property("width")[:-2])
    assert [float(w[:-2]) / track for w in widths] == pytest.approx(list(expected.values()), abs=0.01)
    table = browser.find_element(By.ID, "explanation-table")
    assert table.get_attribute("data-method") == "linear_split"
    assert len(table.find_elements(By.CSS_SELECTOR, "tr")) == 1 + 8  # header + 2 logits per emotion

    browser.find_element(By.ID, "timeline-audio").send_keys(str(wav))
    browser.find_element(By.ID, "timeline-transcript").send_keys(str(srt))
    browser.find_element(By.ID, "timeline").click()
    wait.until(lambda b: b.find_element(By.ID, "timeline-chart").get_attribute("data-done") == "true")
    rows = browser.find_elements(By.CSS_SELECTOR, "#timeline-table .segment-row")
    assert [r.find_elements(By.TAG_NAME, "td")[2].text for r in rows] == [x["text"] for x in utterances]
    lines = browser.find_elements(By.CSS_SELECTOR, "#timeline-svg path")
    assert [line.get_attribute("data-name") for line in lines] == ["neutral", "happy", "sad", "angry"]
    assert "4 segment(s)" in browser.find_element(By.ID, "timeline-summary").text

    screenshot = tmp_path / "page.png"
    assert browser.save_screenshot(str(screenshot))
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    shutil.copy(screenshot, REPO / ".cache" / "serve_page.png")  # kept for a person to look at
