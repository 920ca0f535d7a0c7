"""``audio-artifacts evaluate`` end to end: a real tiny model directory, real files, real Detector.

Every figure in the reports is checked against values recomputed here from
the Detector's own window probabilities and the manifest's labels.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from audio_artifacts.audio import write_audio
from audio_artifacts.cli import main
from audio_artifacts.data.labels import window_label
from audio_artifacts.data.manifest import ArtifactEvent, RecordingEntry, read_manifest, write_manifest
from audio_artifacts.windows import WindowSpec, window_starts

RATE = 16000
SECONDS = 8.0


def make_model_dir(path: Path, seed: int, name: str | None = None, version: str = "0.0.1",
                   temperature: float = 1.0) -> Path:
    import torch

    from audio_artifacts import __version__
    from audio_artifacts.models.model_dir import ModelInfo, save_model_dir
    from audio_artifacts.models.registry import build_model

    torch.manual_seed(seed)
    model = build_model("fast", sample_rate=RATE, fmax=8000.0, bands=[0, 1000, 3000, 8000], channels=4, hidden=8)
    info = ModelInfo(name=name or path.name, version=version, architecture="fast", arguments=model.arguments(),
                     sample_rate=RATE, window=WindowSpec(), threshold=0.5, package_version=__version__,
                     temperature=temperature)
    return save_model_dir(path, model.eval(), info)


def recording(seed: int, artifact: bool) -> np.ndarray:
    """Noise; with an artifact, a 3 kHz whine from 6 s to the end (the first window stays clean)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(SECONDS * RATE)) / RATE
    x = (0.005 + 0.01 * seed) * rng.standard_normal(t.size)
    if artifact:
        x[t >= 6.0] += 0.2 * np.sin(2 * np.pi * 3000 * t[t >= 6.0])
    return x


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("eval_data")
    entries = []
    for i in range(8):
        artifact = i % 2 == 1
        path = write_audio(root / "rec" / f"r{i}.wav", recording(i, artifact), RATE)
        events = (ArtifactEvent("tonal", 6.0, SECONDS, 10.0, {"freq_hz": 3000.0}),) if artifact else ()
        columns = {"stimulus": "quiet" if i < 4 else "speech", "input_level_db": str(40 + 5 * i), "device": f"d{i % 3}"}
        entries.append(RecordingEntry(path, int(artifact), events, columns))
    return write_manifest(root / "test.csv", entries, root)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> list[Path]:
    base = tmp_path_factory.mktemp("models")
    return [make_model_dir(base / "first", 7), make_model_dir(base / "second", 8)]


@pytest.fixture(scope="module")
def evaluated(dataset, models, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval_out")
    import contextlib
    import io

    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = main(["evaluate", *map(str, models), str(dataset), "--out", str(out),
                     "--by", "artifact_types", "stimulus", "input_level_db", "--backend", "torch"])
    return code, out, stdout.getvalue()


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_exit_code_and_files(evaluated):
    code, out, _ = evaluated
    assert code == 0
    for name in ("report.json", "report.md", "roc.png", "pr.png"):
        assert (out / name).is_file()
    for model in ("first", "second"):
        for name in ("predictions.jsonl", "evaluation.json", "report.md", "roc.png", "pr.png"):
            assert (out / model / name).is_file(), name
    for png in out.rglob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        from matplotlib.image import imread

        assert imread(png).shape[0] > 200


def test_predictions_are_the_detectors_windows_with_window_labels(evaluated, dataset, models):
    from audio_artifacts.inference.detector import Detector

    _, out, _ = evaluated
    entries = {str(e.path): e for e in read_manifest(dataset)}
    detector = Detector(models[0], backend="torch")
    rows = read_jsonl(out / "first" / "predictions.jsonl")
    assert [r["path"] for r in rows] == list(entries)
    for row in rows:
        entry = entries[row["path"]]
        windows, probabilities = detector.window_probabilities(entry.path)
        assert [(w["start"], w["end"]) for w in row["windows"]] == windows
        np.testing.assert_allclose([w["probability"] for w in row["windows"]], probabilities, rtol=1e-6)
        assert len(windows) == len(window_starts(int(SECONDS * RATE), WindowSpec(), RATE)) == 2
        assert [w["label"] for w in row["windows"]] == [window_label(s, e, entry) for s, e in windows]
        # clean first window [0, 5); the whine from 6 s is in the end-aligned window [3, 8) only
        assert [w["label"] for w in row["windows"]] == [0, entry.label]
        assert row["label"] == entry.label
        assert row["probability"] == pytest.approx(max(probabilities))


def counts(labels, probs, threshold):
    labels, pred = np.asarray(labels), np.asarray(probs) >= threshold
    return {
        "tp": int(np.sum(pred & (labels == 1))), "fp": int(np.sum(pred & (labels == 0))),
        "tn": int(np.sum(~pred & (labels == 0))), "fn": int(np.sum(~pred & (labels == 1))),
    }


def auc_by_pairs(labels, probs) -> float:
    labels, probs = np.asarray(labels), np.asarray(probs)
    pos, neg = probs[labels == 1], probs[labels == 0]
    return float(np.mean((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])))


