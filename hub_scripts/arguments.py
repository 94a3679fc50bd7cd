"""Command-line arguments of `umt-train` and `umt-evaluate`, parsed with `HfArgumentParser`.

The defaults follow the paper and its public code (see the design notes): lr 5e-5, batch 16, 12 epochs,
linear warm-up over the first 10% of steps, weight decay 0.01 (not on biases and LayerNorm, as `Trainer`
does), dev F1 selects the epoch.
"""

from dataclasses import dataclass, field

from transformers import TrainingArguments

from configuration_umt import PAPER_VARIANTS


@dataclass
class ModelArguments:
    text_encoder: str = field(
        default="bert-base-cased", metadata={"help": "Text encoder: a Hub id or a local folder (any BERT-family encoder)."}
    )
    vision_backbone: str = field(default="resnet152.tv_in1k", metadata={"help": "timm name of the frozen CNN."})
    vision_weights_file: str | None = field(
        default=None, metadata={"help": "Load the CNN's weights from this file (timm/torchvision state dict) instead of the Hub."}
    )
    load_pretrained_vision_weights: bool = field(
        default=True,
        metadata={"help": "Load the CNN's pretrained weights (from the Hub unless --vision_weights_file). False: random weights."},
    )
    variant: str = field(
        default="umt-bert-crf", metadata={"help": f"Paper system or ablation: {', '.join(PAPER_VARIANTS)}."}
    )
    train_conversion_matrix: bool = field(default=False, metadata={"help": "Train the ESD->MNER conversion matrix."})
    esd_loss_weight: float = field(default=0.5, metadata={"help": "lambda, the weight of the ESD loss."})


@dataclass
class DataArguments:
    data_dir: str = field(
        default="../shared/data/twitter2017",
        metadata={"help": "Folder with train.txt, valid.txt and test.txt (MNER format, or CoNLL without IMGID lines)."},
    )
    image_dir: str | None = field(
        default=None, metadata={"help": "Folder of the images (<IMGID>.jpg). Absent: every post is text-only."}
    )
    entity_type_mapping: str | None = field(
        default=None, metadata={"help": "Rename entity types, e.g. 'OTHER=MISC' (Twitter-2015 with Twitter-2017 names)."}
    )
    max_pieces: int = field(default=128, metadata={"help": "Word-piece limit per post (with [CLS] and [SEP])."})
    max_train_posts: int | None = field(default=None, metadata={"help": "Use only the first N training posts."})
    max_eval_posts: int | None = field(default=None, metadata={"help": "Use only the first N dev and test posts."})
    feature_batch_size: int = field(default=32, metadata={"help": "Images per ResNet call when caching features."})


@dataclass
class UMTTrainingArguments(TrainingArguments):
    """`TrainingArguments` with the paper's defaults; every usual flag still works."""

    output_dir: str = field(default="runs/umt", metadata={"help": "Where checkpoints, the model and results go."})
    learning_rate: float = 5e-5
    per_device_train_batch_size: int = 16
    per_device_eval_batch_size: int = 32
    num_train_epochs: float = 12.0
    warmup_steps: float = 0.1
    weight_decay: float = 0.01
    eval_strategy: str = "epoch"
    save_strategy: str = "epoch"
    logging_strategy: str = "epoch"
    save_total_limit: int | None = 1
    load_best_model_at_end: bool = True
    metric_for_best_model: str | None = "f1"
    greater_is_better: bool | None = True
    remove_unused_columns: bool = False
    label_names: list[str] | None = field(default_factory=lambda: ["labels"])
    report_to: None | str | list[str] = "none"


def parse_mapping(text: str | None) -> dict[str, str] | None:
    """'OTHER=MISC,FOO=BAR' -> {'OTHER': 'MISC', 'FOO': 'BAR'}."""
    if not text:
        return None
    mapping = {}
    for item in text.split(","):
        source, sep, target = item.partition("=")
        if not sep or not source.strip() or not target.strip():
            raise ValueError(f"--entity_type_mapping: {item!r} is not OLD=NEW (e.g. OTHER=MISC).")
        mapping[source.strip()] = target.strip()
    return mapping
