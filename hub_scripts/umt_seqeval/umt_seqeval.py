"""Strict entity-level precision, recall and F1 (seqeval, IOB2, CoNLL convention), as a local `evaluate` module
that loads with no network: `evaluate.load("path/to/umt_seqeval")`."""

import warnings

import datasets
import evaluate
from seqeval.metrics import accuracy_score, classification_report
from seqeval.scheme import IOB2

_DESCRIPTION = """Entity-level micro precision, recall and F1 over BIO2 tag sequences, strict: an entity counts as
correct only if its span and its type both match (seqeval mode="strict", scheme IOB2). Also reports the scores
per entity type and the tag accuracy."""

_KWARGS_DESCRIPTION = """
Args:
    predictions: list of tag sequences, e.g. [["B-PER", "I-PER", "O"]].
    references: list of gold tag sequences of the same lengths.
Returns:
    overall_precision, overall_recall, overall_f1, overall_accuracy, and for every entity type T a dict
    T -> {precision, recall, f1, number} (number = gold entities of that type).
"""


class UMTSeqeval(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("string")),
                    "references": datasets.Sequence(datasets.Value("string")),
                }
            ),
        )

    def _compute(self, predictions: list[list[str]], references: list[list[str]]) -> dict:
        for index, (predicted, gold) in enumerate(zip(predictions, references)):
            if len(predicted) != len(gold):
                raise ValueError(f"umt_seqeval: sequence {index} has {len(predicted)} predicted tags for {len(gold)} gold tags.")
        with warnings.catch_warnings():  # numpy warns about empty means when no entity exists anywhere
            warnings.simplefilter("ignore", RuntimeWarning)
            report = classification_report(
                references, predictions, mode="strict", scheme=IOB2, output_dict=True, zero_division=0
            )
        micro = report.pop("micro avg")
        for summary in ("macro avg", "weighted avg"):
            report.pop(summary, None)
        scores = {
            entity_type: {
                "precision": float(values["precision"]),
                "recall": float(values["recall"]),
                "f1": float(values["f1-score"]),
                "number": int(values["support"]),
            }
            for entity_type, values in report.items()
        }
        scores.update(
            overall_precision=float(micro["precision"]),
            overall_recall=float(micro["recall"]),
            overall_f1=float(micro["f1-score"]),
            overall_accuracy=float(accuracy_score(references, predictions)),
        )
        return scores
