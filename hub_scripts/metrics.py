"""Entity-level scores for training and evaluation: the local `umt_seqeval` evaluate module and a
`compute_metrics` for `Trainer` that scores the CRF's Viterbi tags."""

from collections.abc import Callable
from pathlib import Path

import evaluate
import numpy as np
from transformers import EvalPrediction

METRIC_DIR = Path(__file__).resolve().parent / "umt_seqeval"


def load_entity_metric() -> evaluate.Metric:
    """Strict IOB2 entity-level P/R/F1 (seqeval), loaded from this package's folder: no network."""
    return evaluate.load(str(METRIC_DIR))


def tag_sequences(tag_ids: np.ndarray, id2label: dict[int, str]) -> list[list[str]]:
    """(posts, words) tag ids padded with -100 -> one list of tag strings per post."""
    return [[id2label[int(tag)] for tag in row if tag != -100] for row in tag_ids]


def build_compute_metrics(id2label: dict[int, str]) -> Callable[[EvalPrediction], dict[str, float]]:
    """`compute_metrics` for `Trainer`: `predictions` are the model's `predicted_tags` (Viterbi, word level,
    -100 padded), `label_ids` the gold tags. Returns precision, recall, f1, accuracy and `f1_<TYPE>`."""
    metric = load_entity_metric()

    def compute_metrics(prediction: EvalPrediction) -> dict[str, float]:
        predicted = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
        gold = prediction.label_ids
        keep = gold != -100
        if not np.array_equal(keep, predicted != -100):
            raise ValueError("predicted_tags and labels disagree on which positions are words; check first_piece_index.")
        scores = metric.compute(predictions=tag_sequences(predicted, id2label), references=tag_sequences(gold, id2label))
        flat = {name.removeprefix("overall_"): value for name, value in scores.items() if name.startswith("overall_")}
        flat.update({f"f1_{entity_type}": value["f1"] for entity_type, value in scores.items() if isinstance(value, dict)})
        return flat

    return compute_metrics
