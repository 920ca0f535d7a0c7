"""Make the report screenshots and the scan picture of docs/scan.md and the README from a real scan.

Simulates the README's 12 demo recordings (``simulate --n 12 --seed 1``),
copies them to names ``<device family>_<stimulus>_<n>.wav`` (so that
``--group-by`` has something to group), scans them with the bundled model
with ``--report`` and ``--group-by``, opens the page in headless Chromium
(Playwright, the system ``chromium``) and writes:

* ``docs/figures/scan_report.png``: the top of the page (counts, groups, table);
* ``docs/figures/scan_report_detail.png``: the first flagged recording's section;
* ``docs/figures/scan_example.png``: the picture of the thumps recording, and
  ``scan_example_log.png``: the same with ``--plot-freq-scale log``.

Run: ``python docs/figures/make_report_screenshot.py [WORK_DIR]``.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

FIGURES = Path(__file__).resolve().parent
GROUP_BY = r"^(?P<family>[^_]+)_(?P<stimulus>[^_]+)_"
CLI = [sys.executable, "-c", "import sys; from audio_artifacts.cli import main; sys.exit(main())"]


def main() -> None:
    from playwright.sync_api import sync_playwright

    work = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/audio-artifacts-report-demo")
    shutil.rmtree(work, ignore_errors=True)
    subprocess.run([*CLI, "simulate", str(work / "demo"), "--n", "12", "--seed", "1"], check=True,
                   stderr=subprocess.DEVNULL)
    named = work / "line"
    named.mkdir()
    with open(work / "demo" / "manifest.csv", encoding="utf-8") as handle:
        for n, row in enumerate(csv.DictReader(handle, delimiter=";")):
            name = f"{row['family'].replace('_', '-')}_{row['stimulus'].replace('_', '-')}_{n:02d}.wav"
            shutil.copy(work / "demo" / row["path"], named / name)
    page = work / "report" / "report.html"
    subprocess.run([*CLI, "scan", str(named), "--out", str(work / "scan.jsonl"), "--report", str(page),
                    "--group-by", GROUP_BY], check=True)
    shutil.copy(page.parent / "report_files" / "pictures" / "wideband_sweep_11.png", FIGURES / "scan_example.png")
    subprocess.run([*CLI, "scan", str(named / "wideband_sweep_11.wav"), "--plots", str(work / "log"),
                    "--plot-freq-scale", "log"], check=True, stdout=subprocess.DEVNULL)
    shutil.copy(work / "log" / "wideband_sweep_11.png", FIGURES / "scan_example_log.png")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        tab = browser.new_page(viewport={"width": 1280, "height": 900})
        tab.goto(page.resolve().as_uri())
        tab.evaluate("document.querySelectorAll('img').forEach(i => { i.loading = 'eager'; })")  # not lazy here
        tab.wait_for_function("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
        table = tab.locator("#results").bounding_box()
        tab.screenshot(path=str(FIGURES / "scan_report.png"),
                       clip={"x": 0, "y": 0, "width": 1280, "height": table["y"] + table["height"] + 16},
                       full_page=True)
        tab.locator("section.detail").nth(1).screenshot(path=str(FIGURES / "scan_report_detail.png"))
        browser.close()
    print(f"report: {page}\nfigures: {FIGURES}")


if __name__ == "__main__":
    main()
