"""Detector: real files -> windows -> real model -> ScanResult fields that hang together."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import soundfile as sf

from audio_artifacts.audio import write_audio
from audio_artifacts.errors import AudioLoadError
from audio_artifacts.inference.detector import Detector
from audio_artifacts.models.model_dir import default_model_dir
from audio_artifacts.windows import WindowSpec, window_starts


@pytest.fixture(scope="module")
def detector(tiny_model_dir):
    return Detector(tiny_model_dir, backend="torch", batch_size=4)


def test_windows_cover_the_file_with_the_training_windows(detector, recordings):
    result = detector.scan_file(recordings["stereo48"])
    assert result.status == "ok" and result.error is None
    assert (result.duration_s, result.sample_rate, result.channels) == (20.0, 48000, 2)
    starts = [w.start for w in result.windows]
    # the same windows as windows.py gives for 20 s at 32 kHz: 0, 3.75, ..., 15 (end-aligned)
    expected = window_starts(20 * 32000, WindowSpec(), 32000) / 32000
    np.testing.assert_allclose(starts, expected, atol=1e-9)
    assert starts[0] == 0.0 and result.windows[-1].end == pytest.approx(20.0, abs=1e-3)
    assert all(w.end - w.start == pytest.approx(5.0) for w in result.windows)
    # batches of 4 over 5 windows: the order of windows survives batching
    assert starts == sorted(starts)


def test_an_odd_length_file_gets_an_end_aligned_last_window(detector, recordings):
    result = detector.scan_file(recordings["mono44"])
    assert result.sample_rate == 44100 and result.channels == 1
    assert result.duration_s == pytest.approx(11.3, abs=1e-4)
    assert [w.start for w in result.windows][:2] == [0.0, 3.75]
    assert result.windows[-1].end == pytest.approx(11.3, abs=1e-3)
    assert result.windows[-1].start == pytest.approx(6.3, abs=1e-3)


def test_a_file_shorter_than_a_window_gives_one_window(detector, recordings):
    result = detector.scan_file(recordings["short16"])
    assert len(result.windows) == 1
    assert result.windows[0].start == 0.0
    assert result.windows[0].end == pytest.approx(3.0, abs=1e-3)


def test_probability_verdict_and_model_follow_the_windows(detector, recordings, tiny_model_dir):
    result = detector.scan_file(recordings["stereo48"], display_name="unit_7/take 1.wav")
    probabilities = [w.probability for w in result.windows]
    assert all(0.0 <= p <= 1.0 for p in probabilities)
    assert result.probability == max(probabilities)
    assert result.threshold == 0.5  # the model's
    assert result.verdict == ("artifact" if result.probability >= 0.5 else "no_artifact")
    assert result.path == "unit_7/take 1.wav"
    assert result.model.name == "tiny-test" and result.model.version == "seed0"
    row = result.to_dict()
    assert row["windows"][0] == {"start": 0.0, "end": 5.0, "probability": probabilities[0]}


def test_threshold_override_sets_verdict_trigger_and_events(tiny_model_dir, recordings):
    path = recordings["stereo48"]
    _, probabilities = Detector(tiny_model_dir, backend="torch").window_probabilities(path)
    levels = np.unique(probabilities)
    if levels.size < 2:
        pytest.skip("the random model gave every window the same probability")
    threshold = float(levels[levels.size // 2])  # some windows over, some under
    # the runs of windows themselves (describe=False); described events are checked against them below
    result = Detector(tiny_model_dir, backend="torch", threshold=threshold, describe=False).scan_file(path)
    assert result.threshold == threshold
    flagged = [w for w in result.windows if w.probability >= threshold]
    assert 0 < len(flagged) < len(result.windows)
    assert result.verdict == "artifact"
    assert result.triggered_at == flagged[0].start
    # events: the runs of consecutive flagged windows, nothing else
    flags = [w.probability >= threshold for w in result.windows]
    runs = sum(1 for i, f in enumerate(flags) if f and (i == 0 or not flags[i - 1]))
    assert len(result.events) == runs
    for event in result.events:
        inside = [w for w in result.windows if event.start <= w.start and w.end <= event.end]
        assert inside and all(w.probability >= threshold for w in inside)
        assert event.probability == max(w.probability for w in inside)
    assert sum(len([w for w in result.windows if e.start <= w.start and w.end <= e.end])
               for e in result.events) == len(flagged)
    # described: one event per run, its probability, its times measured in or just around the run
    described = Detector(tiny_model_dir, backend="torch", threshold=threshold).scan_file(path)
    assert [e.probability for e in described.events] == [e.probability for e in result.events]
    for event, run in zip(described.events, result.events):
        assert run.start - 1.5 - 1e-6 <= event.start <= event.end <= run.end + 1.5 + 1e-6
    # a threshold above every window: no verdict, no trigger, no events
    high = Detector(tiny_model_dir, backend="torch", threshold=min(1.0, float(levels[-1]) + 1e-6))
    quiet = high.scan_file(path)
    assert quiet.verdict == "no_artifact" and quiet.triggered_at is None and quiet.events == ()


def test_window_probabilities_match_the_scan(detector, recordings):
    windows, probabilities = detector.window_probabilities(recordings["mono44"])
    result = detector.scan_file(recordings["mono44"])
    assert windows == [(w.start, w.end) for w in result.windows]
    np.testing.assert_allclose(probabilities, [w.probability for w in result.windows], rtol=1e-12)


def test_batch_size_does_not_change_the_probabilities(tiny_model_dir, recordings):
    one = Detector(tiny_model_dir, backend="torch", batch_size=1).window_probabilities(recordings["stereo48"])
    many = Detector(tiny_model_dir, backend="torch", batch_size=32).window_probabilities(recordings["stereo48"])
    np.testing.assert_allclose(one[1], many[1], atol=1e-5)


def test_batches_spanning_several_files_give_each_file_its_own_windows(tiny_model_dir, recordings):
    paths = [recordings["short16"], recordings["stereo48"], recordings["short16"], recordings["mono44"]]
    detector = Detector(tiny_model_dir, backend="torch", batch_size=5)
    together = list(detector.scan_many(paths))
    for path, result in zip(paths, together):
        alone = Detector(tiny_model_dir, backend="torch", batch_size=1).scan_file(path)
        assert [(w.start, w.end) for w in result.windows] == [(w.start, w.end) for w in alone.windows]
        np.testing.assert_allclose([w.probability for w in result.windows],
                                   [w.probability for w in alone.windows], atol=1e-5)


def test_parallel_model_calls_keep_results_in_input_order(tiny_model_dir, recordings):
    paths = [recordings["stereo48"], recordings["short16"], recordings["mono44"]] * 2
    serial = list(Detector(tiny_model_dir, backend="torch", batch_size=2, workers=1).scan_many(paths))
    parallel = list(Detector(tiny_model_dir, backend="torch", batch_size=2, workers=3).scan_many(paths))
    assert [r.path for r in parallel] == [str(p) for p in paths]
    for a, b in zip(serial, parallel):
        assert [(w.start, w.end) for w in a.windows] == [(w.start, w.end) for w in b.windows]
        np.testing.assert_allclose([w.probability for w in a.windows], [w.probability for w in b.windows],
                                   atol=1e-6)


def _bad_files(root, noise):
    empty = root / "empty.wav"
    empty.write_bytes(b"")
    text = root / "notes.wav"
    text.write_text("this is not audio\n" * 20)
    folder = root / "folder.wav"
    folder.mkdir()
    samples = noise(12.0, 16000, 5)
    samples[150000] = np.nan
    nan = root / "nan.wav"
    sf.write(nan, samples, 16000, subtype="FLOAT")
    truncated = root / "truncated.wav"
    write_audio(truncated, noise(8.0, 16000, 6), 16000)
    truncated.write_bytes(truncated.read_bytes()[:30])
    return {"empty": empty, "text": text, "folder": folder, "nan": nan, "truncated": truncated,
            "missing": root / "missing.wav"}


def test_bad_files_give_error_results_and_the_scan_goes_on(detector, recordings, tmp_path, noise):
    bad = _bad_files(tmp_path, noise)
    paths = [bad["empty"], recordings["short16"], bad["text"], bad["folder"], bad["nan"],
             bad["truncated"], bad["missing"], recordings["mono44"]]
    results = list(detector.scan_many(paths))
    assert [r.path for r in results] == [str(p) for p in paths]  # input order
    assert [r.status for r in results] == ["error", "ok", "error", "error", "error", "error", "error", "ok"]
    for result in results:
        if result.status == "error":
            assert result.path in result.error  # names the file
            assert result.verdict is None and result.probability is None and result.windows == ()
    by_name = {r.path: r for r in results}
    assert "empty" in by_name[str(bad["empty"])].error or "0 bytes" in by_name[str(bad["empty"])].error
    assert "directory" in by_name[str(bad["folder"])].error
    assert "9.375" in by_name[str(bad["nan"])].error  # the NaN's time (150000 / 16 kHz)
    # the header of the NaN file was readable: what it holds is still reported
    assert by_name[str(bad["nan"])].sample_rate == 16000
    # the good files after the bad ones are scanned as if alone
    alone = detector.scan_file(recordings["mono44"])
    assert [w.probability for w in results[-1].windows] == pytest.approx([w.probability for w in alone.windows])


def test_window_probabilities_raises_for_a_bad_file(detector, tmp_path, noise):
    bad = _bad_files(tmp_path, noise)
    with pytest.raises(AudioLoadError, match="nan.wav"):
        detector.window_probabilities(bad["nan"])


def test_a_scan_left_early_stops_its_reader_thread(detector, recordings):
    before = {t.ident for t in threading.enumerate()}
    detector = Detector(detector.model_dir, backend="torch", batch_size=1, workers=2)
    results = detector.scan_many([recordings["short16"]] * 20)
    first = next(results)
    assert first.status == "ok"
    results.close()
    leftover = [t for t in threading.enumerate()
                if t.ident not in before and t.is_alive() and t.name.startswith("audio-artifacts")]
    assert leftover == []


def test_constructor_validates_its_arguments(tiny_model_dir):
    with pytest.raises(ValueError, match="threshold"):
        Detector(tiny_model_dir, backend="torch", threshold=1.5)
    with pytest.raises(ValueError, match="batch_size"):
        Detector(tiny_model_dir, backend="torch", batch_size=0)
    with pytest.raises(ValueError, match="workers"):
        Detector(tiny_model_dir, backend="torch", workers=0)


def test_torch_and_onnx_backends_agree_on_the_same_files(exported, recordings):
    onnx_dir = exported[0]
    for path in recordings.values():
        a = Detector(onnx_dir, backend="torch").window_probabilities(path)
        b = Detector(onnx_dir, backend="onnx").window_probabilities(path)
        assert a[0] == b[0]
        np.testing.assert_allclose(a[1], b[1], atol=1e-3)


def _bundled_model_available() -> bool:
    return (default_model_dir() / "model.json").is_file() and (default_model_dir() / "model.safetensors").is_file()


@pytest.mark.skipif(not _bundled_model_available(),
                    reason="behaviour needs a trained model: the bundled default model is not in this checkout yet")
def test_bundled_model_flags_a_loud_tone_in_the_second_half_only(tmp_path, noise):
    # a whine about 20 dB over the floor of its third-octave band (artifacts sit
    # 2-30 dB over it); a tone 40 dB over it reads as a test tone the box played
    rate = 48000
    signal = noise(40.0, rate, 11, level_db=-50).astype(np.float64)
    t = np.arange(signal.size) / rate
    whine = 10 ** (-45 / 20) * np.sqrt(2) * np.sin(2 * np.pi * 3300.0 * t)
    signal[t >= 20.0] += whine[t >= 20.0]
    path = write_audio(tmp_path / "whine_second_half.wav", signal, rate)
    result = Detector().scan_file(path)
    first = [w.probability for w in result.windows if w.end <= 20.0]
    second = [w.probability for w in result.windows if w.start >= 20.0]
    assert min(second) > max(first)
    assert result.verdict == "artifact" and result.triggered_at >= 15.0


def test_a_short_recording_is_judged_on_its_own_samples_in_both_backends(exported, tmp_path):
    # the same 1.5 s of audio, scanned alone and as the start of a longer file's
    # first window cut by hand: the short file's padding must not matter
    directory = exported[0]
    rng = np.random.default_rng(5)
    audio = (0.003 * rng.standard_normal(int(1.5 * 32000))).astype(np.float32)
    path = write_audio(tmp_path / "short.wav", audio, 32000)
    torch_result = Detector(directory, backend="torch").scan_file(path)
    onnx_result = Detector(directory, backend="onnx").scan_file(path)
    assert torch_result.status == onnx_result.status == "ok"
    assert torch_result.windows[0].end == pytest.approx(1.5, abs=1e-3)
    assert abs(torch_result.probability - onnx_result.probability) < 1e-3
    import torch

    from audio_artifacts.models.model_dir import load_model_dir

    model, _ = load_model_dir(directory)
    window = np.concatenate([audio, rng.uniform(-1, 1, 160000 - audio.size).astype(np.float32)])
    with torch.inference_mode():
        logit = model(torch.from_numpy(window[None]), torch.tensor([audio.size]))
    assert float(torch.sigmoid(logit)) == pytest.approx(torch_result.probability, abs=1e-4)


def test_a_recording_below_the_models_minimum_is_an_error_row_not_a_guess(detector, tmp_path):
    tiny = write_audio(tmp_path / "blip.wav", np.full(4000, 0.01, dtype=np.float32), 16000)  # 0.25 s
    ok = write_audio(tmp_path / "beep.wav", np.full(9600, 0.01, dtype=np.float32), 16000)  # 0.6 s
    first, second = detector.scan_many([tiny, ok])
    assert first.status == "error" and "0.250 s" in first.error and "at least 0.5 s" in first.error
    assert str(tiny) in first.error and first.duration_s == pytest.approx(0.25)
    assert second.status == "ok" and len(second.windows) == 1
