"""``scan --report / --group-by / --isolate``: a real scan, a real page, checked in a real headless Chromium.

The browser tests drive the system Chromium (Debian's ``chromium`` package;
``AUDIO_ARTIFACTS_CHROMIUM`` names another binary) through Playwright's
Python API; they skip, saying why, where either is missing. ``.ci/run``
installs Chromium so that they run in CI.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from audio_artifacts.audio import read_info, write_audio
from audio_artifacts.cli import main

GROUP_BY = r"^(?P<unit>[^_]+)_(?P<mode>[^_]+)_"


def recording(seconds, rate, seed):
    """Noise with a 3 kHz whine in the second half."""
    t = np.arange(int(seconds * rate)) / rate
    x = 0.02 * np.random.default_rng(seed).standard_normal(t.size)
    x[t >= seconds / 2] += 0.2 * np.sin(2 * np.pi * 3000 * t[t >= seconds / 2])
    return x


@pytest.fixture(scope="module")
def scanned(tmp_path_factory, tiny_model_dir):
    """A batch (two units, two modes, one broken file) scanned with --report, --group-by and --isolate."""
    root = tmp_path_factory.mktemp("report")
    inputs = root / "in"
    for name, seconds, rate, seed in (("u01_BT_10dB.wav", 8.0, 48000, 0), ("u01_LE_10dB.wav", 6.0, 16000, 1),
                                      ("u02_BT_10dB.flac", 7.0, 44100, 2)):
        write_audio(inputs / name, recording(seconds, rate, seed), rate)
    (inputs / "u02_LE_10dB.wav").write_bytes(b"not audio at all")
    page = root / "out" / "batch.html"
    # threshold 0: every readable recording is flagged, so each gets a picture and isolated audio
    code = main(["scan", str(inputs), "--model", str(tiny_model_dir), "--threshold", "0", "--out",
                 str(root / "scan.jsonl"), "--report", str(page), "--group-by", GROUP_BY,
                 "--isolate", str(root / "isolated")])
    return code, page, root


def test_report_pictures_and_isolated_audio_are_written(scanned):
    code, page, root = scanned
    assert code == 1  # the broken file has an error row
    text = page.read_text(encoding="utf-8")
    for name in ("u01_BT_10dB.wav", "u01_LE_10dB.wav", "u02_BT_10dB.flac", "u02_LE_10dB.wav"):
        assert name in text
    pictures = sorted(p.name for p in (root / "out" / "batch_files" / "pictures").iterdir())
    assert pictures == ["u01_BT_10dB.png", "u01_LE_10dB.png", "u02_BT_10dB.png"]
    for stem, rate in (("u01_BT_10dB", 48000), ("u01_LE_10dB", 16000), ("u02_BT_10dB", 44100)):
        for kind in ("artifact", "residual"):
            assert read_info(root / "isolated" / f"{stem}.{kind}.wav").sample_rate == rate
    assert 'src="../isolated/u01_BT_10dB.artifact.wav"' in text
    assert 'id="group-unit"' in text and 'id="group-mode"' in text


def test_resume_keeps_the_rows_already_reported(scanned, tmp_path, tiny_model_dir, capsys):
    _, page, root = scanned
    copy = tmp_path / "batch.html"
    shutil.copytree(page.parent / "batch_files", tmp_path / "batch_files")
    shutil.copy(page, copy)
    shutil.copy(root / "scan.jsonl", tmp_path / "scan.jsonl")
    inputs = tmp_path / "in"
    shutil.copytree(root / "in", inputs)
    write_audio(inputs / "u03_BT_10dB.wav", recording(5.0, 16000, 3), 16000)
    code = main(["scan", str(root / "in"), str(inputs / "u03_BT_10dB.wav"), "--model", str(tiny_model_dir),
                 "--threshold", "0", "--out", str(tmp_path / "scan.jsonl"), "--resume", "--report", str(copy)])
    assert code == 1
    assert "resuming: 4 of 5" in capsys.readouterr().err
    text = copy.read_text(encoding="utf-8")
    assert all(name in text for name in ("u01_BT_10dB.wav", "u02_LE_10dB.wav", "u03_BT_10dB.wav"))
    assert 'id="count-files"><b>5<' in text


@pytest.mark.parametrize("extra, message", [
    (["--group-by", "(?P<unit>[^_]+)_"], "--group-by needs --report"),
    (["--report", "r.html", "--group-by", "([^_]+)_"], "no named group"),
    (["--report", "r.html", "--group-by", "(?P<unit>[^_+"], "not a regular expression"),
])
def test_usage_errors(tmp_path, capsys, monkeypatch, extra, message):
    write_audio(tmp_path / "a.wav", recording(1.0, 16000, 0), 16000)
    monkeypatch.chdir(tmp_path)
    assert main(["scan", str(tmp_path / "a.wav"), *extra]) == 2
    assert message in capsys.readouterr().err


# -- in a real headless browser ------------------------------------------------

def find_chromium() -> str | None:
    named = os.environ.get("AUDIO_ARTIFACTS_CHROMIUM")
    if named:
        return named if os.path.isfile(named) else None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser_page(scanned):
    """The report opened in headless Chromium: (page, console errors, failed requests)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')")
    executable = find_chromium()
    if executable is None:
        pytest.skip("no Chromium found: apt-get install chromium (as .ci/run does), or set AUDIO_ARTIFACTS_CHROMIUM "
                    "to a Chromium binary")
    _, page_path, _ = scanned
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            problems: list[str] = []
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            # A media element that has read its metadata (preload="metadata") aborts the rest of its
            # request on purpose: that is not a failure to load.
            page.on("requestfailed", lambda r: None if r.resource_type == "media" and r.failure == "net::ERR_ABORTED"
                    else problems.append(f"request failed: {r.url} {r.failure}"))
            page.goto(Path(page_path).resolve().as_uri())
            for image in page.locator("img").all():  # pictures load lazily: bring each into view, as a reader does
                image.scroll_into_view_if_needed()
            page.wait_for_function(
                "Array.from(document.querySelectorAll('audio')).every(a => a.readyState >= 1 || a.error)"
                " && Array.from(document.images).every(i => i.complete)", timeout=30_000)
            yield page, problems
        finally:
            browser.close()


