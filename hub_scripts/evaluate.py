"""umt-evaluate: score a saved UMT model on splits of an MNER data set and write the results file.

    umt-evaluate --model_dir runs/umt-2017 --data_dir ../shared/data/twitter2017 --splits test \\
        [--image_dir images/twitter2017] [--output_dir runs/umt-2017/evaluation]

Scores are strict entity-level P/R/F1 of the CRF's Viterbi tags (the same metric as training).
"""

import logging
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from datasets import DatasetDict
from transformers import AutoProcessor, HfArgumentParser, Trainer

from modeling_umt import UMTForMultimodalNER

from .arguments import DataArguments, UMTTrainingArguments
from .data import build_collator, load_splits, prepare_model_inputs
from .metrics import build_compute_metrics
from .results import RESULTS_JSON, data_section, load_results, run_section, scores_summary, split_scores, write_results

SCORE_NAMES = {"validation": "dev"}


@dataclass
class EvaluationArguments:
    model_dir: str = field(metadata={"help": "A folder written by umt-train (model and processor), or a Hub id."})
    splits: list[str] = field(default_factory=lambda: ["test"], metadata={"help": "Splits to score: train, validation, test."})


def evaluate_model(argv: list[str] | None = None) -> dict:
    """Score the model; returns the results (also written to the output folder)."""
    parser = HfArgumentParser((EvaluationArguments, DataArguments, UMTTrainingArguments))
    eval_args, data_args, training_args = parser.parse_args_into_dataclasses(argv)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    output_dir = training_args.output_dir
    if not any(argument.startswith("--output_dir") for argument in (argv if argv is not None else sys.argv)):
        output_dir = str(Path(eval_args.model_dir) / "evaluation")
    # scoring only: no training-time evaluation, checkpoints or best-model bookkeeping
    training_args = replace(training_args, output_dir=output_dir, eval_strategy="no", save_strategy="no", load_best_model_at_end=False)
    started = time.perf_counter()

    model = UMTForMultimodalNER.from_pretrained(eval_args.model_dir).to(training_args.device)
    processor = AutoProcessor.from_pretrained(eval_args.model_dir)
    dataset = load_splits(data_args, training_args.output_dir, labels=model.config.labels)
    unknown = [split for split in eval_args.splits if split not in dataset]
    if unknown:
        raise ValueError(f"--splits {unknown}: {data_args.data_dir} has the splits {list(dataset)}.")
    dataset = DatasetDict({split: dataset[split] for split in eval_args.splits})
    encoded = prepare_model_inputs(dataset, processor, model, data_args)
    trainer = Trainer(
        model=model,
        args=training_args,
        data_collator=build_collator(processor, model),
        compute_metrics=build_compute_metrics(model.config.id2label),
    )
    training_results = load_results(eval_args.model_dir) if (Path(eval_args.model_dir) / RESULTS_JSON).is_file() else {}
    scores = {}
    for split in eval_args.splits:
        name = SCORE_NAMES.get(split, split)
        scores[name] = split_scores(trainer.evaluate(encoded[split], metric_key_prefix=name), name)

    results = {
        "model": {**training_results.get("model", {}), "model_dir": eval_args.model_dir, "variant": model.config.variant},
        "data": data_section(data_args, encoded),
        "run": run_section(training_args, started),
        "scores": scores,
    }
    if trainer.is_world_process_zero():
        path = write_results(training_args.output_dir, results)
        print(f"{eval_args.model_dir}: {scores_summary(scores)} -> {path}")
    return results


def main() -> None:
    evaluate_model()


if __name__ == "__main__":
    main()
