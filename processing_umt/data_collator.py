"""Data collator for `Trainer`: pads the encoded posts of a batch and stacks their image features or pixels."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .processing_umt import PIECE_LEVEL_PAD_KEYS, WORD_LEVEL_PAD_VALUES, UMTProcessor

TEXT_KEYS = (*PIECE_LEVEL_PAD_KEYS, *WORD_LEVEL_PAD_VALUES)


@dataclass
class UMTDataCollator:
    r"""
    Turns rows of an encoded MNER dataset (see `encode_mner_dataset`) into a batch for `UMTForMultimodalNER`.

    Text: `input_ids`, `attention_mask`, `token_type_ids` padded to the longest post of the batch (`(B, L)`),
    `first_piece_index` padded with -1 and `labels` with -100 to the most words (`(B, W)`).

    Image, from the first of these columns that the rows have:
    - `image_features` (from `add_image_features`): stacked into `(B, 49, C)`, zeros for a post without image;
      `has_image` from the rows' `has_image` column.
    - `pixel_values`: stacked into `(B, 3, 224, 224)`.
    - `image` (a path, a PIL image or `None`): loaded and processed now by the processor's image processor; a missing
      or unreadable file gives a post without image (zero pixels).
    `has_image` is `(B,)`. A batch in which no post has an image gets `has_image` only (all 0), no pixels or features:
    the model needs none. Other columns (`id`, `words`, `tags`...) are ignored, so `Trainer` can run with
    `remove_unused_columns=False`.

    Args:
        processor ([`UMTProcessor`]): gives the tokenizer's padding ids and the image processor.
        pad_to_multiple_of (`int`, *optional*): pad `L` to a multiple of this.
        use_image (`bool`, defaults to `True`): `False` gives text fields only, for the text-only BERT-CRF variant.
    """

    processor: UMTProcessor
    pad_to_multiple_of: int | None = None
    use_image: bool = True

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        text = {key: [row[key] for row in rows] for key in TEXT_KEYS if key in rows[0]}
        batch = self.processor.pad(text, pad_to_multiple_of=self.pad_to_multiple_of)
        if not self.use_image:
            return batch
        if "image_features" in rows[0]:
            image_key = "image_features"
            has_image = [int(row.get("has_image", row["image_features"] is not None)) for row in rows]
            images = [row["image_features"] if flag else None for row, flag in zip(rows, has_image)]
        elif "pixel_values" in rows[0]:
            image_key = "pixel_values"
            has_image = [int(row.get("has_image", 1)) for row in rows]
            images = [row["pixel_values"] if flag else None for row, flag in zip(rows, has_image)]
        else:
            image_key = "pixel_values"
            post_ids = [str(row.get("id", f"#{index}")) for index, row in enumerate(rows)]
            images, has_image = self.processor.load_images([row.get("image") for row in rows], post_ids)
        batch["has_image"] = torch.tensor(has_image)
        if any(has_image):
            batch[image_key] = stack_with_zeros(images, has_image)
        return batch


def stack_with_zeros(images: Sequence[Any], has_image: Sequence[int]) -> torch.Tensor:
    """Stack the arrays of the posts with an image; zeros for the others (whose stored value may be None or NaN)."""
    present = [np.asarray(image) for image, flag in zip(images, has_image) if flag]
    stacked = np.zeros((len(images), *present[0].shape), dtype=present[0].dtype)
    for index, (image, flag) in enumerate(zip(images, has_image)):
        if flag:
            stacked[index] = np.asarray(image)
    return torch.from_numpy(stacked)


__all__ = ["UMTDataCollator"]