@pytest.mark.parametrize("model", ["first", "second"])
def test_reported_metrics_match_a_recount(evaluated, model):
    _, out, _ = evaluated
    rows = read_jsonl(out / model / "predictions.jsonl")
    report = json.loads((out / model / "evaluation.json").read_text())
    threshold = report["threshold"]
    assert threshold == 0.5  # the model's own
    levels = {
        "windows": ([w["label"] for r in rows for w in r["windows"]], [w["probability"] for r in rows for w in r["windows"]]),
        "recordings": ([r["label"] for r in rows], [max(w["probability"] for w in r["windows"]) for r in rows]),
    }
    for level, (labels, probs) in levels.items():
        m = report[level]
        c = counts(labels, probs, threshold)
        assert {k: m[k] for k in c} == c
        assert m["confusion_matrix"] == [[c["tn"], c["fp"]], [c["fn"], c["tp"]]]
        assert m["n"] == len(labels) and m["positives"] == sum(labels)
        assert m["f1"] == pytest.approx(2 * c["tp"] / (2 * c["tp"] + c["fp"] + c["fn"]) if c["tp"] else 0.0)
        assert m["roc_auc"] == pytest.approx(auc_by_pairs(labels, probs))
        assert 0.0 <= m["average_precision"] <= 1.0
    assert report["n_recordings"] == 8 and report["failures"] == []


def test_breakdowns(evaluated):
    _, out, _ = evaluated
    report = json.loads((out / "first" / "evaluation.json").read_text())
    types = {row["group"]: row for row in report["breakdowns"]["artifact_types"]}
    assert set(types) == {"tonal", "none"}
    assert types["tonal"]["recordings"]["n"] == 4 == types["tonal"]["recordings"]["positives"]
    assert types["none"]["recordings"]["positives"] == 0
    # the tonal group's AUC against every clean recording equals the overall recording AUC here
    assert types["tonal"]["roc_auc_vs_all_negatives"] == pytest.approx(report["recordings"]["roc_auc"])
    stimulus = report["breakdowns"]["stimulus"]
    assert [row["group"] for row in stimulus] == ["quiet", "speech"]
    assert sum(row["recordings"]["n"] for row in stimulus) == 8
    assert sum(row["recordings"]["tp"] for row in stimulus) == report["recordings"]["tp"]
    # in Markdown, rates a group cannot have (recall without artifacts) read n/a; false alarms as a count
    markdown = (out / "first" / "report.md").read_text()
    none = types["none"]["recordings"]
    assert "| none | 4 | 0 | n/a |" in markdown and f"| {none['fp']}/4 |" in markdown
    levels = report["breakdowns"]["input_level_db"]  # 8 distinct values: one group each, sorted numerically
    assert [row["group"] for row in levels] == [str(40 + 5 * i) for i in range(8)]


