"""Data preparation shared by `umt-train` and `umt-evaluate`: load the MNER files, encode them with the processor,
and cache the frozen ResNet's features of the images once."""

import logging
from pathlib import Path

from datasets import DatasetDict
from transformers import AutoTokenizer

from modeling_umt import UMTForMultimodalNER
from processing_umt import UMTDataCollator, UMTImageProcessor, UMTProcessor, add_image_features, encode_mner_dataset, load_mner_dataset

from .arguments import DataArguments, parse_mapping

logger = logging.getLogger(__name__)


def load_splits(data_args: DataArguments, output_dir: str | Path, labels: list[str] | None = None) -> DatasetDict:
    """Read train/validation/test (or whatever the folder has), optionally cut to the first posts. Posts without a
    usable image are listed in `<output_dir>/posts_without_image.tsv`."""
    dataset = load_mner_dataset(
        data_args.data_dir,
        image_dir=data_args.image_dir,
        labels=labels,
        entity_type_mapping=parse_mapping(data_args.entity_type_mapping),
        missing_images_report=Path(output_dir) / "posts_without_image.tsv",
    )
    limits = {"train": data_args.max_train_posts, "validation": data_args.max_eval_posts, "test": data_args.max_eval_posts}
    for split, limit in limits.items():
        if split in dataset and limit is not None:
            dataset[split] = dataset[split].select(range(min(limit, len(dataset[split]))))
    return dataset


def build_processor(text_encoder: str, labels: list[str], max_pieces: int) -> UMTProcessor:
    """The encoder's tokenizer with the ResNet image processor and the label list."""
    return UMTProcessor(UMTImageProcessor(), AutoTokenizer.from_pretrained(text_encoder), labels=labels, max_length=max_pieces)


def prepare_model_inputs(
    dataset: DatasetDict, processor: UMTProcessor, model: UMTForMultimodalNER, data_args: DataArguments
) -> DatasetDict:
    """Tokenize every split (cut posts are counted and logged) and, when the model reads images and there are some,
    compute the ResNet features of each distinct image once (cached by `datasets`)."""
    encoded = encode_mner_dataset(dataset, processor, max_length=data_args.max_pieces)
    has_images = any(path is not None for split in encoded.values() for path in split["image"])
    if model.config.use_image and has_images:
        model.eval()
        encoded = add_image_features(
            encoded,
            processor.image_processor,
            model.get_image_features,
            batch_size=data_args.feature_batch_size,
        )
    elif model.config.use_image:
        logger.warning("no post has an image: the model is trained and scored text-only (has_image=0 everywhere)")
    return encoded


def build_collator(processor: UMTProcessor, model: UMTForMultimodalNER) -> UMTDataCollator:
    return UMTDataCollator(processor, use_image=model.config.use_image)
