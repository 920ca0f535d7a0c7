"""Windowing rule: starts, end alignment, padding, times, streaming equals in-memory."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audio_artifacts.windows import Window, WindowSpec, iter_windows, window_starts, windows_of

# Small rates and durations keep windows a few hundred samples long, so hypothesis explores
# many cases quickly; the rule does not depend on scale.
rates = st.integers(min_value=1, max_value=400)
durations = st.floats(min_value=0.01, max_value=3.0, allow_nan=False)
overlaps = st.floats(min_value=0.0, max_value=0.95, allow_nan=False)
lengths = st.integers(min_value=0, max_value=3000)


def specs_and_rate():
    return st.tuples(durations, overlaps, rates).map(lambda t: (WindowSpec(t[0], t[1]), t[2]))


def expected_count(n: int, size: int, hop: int) -> int:
    if n == 0:
        return 0
    if n <= size:
        return 1
    return (n - size) // hop + 1 + (1 if (n - size) % hop else 0)


@settings(max_examples=300, deadline=None)
@given(specs_and_rate(), lengths)
def test_window_starts_cover_every_sample_with_the_count_formula(spec_rate, n):
    spec, rate = spec_rate
    size, hop = spec.window_samples(rate), spec.hop_samples(rate)
    starts = window_starts(n, spec, rate)
    assert starts.dtype == np.int64
    assert len(starts) == expected_count(n, size, hop)
    if n == 0:
        return
    assert starts[0] == 0
    assert np.all(np.diff(starts) > 0)
    assert starts[-1] == max(0, n - size)  # the last window reaches the end (or the recording is short)
    # Regular hops, except possibly the final end-aligned step which is shorter.
    steps = np.diff(starts)
    assert np.all(steps[:-1] == hop) and (steps.size == 0 or 0 < steps[-1] <= hop)
    covered = np.zeros(n, dtype=bool)
    for s in starts:
        covered[s : s + size] = True
    assert covered.all()


@settings(max_examples=200, deadline=None)
@given(specs_and_rate(), lengths, st.integers(0, 2**32 - 1))
def test_window_contents_and_times(spec_rate, n, seed):
    spec, rate = spec_rate
    size = spec.window_samples(rate)
    signal = np.random.default_rng(seed).standard_normal(n).astype(np.float32)
    windows = windows_of(signal, spec, rate)
    starts = window_starts(n, spec, rate)
    assert [w.index for w in windows] == list(range(len(starts)))
    for w, s in zip(windows, starts):
        assert isinstance(w, Window)
        assert w.samples.dtype == np.float32 and w.samples.shape == (size,)
        real = min(size, n - s)
        assert w.start_s == pytest.approx(s / rate)
        assert w.end_s == pytest.approx((s + real) / rate)
        assert w.end_s <= w.start_s + spec.duration_s + 1.0 / rate
        np.testing.assert_array_equal(w.samples[:real], signal[s : s + real])
        assert not w.samples[real:].any()  # zero padding only after the real audio
    if n:
        assert windows[-1].end_s == pytest.approx(n / rate)  # the tail is examined


@settings(max_examples=200, deadline=None)
@given(specs_and_rate(), lengths, st.lists(st.integers(0, 400), max_size=40), st.integers(0, 2**32 - 1))
def test_streaming_equals_whole_signal_for_any_block_sizes(spec_rate, n, cuts, seed):
    spec, rate = spec_rate
    signal = np.random.default_rng(seed).standard_normal(n).astype(np.float32)
    # arbitrary block boundaries, including empty blocks and one-sample blocks
    edges = sorted(min(c * 7, n) for c in cuts)
    blocks = np.split(signal, edges)
    whole = windows_of(signal, spec, rate)
    streamed = list(iter_windows(iter(blocks), spec, rate))
    assert len(streamed) == len(whole)
    for a, b in zip(whole, streamed):
        assert (a.index, a.start_s, a.end_s) == (b.index, b.start_s, b.end_s)
        np.testing.assert_array_equal(a.samples, b.samples)


@settings(max_examples=100, deadline=None)
@given(specs_and_rate(), st.integers(1, 3000), st.integers(1, 97))
def test_iter_windows_is_lazy_and_holds_about_one_window(spec_rate, n, block):
    """A window is yielded as soon as its samples arrived: never the whole recording first."""
    spec, rate = spec_rate
    size = spec.window_samples(rate)
    consumed = 0

    def blocks():
        nonlocal consumed
        for start in range(0, n, block):
            piece = np.ones(min(block, n - start), dtype=np.float32)
            consumed += piece.size
            yield piece

    for w in iter_windows(blocks(), spec, rate):
        start = round(w.start_s * rate)
        if start + size <= n:  # a full window: at most one block read past its end
            assert consumed < start + size + block


def test_default_spec_at_32k_matches_the_contract():
    spec = WindowSpec()
    assert (spec.duration_s, spec.overlap, spec.hop_s()) == (5.0, 0.25, 3.75)
    assert spec.window_samples(32000) == 160000 and spec.hop_samples(32000) == 120000
    # 12 s: windows at 0 and 3.75 s fit; 7.5 s would end at 12.5 s, so the last is aligned to 12 - 5 = 7 s
    starts = window_starts(32000 * 12, spec, 32000)
    assert (starts / 32000).tolist() == [0.0, 3.75, 7.0]
    # exactly 5 s + k hops: no extra window
    assert (window_starts(32000 * 12500 // 1000 + 0, spec, 32000) / 32000).tolist() == [0.0, 3.75, 7.5]


def test_short_recording_gives_one_zero_padded_window():
    rate = 32000
    signal = np.full(3 * rate, 0.5, dtype=np.float32)
    (w,) = windows_of(signal, WindowSpec(), rate)
    assert (w.index, w.start_s, w.end_s) == (0, 0.0, 3.0)
    assert w.samples.shape == (5 * rate,)
    assert np.all(w.samples[: 3 * rate] == 0.5) and not w.samples[3 * rate :].any()
    (s,) = list(iter_windows([signal[:1000], signal[1000:]], WindowSpec(), rate))
    np.testing.assert_array_equal(s.samples, w.samples)


def test_empty_input_gives_no_windows():
    assert windows_of(np.zeros(0, np.float32), WindowSpec(), 32000) == []
    assert list(iter_windows([], WindowSpec(), 32000)) == []
    assert list(iter_windows([np.zeros(0, np.float32)], WindowSpec(), 32000)) == []


def test_window_samples_are_copies_not_views_of_the_stream():
    signal = np.arange(100, dtype=np.float32)
    windows = list(iter_windows([signal[:50], signal[50:]], WindowSpec(1.0, 0.5), 20))
    signal[:] = -1
    assert windows[0].samples[0] == 0 and windows[-1].samples[-1] == 99


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"duration_s": 0.0}, "duration_s"),
        ({"duration_s": -1.0}, "duration_s"),
        ({"duration_s": math.inf}, "duration_s"),
        ({"duration_s": math.nan}, "duration_s"),
        ({"overlap": -0.1}, "overlap"),
        ({"overlap": 1.0}, "overlap"),
        ({"overlap": 1.5}, "overlap"),
        ({"overlap": math.nan}, "overlap"),
        ({"duration_s": "5"}, "duration_s"),
    ],
)
def test_spec_arguments_are_validated(kwargs, match):
    with pytest.raises(ValueError, match=match):
        WindowSpec(**kwargs)


def test_other_arguments_are_validated():
    spec = WindowSpec()
    with pytest.raises(ValueError, match="sample_rate"):
        spec.window_samples(0)
    with pytest.raises(ValueError, match="n_samples"):
        window_starts(-1, spec, 32000)
    with pytest.raises(ValueError, match="mono"):
        windows_of(np.zeros((10, 2)), spec, 32000)
    with pytest.raises(ValueError, match="mono"):
        list(iter_windows([np.zeros((10, 2))], spec, 32000))
