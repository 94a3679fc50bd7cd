"""
Processor for UMT: a post (words, or a raw tweet split into words) and its image (or none) become the inputs of
`UMTForMultimodalNER`, with one position and one label per word.

Text layout: `[CLS] pieces of word 1 ... pieces of word n [SEP]`. Each word is tokenized on its own; a word that
gives no piece at all (zero-width or control characters, a lone variation selector) gets the unknown-token piece so it
still has a position and a prediction. `first_piece_index[i]` is the index of word i's first piece in that sequence.

Posts over `max_length` pieces (128 by default, `[CLS]` and `[SEP]` included) raise an error unless the call says
what to do: `truncation=True` (training) keeps the words that fit, drops the rest with their labels and logs how many
words of how many posts were cut; `return_windows=True` (inference) splits the post into windows of whole words that
overlap by `window_stride` words, each window one row, and `merge_window_predictions` gives back one tag per word.

This file is loadable as remote code: it imports only its sibling `image_processing_umt`, transformers, torch, numpy
and regex.
"""

import os
from collections.abc import Mapping, Sequence

import numpy as np
import PIL.Image
import regex
import torch
from transformers import BatchFeature
from transformers.processing_utils import ProcessorMixin
from transformers.utils import logging

from .image_processing_umt import ImageSource, UMTImageProcessor, open_image

logger = logging.get_logger(__name__)

Tag = str | int

TWEET_WORD_PATTERN = regex.compile(
    r"""
      (?:https?://|www\.)\S+?(?=[.,!?;:'"’”)\]}>]*(?:\s|$))   # URL; trailing punctuation is a word of its own
    | [@＠]\w+                                                  # @mention
    | [\#＃]\w+                                                 # #hashtag
    | \p{Regional_Indicator}{2}                                 # flag emoji
    | \p{Extended_Pictographic}[\p{EMod}\uFE0F\u20E3]*
      (?:\u200D\p{Extended_Pictographic}[\p{EMod}\uFE0F]*)*     # emoji, skin tone, variation selector, ZWJ sequence
    | (?:<3|[<>]?[:;=][-o*']?[()\[\]dDpP/\\|{}@3])(?!\w)        # emoticon
    | \d+(?:[.,:/]\d+)+                                         # number with separators: 3.5 10,000 10:30 9/11
    | \w+(?:-\w+)*                                              # word, hyphenated word
    | ([^\w\s])\1*                                              # run of one punctuation character: . ... !!! --
    """,
    regex.VERBOSE,
)
"""Words of a tweet. Every character that is not white space belongs to exactly one word."""

PIECE_LEVEL_PAD_KEYS = ("input_ids", "attention_mask", "token_type_ids")
WORD_LEVEL_PAD_VALUES = {"first_piece_index": -1, "labels": -100}


def split_tweet_words(text: str) -> list[tuple[str, int, int]]:
    """Split a raw tweet into words: `(word, start, end)` with `text[start:end] == word`, in text order."""
    return [(match.group(), match.start(), match.end()) for match in TWEET_WORD_PATTERN.finditer(text)]


