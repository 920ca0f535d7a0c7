"""Metrics against hand-computed small cases and against their defining properties."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audio_artifacts.evaluation import metrics as m

LABELS = [0, 0, 1, 1]
SCORES = [0.1, 0.4, 0.35, 0.8]


def test_counts_at_threshold_by_hand():
    at = m.metrics_at_threshold(LABELS, SCORES, 0.3)
    # predicted positive: 0.4 (neg), 0.35 (pos), 0.8 (pos)
    assert (at.tp, at.fp, at.tn, at.fn) == (2, 1, 1, 0)
    assert at.precision == pytest.approx(2 / 3)
    assert at.recall == 1.0
    assert at.f1 == pytest.approx(0.8)
    assert at.accuracy == 0.75
    assert m.confusion_matrix(LABELS, SCORES, 0.3).tolist() == [[1, 1], [0, 2]]


def test_threshold_is_inclusive():
    at = m.metrics_at_threshold([1, 0], [0.5, 0.2], 0.5)
    assert at.tp == 1 and at.fp == 0


def test_no_predicted_positives_gives_zero_not_nan():
    at = m.metrics_at_threshold(LABELS, SCORES, 2.0)
    assert (at.precision, at.recall, at.f1) == (0.0, 0.0, 0.0)


def test_auc_and_ap_by_hand():
    # positives 0.35, 0.8 vs negatives 0.1, 0.4: 3 of 4 pairs ordered correctly
    assert m.roc_auc(LABELS, SCORES) == pytest.approx(0.75)
    # descending: P@R=.5 is 1, then P@R=1 is 2/3 -> .5*1 + .5*2/3
    assert m.average_precision(LABELS, SCORES) == pytest.approx(0.5 + 1 / 3)


def test_roc_curve_points_by_hand():
    fpr, tpr, thr = m.roc_curve(LABELS, SCORES)
    np.testing.assert_allclose(fpr, [0, 0, 0.5, 0.5, 1])
    np.testing.assert_allclose(tpr, [0, 0.5, 0.5, 1, 1])
    assert thr[0] == np.inf
    np.testing.assert_allclose(thr[1:], [0.8, 0.4, 0.35, 0.1])


def test_pr_curve_points_by_hand():
    precision, recall, thr = m.precision_recall_curve(LABELS, SCORES)
    np.testing.assert_allclose(precision, [1, 1, 0.5, 2 / 3, 0.5])
    np.testing.assert_allclose(recall, [0, 0.5, 0.5, 1, 1])
    assert thr.shape == precision.shape


def test_ties_in_scores_count_half_in_auc():
    assert m.roc_auc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)
    assert m.roc_auc([0, 1, 1], [0.2, 0.2, 0.9]) == pytest.approx(0.75)
    # constant scores: AP is the positive fraction
    assert m.average_precision([0, 1, 1, 0, 0], [3.0] * 5) == pytest.approx(0.4)


def test_best_threshold_by_hand():
    # F1 by cut: 0.8 -> 2/3, 0.4 -> 1/2, 0.35 -> 4/5, 0.1 -> 2/3; best cut 0.35,
    # placed midway to the next lower score 0.1
    assert m.best_threshold(LABELS, SCORES) == pytest.approx(0.225)


def test_best_threshold_tie_prefers_higher_cut():
    labels = [1, 1, 0, 0, 0, 0, 1, 1]
    scores = [0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1]
    # cut at 0.7: tp 2 fp 0 fn 2 -> F1 2/3; cut at 0.1: tp 4 fp 4 -> F1 2/3
    t = m.best_threshold(labels, scores)
    assert t == pytest.approx(0.65)
    assert m.metrics_at_threshold(labels, scores, t).f1 == pytest.approx(2 / 3)


def test_best_threshold_at_lowest_score_returns_it():
    assert m.best_threshold([1, 1], [0.3, 0.9]) == pytest.approx(0.3)


def test_best_threshold_separates_perfect_scores():
    labels = [0, 0, 0, 1, 1]
    scores = [0.1, 0.2, 0.3, 0.7, 0.9]
    t = m.best_threshold(labels, scores)
    assert t == pytest.approx(0.5)
    assert m.metrics_at_threshold(labels, scores, t).f1 == 1.0


def test_one_class_gives_nan_curves_and_threshold_error():
    assert math.isnan(m.roc_auc([1, 1], [0.2, 0.3]))
    assert math.isnan(m.average_precision([0, 0], [0.2, 0.3]))
    assert not math.isnan(m.average_precision([1, 1], [0.2, 0.3]))
    with pytest.raises(ValueError, match="positive"):
        m.best_threshold([0, 0, 0], [0.1, 0.2, 0.3])


@pytest.mark.parametrize(
    "labels, scores, match",
    [
        ([0, 1], [0.1], "differ in length"),
        ([0, 2], [0.1, 0.2], "0 or 1"),
        ([0, 1], [0.1, float("nan")], "NaN"),
        ([], [], "empty"),
        ([[0, 1]], [[0.1, 0.2]], "1-D"),
    ],
)
def test_bad_inputs_raise_value_errors(labels, scores, match):
    with pytest.raises(ValueError, match=match):
        m.roc_auc(labels, scores)


def test_perfect_reversed_and_random_auc():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, size=4000)
    perfect = labels + rng.uniform(0, 0.5, size=labels.size)
    assert m.roc_auc(labels, perfect) == 1.0
    assert m.average_precision(labels, perfect) == 1.0
    assert m.roc_auc(labels, -perfect) == 0.0
    random_auc = m.roc_auc(labels, rng.uniform(size=labels.size))
    assert abs(random_auc - 0.5) < 0.03


def test_binary_report_is_json_with_nulls_for_undefined():
    report = m.binary_report([1, 1, 1], [0.1, 0.5, 0.9], 0.4)
    text = json.dumps(report)
    assert json.loads(text)["roc_auc"] is None
    assert report["tp"] == 2 and report["fn"] == 1 and report["n"] == 3
    full = m.binary_report(LABELS, SCORES, 0.3)
    assert full["roc_auc"] == pytest.approx(0.75)
    assert full["confusion_matrix"] == [[1, 1], [0, 2]]


def test_max_by_recording_keeps_first_appearance_order():
    ids = ["b", "a", "b", "a", "c"]
    scores = [0.2, 0.9, 0.7, 0.1, -3.0]
    assert list(m.max_by_recording(ids, scores).items()) == [("b", 0.7), ("a", 0.9), ("c", -3.0)]
    with pytest.raises(ValueError, match="one score per window"):
        m.max_by_recording(["a"], [0.1, 0.2])


# --- properties against brute-force definitions ------------------------------------

binary_samples = st.lists(
    st.tuples(st.integers(0, 1), st.integers(0, 6).map(lambda v: v / 6)),  # ties are likely
    min_size=2, max_size=30,
).filter(lambda rows: len({r[0] for r in rows}) == 2)


@settings(max_examples=60, deadline=None)
@given(binary_samples)
def test_auc_equals_pairwise_ranking_probability(rows):
    labels = np.array([r[0] for r in rows])
    scores = np.array([r[1] for r in rows])
    pos, neg = scores[labels == 1], scores[labels == 0]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    assert m.roc_auc(labels, scores) == pytest.approx(wins / (pos.size * neg.size))
    assert m.roc_auc(labels, -scores) == pytest.approx(1 - wins / (pos.size * neg.size))
    # monotone transforms change nothing
    assert m.roc_auc(labels, np.exp(3 * scores)) == pytest.approx(m.roc_auc(labels, scores))


@settings(max_examples=60, deadline=None)
@given(binary_samples)
def test_ap_and_best_threshold_against_brute_force(rows):
    labels = np.array([r[0] for r in rows])
    scores = np.array([r[1] for r in rows])
    cuts = np.unique(scores)[::-1]
    ap, prev_recall = 0.0, 0.0
    f1s = []
    for cut in cuts:
        at = m.metrics_at_threshold(labels, scores, cut)
        ap += (at.recall - prev_recall) * at.precision
        prev_recall = at.recall
        f1s.append(at.f1)
    assert m.average_precision(labels, scores) == pytest.approx(ap)
    t = m.best_threshold(labels, scores)
    assert m.metrics_at_threshold(labels, scores, t).f1 == pytest.approx(max(f1s))
    # the highest cut among the best ones makes the same decisions as t
    best_cut = cuts[int(np.argmax(np.round(f1s, 12)))]
    np.testing.assert_array_equal(scores >= t, scores >= best_cut)