def test_comparison_table_on_stdout_and_in_the_reports(evaluated):
    _, out, stdout = evaluated
    combined = json.loads((out / "report.json").read_text())
    assert [m["label"] for m in combined["models"]] == ["first", "second"]
    lines = stdout.strip().splitlines()
    assert lines[0] == "| model | F1 | precision | recall | ROC AUC |"
    for line, model in zip(lines[2:], combined["models"]):
        m = model["recordings"]
        assert line == f"| {model['label']} | {m['f1']:.4f} | {m['precision']:.4f} | {m['recall']:.4f} | {m['roc_auc']:.4f} |"
    markdown = (out / "report.md").read_text()
    assert lines[2] in markdown and "## Comparison (window level" in markdown
    assert "### By artifact_types" in markdown and "![roc](first/roc.png)" in markdown
    assert combined["comparison"]["windows"][1]["F1"] == combined["models"][1]["windows"]["f1"]


def test_threshold_override_gives_the_expected_decisions(evaluated, dataset, models, tmp_path):
    _, out, _ = evaluated
    probs = sorted(r["probability"] for r in read_jsonl(out / "first" / "predictions.jsonl"))
    threshold = (probs[4] + probs[5]) / 2  # exactly the 3 highest recordings are flagged
    code = main(["evaluate", str(models[0]), str(dataset), "--out", str(tmp_path), "--threshold", str(threshold)])
    assert code == 0
    report = json.loads((tmp_path / "report.json").read_text())["models"][0]
    assert report["threshold"] == pytest.approx(threshold)
    m = report["recordings"]
    assert m["tp"] + m["fp"] == 3 and m["tn"] + m["fn"] == 5


def test_class_folder_manifest_and_duplicate_model_names(tmp_path, models):
    root = tmp_path / "set"
    write_audio(root / "artifact" / "a.wav", recording(1, True), RATE)
    write_audio(root / "no_artifact" / "deep" / "b.flac", recording(2, False), RATE)
    twin = make_model_dir(tmp_path / "other" / models[0].name, 7)
    code = main(["evaluate", str(models[0]), str(twin), str(root), "--out", str(tmp_path / "o"), "--by", "class"])
    assert code == 0
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert [m["label"] for m in report["models"]] == ["first", "first-2"]
    first = report["models"][0]
    assert first["recordings"]["n"] == 2 and first["recordings"]["positives"] == 1
    # without event intervals every window takes the recording's label
    rows = read_jsonl(tmp_path / "o" / "first" / "predictions.jsonl")
    assert {r["path"].endswith("a.wav"): {w["label"] for w in r["windows"]} for r in rows} == {True: {1}, False: {0}}
    # same weights, same seed: both twins give the same numbers
    assert report["models"][0]["recordings"] == report["models"][1]["recordings"]


def test_unreadable_recordings_are_listed_and_the_rest_evaluated(tmp_path, models):
    root = tmp_path / "d"
    good = [write_audio(root / f"g{i}.wav", recording(i, i == 1), RATE) for i in range(2)]
    broken = root / "broken.wav"
    broken.write_bytes(b"RIFF....WAVEfmt ")
    entries = [RecordingEntry(good[0], 0, None), RecordingEntry(broken, 1, None), RecordingEntry(good[1], 1, None)]
    manifest = write_manifest(root / "m.csv", entries, root)
    code = main(["evaluate", str(models[0]), str(manifest), "--out", str(tmp_path / "o")])
    assert code == 1
    report = json.loads((tmp_path / "o" / "report.json").read_text())["models"][0]
    assert report["n_recordings"] == 3 and report["recordings"]["n"] == 2
    (failure,) = report["failures"]
    assert failure["path"] == str(broken) and failure["error"].startswith(f"{broken}: ")
    statuses = [r["status"] for r in read_jsonl(tmp_path / "o" / "first" / "predictions.jsonl")]
    assert statuses == ["ok", "error", "ok"]
    assert "could not be read" in (tmp_path / "o" / "report.md").read_text()