def tags_to_spans(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """
    Entities of a BIO2 tag sequence as `(type, first_word, last_word)`, last word included. An `I-X` that does not
    continue an entity of type X starts a new one (the conlleval convention).
    """
    spans = []
    for index, tag in enumerate(tags):
        prefix, _, entity_type = tag.partition("-")
        continues = prefix == "I" and spans and spans[-1][0] == entity_type and spans[-1][2] == index - 1
        if continues:
            spans[-1] = (entity_type, spans[-1][1], index)
        elif prefix in ("B", "I"):
            spans.append((entity_type, index, index))
    return spans


class UMTProcessor(ProcessorMixin):
    r"""
    Builds the inputs of `UMTForMultimodalNER` from posts and images: a BERT tokenizer for the words and a
    [`UMTImageProcessor`] for the images, like LayoutLMv3's processor does for documents.

    Args:
        image_processor ([`UMTImageProcessor`]):
            The image processor (ResNet-152 input).
        tokenizer ([`PreTrainedTokenizerBase`]):
            The BERT tokenizer of the text encoder.
        labels (`list[str]`, *optional*):
            The tag names, index = label id (e.g. `["O", "B-PER", "I-PER", ...]`). Saved in `processor_config.json`.
            Needed to encode tags given as strings and to turn predicted ids into entities.
        max_length (`int`, *optional*, defaults to 128):
            Most word pieces per row, `[CLS]` and `[SEP]` included.
        window_stride (`int`, *optional*, defaults to 16):
            Words shared by consecutive windows when a long post is split with `return_windows=True`.
    """

    def __init__(
        self,
        image_processor: UMTImageProcessor,
        tokenizer,
        labels: list[str] | None = None,
        max_length: int = 128,
        window_stride: int = 16,
    ):
        super().__init__(image_processor, tokenizer)
        if labels is not None and len(set(labels)) != len(labels):
            raise ValueError(f"labels must be unique, got {labels}")
        if max_length < 3:
            raise ValueError(f"max_length must leave room for [CLS], [SEP] and one piece, got {max_length}")
        if tokenizer.unk_token_id is None or tokenizer.cls_token_id is None or tokenizer.sep_token_id is None:
            raise ValueError("the tokenizer needs [UNK], [CLS] and [SEP] tokens (a BERT tokenizer)")
        self.labels = list(labels) if labels is not None else None
        self.max_length = max_length
        self.window_stride = window_stride

    @classmethod
    def _get_arguments_from_pretrained(cls, pretrained_model_name_or_path, processor_dict=None, **kwargs):
        # `UMTImageProcessor` is not registered with `AutoImageProcessor` (nor can it be from remote code without a
        # model config): load it by its class, and the tokenizer as usual.
        image_processor = UMTImageProcessor.from_pretrained(pretrained_model_name_or_path, **kwargs)
        tokenizer = cls._load_tokenizer_from_pretrained("tokenizer", pretrained_model_name_or_path, **kwargs)
        return [image_processor, tokenizer]

    @property
    def label2id(self) -> dict[str, int]:
        return {label: index for index, label in enumerate(self.labels or [])}

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.labels or []))

    @property
    def model_input_names(self) -> list[str]:
        return ["input_ids", "attention_mask", "token_type_ids", "first_piece_index", "pixel_values", "has_image"]

    @staticmethod
    def split_words(text: str) -> tuple[list[str], list[tuple[int, int]]]:
        """Split a raw tweet into words (URLs, @mentions, #hashtags, emoji, punctuation): words and offsets."""
        matches = split_tweet_words(text)
        return [word for word, _, _ in matches], [(start, end) for _, start, end in matches]

    def __call__(
        self,
        text: str | list[str] | list[list[str]],
        images: ImageSource | None | list[ImageSource | None] = None,
        word_labels: list[Tag] | list[list[Tag]] | None = None,
        *,
        is_split_into_words: bool | None = None,
        truncation: bool = False,
        return_windows: bool = False,
        max_length: int | None = None,
        window_stride: int | None = None,
        post_ids: str | list[str] | None = None,
        return_tensors: str | None = "pt",
    ) -> BatchFeature:
        r"""
        Encode one post or a batch of posts with their images.

        Args:
            text: a raw tweet (`str`, split with `split_words`), a post as a list of words, or a batch of posts as a
                list of word lists. With `is_split_into_words=False`, a list of strings is a batch of raw tweets.
            images: for one post, its image (PIL image or file path) or `None`; for a batch, a list with one entry
                per post, or `None` for no image at all. A missing or unreadable file makes a post without image
                (`has_image=0`, logged), never an error.
            word_labels: one tag per word (names from `labels`, or label ids); a list of those for a batch. Every
                word needs a real tag: the CRF scores whole sequences.
            truncation: cut posts over `max_length` pieces after the last word that fits (training). Logs a warning
                with the number of words and posts cut.
            return_windows: split posts over `max_length` into overlapping windows of words (inference); adds
                `overflow_to_sample_mapping` and `window_first_word` (not model inputs: pop them, or pass the model
                only `model_input_names`), see `merge_window_predictions`.
            max_length, window_stride: override the processor's values for this call.
            post_ids: names of the posts, used in messages.
            return_tensors: `"pt"` pads the batch into tensors; `None` gives unpadded lists (for `datasets.map`).

        Returns:
            [`BatchFeature`] with, for B rows (posts, or windows with `return_windows=True`), L the longest row in
            pieces and W the most words in a row:
            - `input_ids`, `attention_mask`, `token_type_ids`: `(B, L)`.
            - `first_piece_index`: `(B, W)`, index of each word's first piece, `-1` for padding words.
            - `labels`: `(B, W)` word-level label ids, `-100` for padding words (only with `word_labels`).
            - `pixel_values`: `(B, 3, 224, 224)`, zeros for a post without image; absent when `images` is `None`.
            - `has_image`: `(B,)`, 1 when the post has a usable image.
        """
        batch_words, is_batched = self._as_word_batch(text, is_split_into_words)
        num_posts = len(batch_words)
        if not is_batched and isinstance(images, (list, tuple)):
            raise ValueError("one post takes one image (or None); for a batch, pass a list of posts as text")
        batch_images = self._as_batch(images, is_batched, num_posts, "images", allow_none_batch=True)
        batch_labels = None
        if word_labels is not None:
            batch_labels = self._as_batch(word_labels, is_batched, num_posts, "word_labels", allow_none_batch=False)
        post_names = self._post_names(post_ids, is_batched, num_posts)

        encoding = self.encode_words(
            batch_words,
            batch_labels,
            truncation=truncation,
            return_windows=return_windows,
            max_length=max_length,
            window_stride=window_stride,
            post_ids=post_names,
        )
        if truncation:
            self.report_truncation(encoding.pop("num_truncated_words"), post_names, max_length or self.max_length)

        rows = encoding.get("overflow_to_sample_mapping", range(num_posts))
        if images is None:  # no image for any post: nothing for the image branch to read
            encoding["has_image"] = [0] * len(rows)
        else:
            pixel_values, has_image = self.load_images(batch_images, post_names)
            encoding["pixel_values"] = [pixel_values[post] for post in rows]
            encoding["has_image"] = [has_image[post] for post in rows]

        if return_tensors is None:
            return BatchFeature(encoding)
        if return_tensors != "pt":
            raise ValueError(f"return_tensors must be 'pt' or None, got {return_tensors!r}")
        return BatchFeature(self.pad(encoding))

    def encode_words(
        self,
        batch_words: Sequence[Sequence[str]],
        batch_word_labels: Sequence[Sequence[Tag]] | None = None,
        *,
        truncation: bool = False,
        return_windows: bool = False,
        max_length: int | None = None,
        window_stride: int | None = None,
        post_ids: Sequence[str] | None = None,
    ) -> dict[str, list]:
        """
        Text part of `__call__`, unpadded: lists of `input_ids`, `token_type_ids`, `attention_mask`,
        `first_piece_index` (and `labels`) per row. With `truncation=True`, also `num_truncated_words` per post
        (not logged here: the caller reports the total once). With `return_windows=True`, also
        `overflow_to_sample_mapping` (post of each row) and `window_first_word` (index in the post of the row's
        first word).
        """
        if truncation and return_windows:
            raise ValueError("choose truncation=True (training) or return_windows=True (inference), not both")
        max_length = max_length or self.max_length
        window_stride = self.window_stride if window_stride is None else window_stride
        piece_budget = max_length - 2
        post_ids = post_ids or [f"#{index}" for index in range(len(batch_words))]

        # One tokenizer call for all the words of the batch; a word never gets more pieces than a row can hold.
        flat_words = [word for words in batch_words for word in words]
        flat_pieces = [pieces[:piece_budget] for pieces in self._word_pieces(flat_words)]

        encoding = {key: [] for key in (*PIECE_LEVEL_PAD_KEYS, "first_piece_index")}
        if batch_word_labels is not None:
            encoding["labels"] = []
        if truncation:
            encoding["num_truncated_words"] = []
        if return_windows:
            encoding["overflow_to_sample_mapping"] = []
            encoding["window_first_word"] = []

        word_offset = 0
        for post_index, words in enumerate(batch_words):
            pieces = flat_pieces[word_offset : word_offset + len(words)]
            word_offset += len(words)
            label_ids = None
            if batch_word_labels is not None:
                label_ids = self._label_ids(batch_word_labels[post_index], len(words), post_ids[post_index])
            spans = self._word_spans(
                [len(word_pieces) for word_pieces in pieces],
                max_length,
                truncation,
                return_windows,
                window_stride,
                post_ids[post_index],
            )
            if truncation:
                encoding["num_truncated_words"].append(len(words) - spans[0][1])
            for start, end in spans:
                input_ids = [self.tokenizer.cls_token_id]
                first_piece_index = []
                for word_pieces in pieces[start:end]:
                    first_piece_index.append(len(input_ids))
                    input_ids.extend(word_pieces)
                input_ids.append(self.tokenizer.sep_token_id)
                encoding["input_ids"].append(input_ids)
                encoding["token_type_ids"].append([0] * len(input_ids))
                encoding["attention_mask"].append([1] * len(input_ids))
                encoding["first_piece_index"].append(first_piece_index)
                if label_ids is not None:
                    encoding["labels"].append(label_ids[start:end])
                if return_windows:
                    encoding["overflow_to_sample_mapping"].append(post_index)
                    encoding["window_first_word"].append(start)
        return encoding

    def _word_pieces(self, words: list[str]) -> list[list[int]]:
        """Piece ids of each word on its own; the unknown-token piece for a word that gives none."""
        if not words:
            return []
        pieces = self.tokenizer(
            words, add_special_tokens=False, return_attention_mask=False, return_token_type_ids=False
        )["input_ids"]
        return [word_pieces or [self.tokenizer.unk_token_id] for word_pieces in pieces]

    @staticmethod
    def _word_spans(
        piece_counts: list[int],
        max_length: int,
        truncation: bool,
        return_windows: bool,
        window_stride: int,
        post_id: str,
    ) -> list[tuple[int, int]]:
        """Word ranges `[start, end)` of the rows of one post: the whole post, its first part, or windows."""
        piece_budget = max_length - 2

        def end_of_row(start: int) -> int:
            end, used = start, 0
            while end < len(piece_counts) and used + piece_counts[end] <= piece_budget:
                used += piece_counts[end]
                end += 1
            return end

        total = sum(piece_counts)
        if total <= piece_budget:
            return [(0, len(piece_counts))]
        if truncation:
            return [(0, end_of_row(0))]
        if not return_windows:
            raise ValueError(
                f"post {post_id} has {total + 2} word pieces with [CLS] and [SEP], over max_length={max_length}. "
                "Pass truncation=True to cut it (training: the cut is counted and logged), return_windows=True to "
                "tag every word with overlapping windows (inference), or a larger max_length."
            )
        spans, start = [], 0
        while True:
            end = end_of_row(start)
            spans.append((start, end))
            if end == len(piece_counts):
                return spans
            start = max(end - window_stride, start + 1)

    def _label_ids(self, tags: Sequence[Tag], num_words: int, post_id: str) -> list[int]:
        if len(tags) != num_words:
            raise ValueError(f"post {post_id} has {num_words} words but {len(tags)} tags: give one tag per word")
        label_ids = []
        for position, tag in enumerate(tags):
            if isinstance(tag, str):
                if self.labels is None:
                    raise ValueError(
                        f"post {post_id}: tag {tag!r} is a name but the processor has no label list; create it with "
                        "labels=[...] or pass label ids"
                    )
                if tag not in self.label2id:
                    raise ValueError(
                        f"post {post_id}, word {position}: unknown tag {tag!r}; the processor's labels are "
                        f"{self.labels}. Map the tag or build the processor with the dataset's label list."
                    )
                label_ids.append(self.label2id[tag])
            else:
                tag = int(tag)
                if self.labels is not None and not 0 <= tag < len(self.labels):
                    raise ValueError(
                        f"post {post_id}, word {position}: label id {tag} is outside 0..{len(self.labels) - 1}"
                    )
                label_ids.append(tag)
        return label_ids

    @staticmethod
    def report_truncation(num_truncated_words: Sequence[int], post_ids: Sequence[str], max_length: int) -> None:
        """Log one warning with how many words of how many posts truncation cut (their labels are not trained on)."""
        cut_posts = [post_id for post_id, count in zip(post_ids, num_truncated_words) if count]
        if cut_posts:
            logger.warning(
                f"truncation to max_length={max_length} pieces cut {sum(num_truncated_words)} words from "
                f"{len(cut_posts)} of {len(post_ids)} posts; those words and their labels are left out. Posts cut: "
                f"{', '.join(map(str, cut_posts[:20]))}{' ...' if len(cut_posts) > 20 else ''}"
            )

    def load_images(
        self, images: Sequence[ImageSource | None], post_ids: Sequence[str] | None = None
    ) -> tuple[list[np.ndarray], list[int]]:
        """
        Pixel values `(3, H, W)` and has-image flag of each post. A post without image, or whose file is missing or
        unreadable (logged with the post id), gets zeros and flag 0.
        """
        post_ids = post_ids or [f"#{index}" for index in range(len(images))]
        usable, usable_positions = [], []
        for position, (source, post_id) in enumerate(zip(images, post_ids)):
            if source is None:
                continue
            try:
                if isinstance(source, (str, os.PathLike)):
                    source = open_image(source)
                elif isinstance(source, PIL.Image.Image):
                    source.load()
            except OSError as error:  # an ImageLoadError, or a PIL image opened lazily that fails to decode
                logger.warning(f"post {post_id}: {error}; it is used as a post without image (has_image=0)")
                continue
            usable.append(source)
            usable_positions.append(position)

        size = self.image_processor.size
        pixel_values = [np.zeros((3, size.height, size.width), dtype=np.float32) for _ in images]
        has_image = [0] * len(images)
        if usable:
            processed = self.image_processor(usable, return_tensors="np")["pixel_values"]
            for position, pixels in zip(usable_positions, processed):
                pixel_values[position] = pixels
                has_image[position] = 1
        return pixel_values, has_image

    def pad(self, encoding: Mapping[str, Sequence], pad_to_multiple_of: int | None = None) -> dict[str, torch.Tensor]:
        """
        Pad unpadded rows into tensors: piece-level fields to the longest row (`pad_token_id`, mask 0, type 0),
        `first_piece_index` with -1 and `labels` with -100 to the most words; `pixel_values` and `image_features`
        are stacked; any other field becomes a tensor as is.
        """
        padded = {}
        longest = max((len(row) for row in encoding.get("input_ids", [])), default=0)
        if pad_to_multiple_of:
            longest = -(-longest // pad_to_multiple_of) * pad_to_multiple_of
        most_words = max((len(row) for row in encoding.get("first_piece_index", [])), default=0)
        pad_values = {
            "input_ids": self.tokenizer.pad_token_id,
            "attention_mask": 0,
            "token_type_ids": self.tokenizer.pad_token_type_id,
            **WORD_LEVEL_PAD_VALUES,
        }
        for key, rows in encoding.items():
            if key in pad_values:
                width = most_words if key in WORD_LEVEL_PAD_VALUES else longest
                tensor = torch.full((len(rows), width), pad_values[key], dtype=torch.long)
                for index, row in enumerate(rows):
                    tensor[index, : len(row)] = torch.as_tensor(row, dtype=torch.long)
                padded[key] = tensor
            elif key in ("pixel_values", "image_features"):
                padded[key] = torch.stack([torch.as_tensor(np.asarray(row)) for row in rows])
            else:
                padded[key] = torch.as_tensor(rows)
        return padded

    def merge_window_predictions(
        self, predictions: torch.Tensor | Sequence[Sequence[int]], encoding: Mapping[str, Sequence]
    ) -> list[list[int]]:
        """
        One tag per word of each post from per-row word predictions `(rows, W)` of a `return_windows=True` encoding
        (a plain encoding works too: one row per post). A word seen by several windows takes the prediction of the
        window where it has the most context on its narrower side (ties: the earlier window).
        """
        predictions = predictions.tolist() if hasattr(predictions, "tolist") else predictions
        first_piece_index = encoding["first_piece_index"]
        num_rows = len(first_piece_index)
        post_of_row = list(encoding.get("overflow_to_sample_mapping", range(num_rows)))
        first_word_of_row = list(encoding.get("window_first_word", [0] * num_rows))
        words_of_row = [int((torch.as_tensor(row) >= 0).sum()) for row in first_piece_index]

        best = [{} for _ in range(max(post_of_row, default=-1) + 1)]  # word -> (context, tag)
        for row, (post, first_word, num_words) in enumerate(zip(post_of_row, first_word_of_row, words_of_row)):
            for position in range(num_words):
                context = min(position, num_words - 1 - position)
                word = int(first_word) + position
                if word not in best[post] or context > best[post][word][0]:
                    best[post][word] = (context, int(predictions[row][position]))
        return [[chosen[word][1] for word in sorted(chosen)] for chosen in best]

    def post_process_entities(self, text: str, word_tags: Sequence[Tag]) -> list[dict]:
        """
        Entities of a raw tweet from one predicted tag per word (as split by `split_words`), with character
        offsets: `[{"entity_group": "PER", "word": text[start:end], "start": ..., "end": ...,
        "first_word": ..., "last_word": ...}]`.
        """
        words, offsets = self.split_words(text)
        if len(word_tags) != len(words):
            raise ValueError(f"the text has {len(words)} words but {len(word_tags)} tags were given")
        tags = [self.id2label[int(tag)] if not isinstance(tag, str) else tag for tag in word_tags]
        entities = []
        for entity_type, first_word, last_word in tags_to_spans(tags):
            start, end = offsets[first_word][0], offsets[last_word][1]
            entities.append(
                {
                    "entity_group": entity_type,
                    "word": text[start:end],
                    "start": start,
                    "end": end,
                    "first_word": first_word,
                    "last_word": last_word,
                }
            )
        return entities

    def _as_word_batch(
        self, text: str | Sequence[str] | Sequence[Sequence[str]], is_split_into_words: bool | None
    ) -> tuple[list[list[str]], bool]:
        """The posts as lists of words, and whether the input was a batch."""
        if isinstance(text, str):
            if is_split_into_words:
                raise ValueError("a string is a raw tweet; with is_split_into_words=True pass a list of words")
            return [self.split_words(text)[0]], False
        if isinstance(text, (list, tuple)):
            if all(isinstance(item, str) for item in text):
                if is_split_into_words is False:
                    return [self.split_words(item)[0] for item in text], True
                return [list(text)], False
            if all(isinstance(item, (list, tuple)) and all(isinstance(word, str) for word in item) for item in text):
                if is_split_into_words is False:
                    raise ValueError(
                        "a list of word lists is already split into words; drop is_split_into_words=False"
                    )
                return [list(item) for item in text], True
        raise TypeError(
            "text must be a raw tweet (str), a post as a list of words (list[str]) or a batch of posts "
            f"(list[list[str]]), got {type(text).__name__}"
        )

    @staticmethod
    def _as_batch(values, is_batched: bool, num_posts: int, name: str, allow_none_batch: bool) -> list:
        if not is_batched:
            return [values]
        if values is None and allow_none_batch:
            return [None] * num_posts
        if not isinstance(values, (list, tuple)) or len(values) != num_posts:
            raise ValueError(f"{name} must be a list with one entry per post ({num_posts} posts), got {values!r:.200}")
        return list(values)

    @staticmethod
    def _post_names(post_ids, is_batched: bool, num_posts: int) -> list[str]:
        if post_ids is None:
            return [f"#{index}" for index in range(num_posts)]
        post_ids = [post_ids] if not is_batched and isinstance(post_ids, str) else list(post_ids)
        if len(post_ids) != num_posts:
            raise ValueError(f"post_ids must have one id per post ({num_posts} posts), got {len(post_ids)}")
        return [str(post_id) for post_id in post_ids]


__all__ = ["UMTProcessor", "split_tweet_words", "tags_to_spans"]
