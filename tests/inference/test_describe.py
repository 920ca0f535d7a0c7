"""Events described from real WAV files with known tones, combs, ticks and clicks at known times."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from audio_artifacts.audio import write_audio
from audio_artifacts.inference.describe import EventDescriber

RATE = 48000


def _floor(seconds: float, seed: int) -> np.ndarray:
    return 1e-3 * np.random.default_rng(seed).standard_normal(int(seconds * RATE))


def _write(folder: Path, name: str, samples: np.ndarray) -> Path:
    return write_audio(folder / name, samples.astype(np.float32), RATE, "PCM_24")


@pytest.fixture(scope="module")
def recordings(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("described")
    t10 = np.arange(10 * RATE) / RATE
    found = {}
    x = _floor(10, 1) + 0.01 * np.sin(2 * np.pi * 1000 * t10) * ((t10 >= 4.0) & (t10 < 7.0))
    found["tone_4_7"] = _write(folder, "tone_4_7.wav", x)
    x = _floor(10, 2)
    k = np.arange(400)
    x[int(6.2 * RATE):int(6.2 * RATE) + 400] += 0.3 * np.exp(-k / 40) * np.sin(2 * np.pi * 2000 * k / RATE)
    found["click_6.2"] = _write(folder, "click_6.2.wav", x)
    t90 = np.arange(90 * RATE) / RATE
    found["tone_from_60"] = _write(folder, "tone_from_60.wav",
                                   _floor(90, 3) + 0.01 * np.sin(2 * np.pi * 3000 * t90) * (t90 >= 60.0))
    t55 = np.arange(55 * RATE) / RATE
    found["whine_5_50"] = _write(folder, "whine_5_50.wav",
                                 _floor(55, 7) + 0.01 * np.sin(2 * np.pi * 2500 * t55) * ((t55 >= 5.0) & (t55 < 50.0)))
    t20 = np.arange(20 * RATE) / RATE
    found["whine_12k"] = _write(folder, "whine_12k.wav", _floor(20, 4) + 0.003 * np.sin(2 * np.pi * 12000 * t20))
    bursts = ((t20 % 0.004615) < 0.004615 / 8).astype(float)
    found["tdma_3_17"] = _write(folder, "tdma_3_17.wav",
                                _floor(20, 5) + 0.003 * (bursts - bursts.mean()) * ((t20 >= 3.0) & (t20 < 17.0)))
    x = _floor(10, 6)
    for start in np.arange(1.1, 9.5, 0.8):
        x[int(start * RATE):int(start * RATE) + 100] += 0.05 * np.hanning(100)
    found["ticks_0.8"] = _write(folder, "ticks_0.8.wav", x)
    return found


@pytest.fixture(scope="module")
def describer() -> EventDescriber:
    return EventDescriber(None)  # no type head: measurement only


def test_tone_times_and_frequency_from_a_coarse_span(recordings, describer) -> None:
    d = describer.describe_span(recordings["tone_4_7"], 3.75, 10.0, 10.0)  # as the windows flag it
    assert abs(d.start - 4.0) <= 0.5 and abs(d.end - 7.0) <= 0.5, d
    assert len(d.frequencies_hz) == 1 and abs(d.frequencies_hz[0] - 1000.0) <= 2.0
    assert d.type is None and d.type_probabilities == ()  # no type head: no type
    assert d.period_s is None and d.level_db > 20
    assert d.band_hz[0] <= 1000.0 <= d.band_hz[1] and d.band_hz[1] - d.band_hz[0] < 50


def test_single_click_within_a_tenth_of_a_second(recordings, describer) -> None:
    d = describer.describe_span(recordings["click_6.2"], 3.75, 10.0, 10.0)
    assert abs(d.start - 6.2) <= 0.1 and abs(d.end - 6.2) <= 0.1, d
    assert d.frequencies_hz == () and d.period_s is None


def test_tone_starting_at_60_s_of_a_long_file(recordings, describer) -> None:
    d = describer.describe_span(recordings["tone_from_60"], 56.25, 90.0, 90.0)
    assert abs(d.start - 60.0) <= 0.5 and d.end >= 89.5, d
    assert abs(d.frequencies_hz[0] - 3000.0) <= 2.0


def test_a_long_event_is_measured_at_its_edges_and_keeps_both_ends(recordings, describer) -> None:
    from audio_artifacts.inference.describe import EDGE_S, LONG_EVENT_S, MARGIN_S

    start, end = 3.75, 52.0  # as the windows flag a whine from 5 to 50 s
    assert end - start + 2 * MARGIN_S > LONG_EVENT_S >= 2 * (EDGE_S + 2 * MARGIN_S)  # edges cost no more than the whole
    d = describer.describe_span(recordings["whine_5_50"], start, end, 55.0)
    assert abs(d.start - 5.0) <= 0.5 and abs(d.end - 50.0) <= 0.5, d
    assert abs(d.frequencies_hz[0] - 2500.0) <= 2.0 and d.level_db > 20


@pytest.mark.parametrize("rate", [48000, 16000])
def test_a_steady_tone_level_is_its_power_over_the_floor_in_its_third_octave(tmp_path, describer, rate) -> None:
    from audio_artifacts.simulate.levels import analysis_bands

    t = np.arange(10 * rate) / rate
    noise, amplitude = 1e-3, 0.01
    x = noise * np.random.default_rng(8).standard_normal(t.size) + amplitude * np.sin(2 * np.pi * 1000 * t)
    path = write_audio(tmp_path / "tone.wav", x.astype(np.float32), rate, "PCM_24")
    low, high = next(band for band in analysis_bands(rate) if band[0] <= 1000 < band[1])
    # the simulator's level: the tone's power over white noise's power in the same third octave
    expected = 10 * np.log10((amplitude**2 / 2) / (noise**2 * 2 * (high - low) / rate))
    d = describer.describe_span(path, 0.0, 10.0, 10.0)
    assert d.level_db == pytest.approx(expected, abs=1.5), (d.level_db, expected)


def test_a_12_khz_whine_of_a_48_khz_file_is_measured_at_its_own_rate(recordings, describer) -> None:
    d = describer.describe_span(recordings["whine_12k"], 0.0, 20.0, 20.0)
    assert abs(d.frequencies_hz[0] - 12000.0) <= 2.0 and d.band_hz[1] > 11000


def test_tdma_comb_fundamental_first_and_period(recordings, describer) -> None:
    d = describer.describe_span(recordings["tdma_3_17"], 0.0, 20.0, 20.0)
    assert d.frequencies_hz[0] == pytest.approx(1 / 0.004615, rel=0.005)
    assert len(d.frequencies_hz) == 12
    assert d.period_s == pytest.approx(0.004615, rel=0.005)
    assert abs(d.start - 3.0) <= 0.5 and abs(d.end - 17.0) <= 0.5, d


def test_ticks_period_within_five_percent(recordings, describer) -> None:
    d = describer.describe_span(recordings["ticks_0.8"], 0.0, 10.0, 10.0)
    assert d.period_s == pytest.approx(0.8, rel=0.05)
    assert abs(d.start - 1.1) <= 0.1 and abs(d.end - (1.1 + 0.8 * 10)) <= 0.15, d


def test_detector_without_type_head_measures_and_round_trips(recordings, tiny_model_dir, tmp_path) -> None:
    """A model directory without type_head.json: frequencies, times and level by measurement, type null."""
    from audio_artifacts.inference.detector import Detector
    from audio_artifacts.results.schema import ScanResult
    from audio_artifacts.results.writers import (
        CsvSummaryWriter,
        JsonlWriter,
        read_jsonl,
    )

    assert not (tiny_model_dir / "type_head.json").exists()
    result = Detector(tiny_model_dir, backend="torch", threshold=0.0).scan_file(recordings["tone_4_7"])
    (event,) = result.events  # every window flagged: one event over the whole file, narrowed to the tone
    assert abs(event.start - 4.0) <= 0.5 and abs(event.end - 7.0) <= 0.5
    assert event.type is None and abs(event.frequencies_hz[0] - 1000.0) <= 2.0 and event.level_db > 20
    with JsonlWriter(tmp_path / "rows.jsonl") as writer:
        writer.write(result)
    assert read_jsonl(tmp_path / "rows.jsonl") == [result]
    assert ScanResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result
    with CsvSummaryWriter(tmp_path / "rows.csv") as writer:
        writer.write(result)
    (row,) = CsvSummaryWriter.read_rows(tmp_path / "rows.csv")
    assert row["events"] == event.summary() and row["events"].startswith(f"{event.start:.2f}-{event.end:.2f} s")
    assert "1000 Hz" in row["events"] and row["event_types"] == ""
    plain = Detector(tiny_model_dir, backend="torch", threshold=0.0, describe=False).scan_file(recordings["tone_4_7"])
    assert (plain.events[0].start, plain.events[0].end) == (0.0, 10.0)  # what the windows alone say


def test_bundled_model_names_the_kind_and_times_of_a_new_users_cases(recordings) -> None:
    """The bundled model with its type head, end to end: detection, then description."""
    from audio_artifacts.inference.detector import Detector

    detector = Detector()
    assert detector.describer.head is not None  # the bundled model ships type_head.json
    tone, buzz = detector.scan_many([recordings["tone_4_7"], recordings["tdma_3_17"]])
    (event,) = tone.events
    assert event.type == "tonal" and abs(event.start - 4.0) <= 0.5 and abs(event.end - 7.0) <= 0.5
    assert dict(event.type_probabilities)["tonal"] == max(p for _, p in event.type_probabilities)
    (event,) = buzz.events
    assert event.type == "tdma_buzz" and event.period_s == pytest.approx(0.004615, rel=0.005)


def test_describing_on_threads_gives_the_rows_of_one_thread_in_input_order(recordings, tiny_model_dir) -> None:
    """Two workers describe flagged recordings beside the model; rows equal and in order as with one."""
    from audio_artifacts.inference.detector import Detector

    paths = [recordings[name] for name in ("tone_4_7", "click_6.2", "tdma_3_17", "ticks_0.8", "tone_4_7")]
    one = list(Detector(tiny_model_dir, backend="torch", threshold=0.0, workers=1, threads=2).scan_many(paths))
    two = Detector(tiny_model_dir, backend="torch", threshold=0.0, workers=2, threads=2)
    got = list(two.scan_many(paths))
    assert [r.path for r in got] == [str(p) for p in paths]
    assert all(r.events for r in got)  # every window flagged: every row was described
    from dataclasses import replace

    def described(rows):  # the probability's last bits follow the model's thread count
        return [[replace(e, probability=round(e.probability, 5)) for e in r.events] for r in rows]

    assert described(got) == described(one)
    results = two.scan_many(paths)
    assert next(results).path == str(paths[0])
    results.close()  # a scan stopped early leaves no thread behind that blocks


def _logistic_head(names, winner: str, weight_on: str | None = None):
    """A plain logistic type head: ``winner`` wins by its bias, or by a large weight on feature ``weight_on``."""
    from audio_artifacts.explain.type_head import TypeHead
    from audio_artifacts.results.schema import EVENT_TYPES

    d, t = len(names), len(EVENT_TYPES)
    weights, bias = np.zeros((d, t)), np.full(t, -4.0)
    if weight_on is None:
        bias[EVENT_TYPES.index(winner)] = 4.0
    else:
        weights[list(names).index(weight_on), EVENT_TYPES.index(winner)] = 40.0
    return TypeHead(tuple(names), EVENT_TYPES, np.zeros(d), np.ones(d), np.zeros((d, 0)), np.zeros(0), weights, bias)


def test_the_detector_head_reads_what_the_detector_saw_and_onnx_falls_back(recordings, exported, tmp_path) -> None:
    """type_head_detector.json is used with the torch model's embedding; without one, type_head.json is."""
    import shutil

    from audio_artifacts.explain.measure import FEATURE_NAMES
    from audio_artifacts.explain.type_head import DETECTOR_TYPE_HEAD_FILE
    from audio_artifacts.inference.describe import DetectorView, detector_feature_names
    from audio_artifacts.inference.detector import Detector

    model_dir = tmp_path / "model"
    shutil.copytree(exported[0], model_dir)
    torch_detector = Detector(model_dir, backend="torch", threshold=0.0)
    size = torch_detector.backend.embedding_size
    assert size == torch_detector.backend.model.head[0].in_features
    names = (*FEATURE_NAMES, *detector_feature_names(size))
    _logistic_head(FEATURE_NAMES, "clicks").save(model_dir)
    _logistic_head(names, "tonal", weight_on="detector_probability").save(model_dir, DETECTOR_TYPE_HEAD_FILE)

    detector = Detector(model_dir, backend="torch", threshold=0.0)
    assert isinstance(detector.describer.detector, DetectorView)
    (event,) = detector.scan_file(recordings["tone_4_7"]).events
    from audio_artifacts.inference.describe import read_span

    seen = detector.describer.detector.features(read_span(recordings["tone_4_7"], 0.0, 10.0, 10.0))
    assert seen.shape == (2 * size + 1,) and 0.0 < seen[-1] <= 1.0
    assert event.type == "tonal"  # the detector's probability drives the detector head
    assert dict(event.type_probabilities)["tonal"] == pytest.approx(
        1 / (1 + np.exp(4.0 - 40.0 * seen[-1])), abs=1e-4)

    onnx = Detector(model_dir, backend="onnx", threshold=0.0)
    assert onnx.describer.detector is None
    (event,) = onnx.scan_file(recordings["tone_4_7"]).events
    assert event.type == "clicks"  # the measured head's bias: no embedding from ONNX Runtime