def test_usage_errors_exit_2_before_any_scoring(tmp_path, dataset, models, capsys):
    out = tmp_path / "never"
    with pytest.raises(SystemExit) as caught:  # argparse: a MODEL_DIR and the MANIFEST are required
        main(["evaluate", str(dataset)])
    assert caught.value.code == 2 and "MANIFEST" in capsys.readouterr().err
    cases = [
        ([str(tmp_path / "nope"), str(dataset)], "model directory does not exist"),
        ([str(models[0]), str(dataset), "--by", "colour", "stimulus"], "cannot break down by 'colour'"),
        ([str(models[0]), str(dataset), "--threshold", "1.5"], "--threshold must be in [0, 1]"),
        ([str(models[0]), str(dataset), "--min-overlap", "-1"], "--min-overlap"),
    ]
    for arguments, message in cases:
        assert main(["evaluate", *arguments, "--out", str(out)]) == 2
        assert message in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("path;class\nmissing1.wav;artifact\nmissing2.wav;maybe\n")
    assert main(["evaluate", str(models[0]), str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "missing1.wav" in err and "unknown class 'maybe'" in err and "missing2.wav" in err
    empty_model = tmp_path / "empty_model"
    empty_model.mkdir()
    assert main(["evaluate", str(empty_model), str(dataset), "--out", str(out)]) == 2
    assert not out.exists()


@pytest.mark.parametrize("model", ["first", "second"])
def test_calibration_figures_match_a_recount(evaluated, model):
    from audio_artifacts.evaluation.calibration import brier_score, expected_calibration_error

    _, out, _ = evaluated
    rows = read_jsonl(out / model / "predictions.jsonl")
    rec_labels = [r["label"] for r in rows]
    rec_probs = [max(w["probability"] for w in r["windows"]) for r in rows]
    report = json.loads((out / model / "evaluation.json").read_text())["calibration"]
    assert report["recordings"]["brier"] == pytest.approx(brier_score(rec_labels, rec_probs))
    assert report["recordings"]["ece"] == pytest.approx(expected_calibration_error(rec_labels, rec_probs))
    win_labels = [w["label"] for r in rows for w in r["windows"]]
    win_probs = [w["probability"] for r in rows for w in r["windows"]]
    assert report["windows"]["brier"] == pytest.approx(brier_score(win_labels, win_probs))
    assert sum(b["n"] for b in report["windows"]["reliability"]) == len(win_probs)
    text = (out / model / "report.md").read_text()
    assert "### Calibration (model temperature T = 1)" in text and "![reliability](reliability.png)" in text
    assert (out / model / "reliability.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "reliability.png").is_file()  # the models side by side


def test_the_model_temperature_scales_the_evaluated_probabilities(tmp_path, dataset, models):
    from audio_artifacts.evaluation.calibration import scale_probability

    hot = make_model_dir(tmp_path / "hot", 7, name="first", version="0.0.2", temperature=2.0)
    code = main(["evaluate", str(models[0]), str(hot), str(dataset), "--out", str(tmp_path / "o"),
                 "--backend", "torch"])
    assert code == 0
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert [m["label"] for m in report["models"]] == ["first-0.0.1", "first-0.0.2"]  # same name, versions differ
    assert report["models"][1]["model"]["temperature"] == 2.0
    plain = read_jsonl(tmp_path / "o" / "first-0.0.1" / "predictions.jsonl")
    scaled = read_jsonl(tmp_path / "o" / "first-0.0.2" / "predictions.jsonl")
    for a, b in zip(plain, scaled):
        for wa, wb in zip(a["windows"], b["windows"]):
            assert wb["probability"] == pytest.approx(scale_probability(wa["probability"], 2.0), rel=1e-9)
