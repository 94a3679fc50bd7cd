"""The local strict entity-level metric against hand-computed cases."""

import numpy as np
import pytest
from transformers import EvalPrediction

from hub_scripts.metrics import build_compute_metrics, load_entity_metric

ID2LABEL = {0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC", 4: "I-LOC"}


@pytest.fixture(scope="module")
def metric():
    return load_entity_metric()


def test_exact_match_counts(metric):
    scores = metric.compute(predictions=[["B-PER", "I-PER", "O", "B-LOC"]], references=[["B-PER", "I-PER", "O", "B-LOC"]])
    assert scores["overall_f1"] == 1.0 and scores["PER"]["number"] == 1 and scores["LOC"]["number"] == 1


def test_partial_span_is_wrong(metric):
    # gold: PER "Kevin Durant" (2 words); predicted: PER "Kevin" only -> 0 correct of 1 predicted, 1 gold
    scores = metric.compute(predictions=[["B-PER", "O", "O"]], references=[["B-PER", "I-PER", "O"]])
    assert (scores["overall_precision"], scores["overall_recall"], scores["overall_f1"]) == (0.0, 0.0, 0.0)
    assert scores["overall_accuracy"] == pytest.approx(2 / 3)


def test_wrong_type_is_wrong_and_counts_per_type(metric):
    # gold: PER, LOC, LOC; predicted: PER (right), LOC (right), PER (wrong type) -> P = 2/3, R = 2/3
    predictions = [["B-PER", "O", "B-LOC"], ["B-PER", "I-PER"]]
    references = [["B-PER", "O", "B-LOC"], ["B-LOC", "I-LOC"]]
    scores = metric.compute(predictions=predictions, references=references)
    assert scores["overall_precision"] == pytest.approx(2 / 3)
    assert scores["overall_recall"] == pytest.approx(2 / 3)
    assert scores["PER"]["precision"] == pytest.approx(1 / 2) and scores["PER"]["recall"] == 1.0
    assert scores["LOC"]["precision"] == 1.0 and scores["LOC"]["recall"] == pytest.approx(1 / 2)
    assert scores["LOC"]["f1"] == pytest.approx(2 / 3)


def test_strict_mode_rejects_an_entity_that_starts_with_i(metric):
    # strict IOB2: "I-PER" with no B- is not an entity (the CoNLL script would accept it)
    scores = metric.compute(predictions=[["I-PER", "I-PER"]], references=[["B-PER", "I-PER"]])
    assert scores["overall_precision"] == 0.0 and scores["overall_recall"] == 0.0


def test_compute_metrics_scores_padded_viterbi_tags():
    compute_metrics = build_compute_metrics(ID2LABEL)
    predicted = np.array([[1, 2, 0, -100], [3, 0, 0, 1]])
    gold = np.array([[1, 2, 0, -100], [3, 0, 0, 3]])
    scores = compute_metrics(EvalPrediction(predictions=predicted, label_ids=gold))
    assert scores["precision"] == pytest.approx(2 / 3) and scores["recall"] == pytest.approx(2 / 3)
    assert scores["f1_LOC"] == pytest.approx(2 / 3) and scores["f1_PER"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="disagree on which positions are words"):
        compute_metrics(EvalPrediction(predictions=np.array([[1, -100]]), label_ids=np.array([[1, 0]])))