def visible_column(page, index):
    return page.eval_on_selector_all(
        "#results tbody tr:not([hidden])", f"rows => rows.map(r => r.cells[{index}].textContent.trim())")


def test_page_loads_without_errors_and_its_media_resolve(browser_page):
    page, problems = browser_page
    assert problems == []
    audio = page.eval_on_selector_all("audio", "els => els.map(a => [a.readyState, a.error && a.error.code, a.duration])")
    assert len(audio) == 6  # artifact + residual of three flagged recordings
    assert all(ready >= 1 and error is None for ready, error, _ in audio)
    assert sorted(round(d) for _, _, d in audio) == [6, 6, 7, 7, 8, 8]  # the recordings' lengths
    widths = page.eval_on_selector_all("img", "els => els.map(i => i.naturalWidth)")
    assert widths == [1200, 1200, 1200]


def test_clicking_a_header_sorts_the_table(browser_page):
    page, problems = browser_page
    header = page.locator("#results thead th", has_text="probability")
    header.click()
    ascending = visible_column(page, 2)
    numbers = [float(v) for v in ascending if v]
    assert numbers == sorted(numbers) and ascending[-1] == ""  # the error row (no probability) last
    assert header.get_attribute("aria-sort") == "ascending"
    header.click()
    descending = [float(v) for v in visible_column(page, 2) if v]
    assert descending == sorted(numbers, reverse=True)
    page.locator("#results thead th", has_text="file").click()
    assert visible_column(page, 0) == sorted(visible_column(page, 0), key=str.lower)
    assert problems == []


def test_filters_select_rows(browser_page):
    page, problems = browser_page
    page.fill("#filter", "u01")
    assert sorted(visible_column(page, 0)) == ["u01_BT_10dB.wav", "u01_LE_10dB.wav"]
    page.fill("#filter", "")
    page.select_option("#verdict-filter", "error")
    assert visible_column(page, 0) == ["u02_LE_10dB.wav"]
    assert page.text_content("#shown") == "1 of 4 shown"
    page.select_option("#verdict-filter", "")
    assert len(visible_column(page, 0)) == 4
    assert problems == []


def test_a_killed_scan_leaves_a_readable_report_that_resume_completes(tmp_path, tiny_model_dir):
    import json
    import signal
    import subprocess
    import sys
    import time

    from html.parser import HTMLParser

    inputs = tmp_path / "in"
    for n in range(5):
        write_audio(inputs / f"u{n % 2}_BT_{n:02d}.wav", recording(5.0, 16000, n), 16000)
    page, state = tmp_path / "r.html", tmp_path / "r_files" / "rows.jsonl"
    command = [sys.executable, "-c", "import sys; from audio_artifacts.cli import main; sys.exit(main())", "scan",
               str(inputs), "--model", str(tiny_model_dir), "--threshold", "0", "--out", str(tmp_path / "s.jsonl"),
               "--report", str(page)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            if state.is_file() and state.read_text().count("\n") >= 2:
                break
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    done = [json.loads(line)["result"]["path"] for line in state.read_text().splitlines() if line.endswith("}")]
    assert 2 <= len(done) < 5, "the scan was to be killed part-way"
    text = page.read_text(encoding="utf-8")
    assert text.rstrip().endswith("</html>")  # a whole page, never half of one
    HTMLParser().feed(text)
    shown = [p for p in done if Path(p).name in text]
    assert len(shown) >= len(done) - 1  # at most the row being added when killed is not on the page yet

    command[command.index("--report"):command.index("--report")] = ["--resume"]
    assert subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
    text = page.read_text(encoding="utf-8")
    assert all(f"u{n % 2}_BT_{n:02d}.wav" in text for n in range(5))
    assert 'id="count-files"><b>5<' in text
