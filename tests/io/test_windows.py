"""Windowing rule: starts, end alignment, padding, streaming equals in-memory."""

from __future__ import annotations

import numpy as np

from audio_artifacts.windows import WindowSpec, iter_windows, window_starts, windows_of


def test_smoke_default_spec_at_32k():
    spec = WindowSpec()
    assert spec.window_samples(32000) == 160000 and spec.hop_samples(32000) == 120000
    starts = window_starts(32000 * 12, spec, 32000)
    assert starts.tolist() == [0, 120000, 224000]


def test_smoke_stream_equals_memory():
    signal = np.random.default_rng(0).standard_normal(1234).astype(np.float32)
    spec = WindowSpec(1.0, 0.25)
    whole = windows_of(signal, spec, 100)
    streamed = list(iter_windows(np.array_split(signal, 17), spec, 100))
    assert len(whole) == len(streamed)
    for a, b in zip(whole, streamed):
        assert (a.index, a.start_s, a.end_s) == (b.index, b.start_s, b.end_s)
        assert np.array_equal(a.samples, b.samples)
