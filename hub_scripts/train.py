"""umt-train: fine-tune UMT (or a paper baseline/ablation) on an MNER data set with `transformers.Trainer`.

Scores entity-level P/R/F1 on dev after every epoch, keeps the best dev checkpoint, scores the test set once with
it, and writes the model and processor (`from_pretrained` form) plus `results.json` / `results.md` to
`--output_dir`. Runs the same under `python -m hub_scripts.train`, `torchrun` and `accelerate launch`.

    umt-train --data_dir ../shared/data/twitter2017 --text_encoder bert-base-cased \\
        --image_dir images/twitter2017 --variant umt-bert-crf --output_dir runs/umt-2017
"""

import logging
import time

from transformers import HfArgumentParser, Trainer, TrainerCallback, set_seed

from modeling_umt import UMTForMultimodalNER

from .arguments import DataArguments, ModelArguments, UMTTrainingArguments
from .data import build_collator, build_processor, load_splits, prepare_model_inputs
from .metrics import build_compute_metrics
from .results import data_section, run_section, scores_summary, split_scores, write_results

logger = logging.getLogger(__name__)


class EpochTimer(TrainerCallback):
    """Wall time of every training epoch (evaluation on dev excluded)."""

    def __init__(self):
        self.epoch_times: list[float] = []
        self._started = 0.0

    def on_epoch_begin(self, args, state, control, **kwargs):
        self._started = time.perf_counter()

    def on_epoch_end(self, args, state, control, **kwargs):
        self.epoch_times.append(time.perf_counter() - self._started)


def best_epoch(trainer: Trainer) -> float | None:
    """The epoch of the checkpoint that `load_best_model_at_end` selected, from the log history."""
    best = trainer.state.best_global_step
    for record in trainer.state.log_history:
        if best is not None and record.get("step") == best and "eval_f1" in record:
            return record.get("epoch")
    return None


def resume_argument(value: str | None) -> str | bool | None:
    """`--resume_from_checkpoint true` resumes from the last checkpoint in the output folder; a path from that one."""
    if value is not None and value.lower() in ("true", "last"):
        return True
    return value


def train(argv: list[str] | None = None) -> dict:
    """Run the whole job; returns the results (also written to the output folder)."""
    parser = HfArgumentParser((ModelArguments, DataArguments, UMTTrainingArguments))
    model_args, data_args, training_args = parser.parse_args_into_dataclasses(argv)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    started = time.perf_counter()
    set_seed(training_args.seed)

    dataset = load_splits(data_args, training_args.output_dir)
    labels = dataset["train"].features["tags"].feature.names
    model = UMTForMultimodalNER.from_text_vision_pretrained(
        model_args.text_encoder,
        vision_backbone=model_args.vision_backbone,
        vision_weights_file=model_args.vision_weights_file,
        load_pretrained_vision_weights=model_args.load_pretrained_vision_weights,
        variant=model_args.variant,
        train_conversion_matrix=model_args.train_conversion_matrix,
        esd_loss_weight=model_args.esd_loss_weight,
        id2label=dict(enumerate(labels)),
    ).to(training_args.device)
    processor = build_processor(model_args.text_encoder, labels, data_args.max_pieces)
    with training_args.main_process_first(desc="tokenizing and caching image features"):
        encoded = prepare_model_inputs(dataset, processor, model, data_args)

    epoch_timer = EpochTimer()
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=encoded["train"],
        eval_dataset=encoded["validation"],
        data_collator=build_collator(processor, model),
        processing_class=processor,
        compute_metrics=build_compute_metrics(model.config.id2label),
        callbacks=[epoch_timer],
    )
    batches_per_epoch = len(trainer.get_train_dataloader())
    trainer.train(resume_from_checkpoint=resume_argument(training_args.resume_from_checkpoint))
    dev = trainer.evaluate(encoded["validation"], metric_key_prefix="dev")
    test = trainer.evaluate(encoded["test"], metric_key_prefix="test") if "test" in encoded else None
    trainer.save_model(training_args.output_dir)

    results = {
        "model": {
            "variant": model.config.variant,
            "text_encoder": model_args.text_encoder,
            "vision_backbone": model_args.vision_backbone if model.config.use_image else None,
            "pretrained_vision_weights": bool(model.config.use_image and (model_args.load_pretrained_vision_weights or model_args.vision_weights_file)),
            "labels": labels,
        },
        "data": data_section(data_args, encoded),
        "run": run_section(
            training_args,
            started,
            train_batches_per_epoch_per_process=batches_per_epoch,
            per_device_train_batch_size=training_args.per_device_train_batch_size,
            gradient_accumulation_steps=training_args.gradient_accumulation_steps,
            learning_rate=training_args.learning_rate,
            num_train_epochs=training_args.num_train_epochs,
            bf16=training_args.bf16,
            best_epoch=best_epoch(trainer),
            epoch_wall_times_s=epoch_timer.epoch_times,
            log_history=trainer.state.log_history,
        ),
        "scores": {"dev": split_scores(dev, "dev"), **({"test": split_scores(test, "test")} if test else {})},
    }
    if trainer.is_world_process_zero():
        processor.save_pretrained(training_args.output_dir)
        path = write_results(training_args.output_dir, results)
        print(f"{model.config.variant}: {scores_summary(results['scores'])} -> {path}")
    return results


def main() -> None:
    train()


if __name__ == "__main__":
    main()
