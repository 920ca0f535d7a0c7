"""Each measure on synthetic signals of known parameters: lines, combs, periods, crossings."""

from __future__ import annotations

import numpy as np
import pytest

from audio_artifacts.explain.lines import (
    Line,
    find_comb,
    pick_lines,
    report_frequencies,
)
from audio_artifacts.explain.periods import (
    autocorrelation_period,
    band_envelope,
    interval_period,
)
from audio_artifacts.explain.spectra import fine_frame, stft_power
from audio_artifacts.explain.timing import crossing_span

RATE = 48000


def _spectrum(signal: np.ndarray, rate: int = RATE) -> tuple[np.ndarray, float]:
    frame = fine_frame(rate)
    return np.median(stft_power(signal, frame, frame // 4), axis=0), rate / frame


@pytest.mark.parametrize("freq", [157.3, 2000.0, 3300.0, 12000.0])
def test_a_line_is_found_within_a_fraction_of_a_bin(freq: float) -> None:
    rng = np.random.default_rng(1)
    t = np.arange(4 * RATE) / RATE
    spectrum, resolution = _spectrum(1e-3 * rng.standard_normal(t.size) + 3e-3 * np.sin(2 * np.pi * freq * t))
    lines, _ = pick_lines(spectrum, resolution)
    assert len(lines) == 1, lines
    assert abs(lines[0].frequency_hz - freq) < 0.3 * resolution
    assert lines[0].prominence_db > 20


def test_noise_alone_has_no_lines() -> None:
    spectrum, resolution = _spectrum(np.random.default_rng(2).standard_normal(4 * RATE))
    assert pick_lines(spectrum, resolution)[0] == []


@pytest.mark.parametrize("f0", [216.68, 100.0, 50.0, 25.0])
def test_a_pulse_train_comb_gives_its_fundamental_first(f0: float) -> None:
    rng = np.random.default_rng(3)
    t = np.arange(4 * RATE) / RATE
    pulses = ((t * f0) % 1.0 < 0.1).astype(float)
    spectrum, resolution = _spectrum(1e-3 * rng.standard_normal(t.size) + 0.01 * (pulses - pulses.mean()))
    lines, _ = pick_lines(spectrum, resolution)
    comb = find_comb(lines, resolution)
    assert comb is not None and len(comb.harmonics) >= 10
    assert comb.fundamental_hz == pytest.approx(f0, rel=0.002)
    reported = report_frequencies(lines, comb, 12)
    assert reported[0] == comb.fundamental_hz and len(reported) == 12
    assert list(reported[1:]) == sorted(reported[1:])


def test_a_tone_beside_a_comb_is_not_crowded_out() -> None:
    comb_lines = [Line(217.0 * k, 30.0) for k in range(1, 40)]
    tone = Line(3150.0, 12.0)
    comb = find_comb([*comb_lines, tone], 3.0)
    assert comb is not None and comb.fundamental_hz == pytest.approx(217.0)
    assert 3150.0 in report_frequencies(sorted([*comb_lines, tone], key=lambda x: x.frequency_hz), comb, 12)


@pytest.mark.parametrize("period", [0.05, 0.23, 0.8, 1.25])
def test_envelope_period_of_an_impulse_train_within_one_percent(period: float) -> None:
    rng = np.random.default_rng(4)
    x = 1e-3 * rng.standard_normal(10 * RATE)
    k = np.arange(200)
    for start in np.arange(0.3, 9.5, period):
        i = int(start * RATE)
        x[i:i + 200] += 0.05 * np.exp(-k / 40.0) * np.sin(2 * np.pi * 1000 * k / RATE)
    envelope = band_envelope(x, RATE, (500.0, 2000.0))
    found = autocorrelation_period(envelope, 500, 0.04, 1.5)
    assert found is not None and found.period_s == pytest.approx(period, rel=0.01)


def test_interval_period_needs_a_regular_train() -> None:
    assert interval_period(np.arange(0.0, 5.0, 0.8)).period_s == pytest.approx(0.8)
    assert interval_period(np.array([0.0, 0.3, 1.9, 2.0, 4.5])) is None


def test_crossing_span_interpolates_between_frames() -> None:
    times = np.arange(10, dtype=float)
    track = np.array([0, 0, 0, 10, 20, 20, 20, 10, 0, 0], dtype=float)
    assert crossing_span(track, times, 15.0) == pytest.approx((3.5, 6.5))
    assert crossing_span(track, times, 25.0) is None
    assert crossing_span(np.full(4, 20.0), np.arange(4.0), 10.0, edge_s=0.5) == (-0.5, 3.5)


def test_a_regular_train_keeps_its_period_whatever_the_type_and_scattered_clicks_get_none() -> None:
    from audio_artifacts.explain.measure import EventAudio, analyse, describe_fields

    rate = 32000
    rng = np.random.default_rng(3)

    def analysis_of(onsets):
        x = 1e-3 * rng.standard_normal(10 * rate)
        for t in onsets:
            x[int(t * rate):int(t * rate) + 100] += 0.05 * np.hanning(100)
        return analyse(EventAudio(x.astype(np.float32), rate, 0.0, (0.0, 10.0)))

    train = analysis_of(np.arange(1.1, 9.5, 0.8))
    fields = describe_fields(train, "clicks")  # a head that calls the train clicks still gets its period
    assert fields.period_s == pytest.approx(0.8, rel=0.02)
    scattered = analysis_of([1.0, 2.9, 3.6, 7.4])
    assert describe_fields(scattered, "clicks").period_s is None


def test_a_buzz_under_a_dense_line_field_keeps_its_fundamental_not_a_sub_multiple() -> None:
    f0 = 216.68
    buzz = [Line(f0 * k, p) for k, p in zip(range(1, 7), (59.0, 49.0, 40.0, 31.0, 23.0, 13.0))]
    # 7.8-16 kHz: weak harmonics and their images folded at 16 kHz (a 32 kHz file made without an
    # anti-alias filter) fall on every third of f0: a dense field that a sub-multiple explains best
    field = [Line(f0 / 3 * k, 12.0 + (k % 7) * 2) for k in range(108, 221)]
    comb = find_comb(sorted([*buzz, *field], key=lambda x: x.frequency_hz), 1.95)
    assert comb is not None and comb.fundamental_hz == pytest.approx(f0, rel=1e-3)
    # a true low comb, every harmonic as strong as the next, stays low
    low = find_comb([Line(72.2 * k, 30.0 - k) for k in range(1, 20)], 1.95)
    assert low is not None and low.fundamental_hz == pytest.approx(72.2, rel=1e-3)


def test_ticks_under_loud_noise_are_a_train_in_their_own_band() -> None:
    from audio_artifacts.explain.measure import EventAudio, analyse, describe_fields

    rate = 32000
    rng = np.random.default_rng(8)
    t = np.arange(12 * rate) / rate
    # a loud, slowly gated low noise (a stimulus) and 4 kHz ticks every 0.62 s, 12 dB over the noise there
    noise = rng.standard_normal(t.size) * (0.05 + 0.04 * np.sin(2 * np.pi * 0.7 * t))
    from scipy.signal import butter, sosfilt

    x = sosfilt(butter(2, 1500 / (rate / 2), output="sos"), noise) + 1e-3 * rng.standard_normal(t.size)
    k = np.arange(96)
    for onset in np.arange(0.4, 11.6, 0.62):
        i = int(onset * rate)
        x[i:i + 96] += 0.04 * np.hanning(96) * np.sin(2 * np.pi * 4000 * k / rate)
    analysis = analyse(EventAudio(x.astype(np.float32), rate, 0.0, (0.0, 12.0)))
    assert analysis.band_train is not None and analysis.band_train.period_s == pytest.approx(0.62, rel=0.02)
    for kind in ("periodic_ticks", "clicks"):
        assert describe_fields(analysis, kind).period_s == pytest.approx(0.62, rel=0.02)
    ticks = describe_fields(analysis, "periodic_ticks")  # from the first tick to the last, not the noise's swells
    last = 0.4 + 0.62 * (len(np.arange(0.4, 11.6, 0.62)) - 1)
    assert abs(ticks.start - 0.4) <= 0.1 and abs(ticks.end - (last + 0.003)) <= 0.1


def test_a_click_under_a_syllabic_stimulus_is_placed_by_its_own_band() -> None:
    from scipy.signal import butter, sosfilt

    from audio_artifacts.explain.measure import EventAudio, analyse, describe_fields

    rate = 32000
    rng = np.random.default_rng(12)
    t = np.arange(10 * rate) / rate
    # syllables: low-passed noise switched on and off every 0.25 s (onsets all through the span)
    gate = (np.floor(t / 0.25) % 2 == 0) * (0.5 + 0.5 * rng.random(int(10 / 0.25) + 1)[np.floor(t / 0.25).astype(int)])
    x = sosfilt(butter(4, 2500 / (rate / 2), output="sos"), rng.standard_normal(t.size)) * 0.1 * gate
    x += 1e-3 * rng.standard_normal(t.size)
    click = int(6.2 * rate)
    x[click:click + 48] += 0.05 * np.hanning(48) * np.sin(2 * np.pi * 6000 * np.arange(48) / rate)
    analysis = analyse(EventAudio(x.astype(np.float32), rate, 0.0, (3.75, 10.0)))
    fields = describe_fields(analysis, "clicks")
    assert abs(fields.start - 6.2) <= 0.1 and abs(fields.end - 6.2015) <= 0.1
