"""Processing for UMT: the multimodal processor, the MNER dataset loader, image features once, the collator.

Importing this package registers `UMTProcessor` and `UMTImageProcessor` with `AutoProcessor` and
`AutoImageProcessor` for UMT configs, and makes `UMTProcessor.save_pretrained` write its remote code.
"""

from transformers import AutoImageProcessor, AutoProcessor

from configuration_umt import UMTConfig

from .data_collator import UMTDataCollator
from .image_processing_umt import ImageLoadError, UMTImageProcessor, open_image
from .mner_dataset import (
    MNERFormatError,
    add_image_features,
    encode_mner_dataset,
    load_mner_dataset,
    read_mner_file,
    report_posts_without_image,
)
from .processing_umt import UMTProcessor, split_tweet_words, tags_to_spans

AutoImageProcessor.register(UMTConfig, slow_image_processor_class=UMTImageProcessor, exist_ok=True)
AutoProcessor.register(UMTConfig, UMTProcessor, exist_ok=True)
# Saving a processor also writes its code and an `auto_map`, so the folder works with `trust_remote_code=True`.
UMTProcessor.register_for_auto_class()

__all__ = [
    "ImageLoadError",
    "MNERFormatError",
    "UMTDataCollator",
    "UMTImageProcessor",
    "UMTProcessor",
    "add_image_features",
    "encode_mner_dataset",
    "load_mner_dataset",
    "open_image",
    "read_mner_file",
    "report_posts_without_image",
    "split_tweet_words",
    "tags_to_spans",
]
