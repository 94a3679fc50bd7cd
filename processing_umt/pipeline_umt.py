"""
Pipeline for multimodal NER with UMT: a post (raw text) and its image, or none, become its entities, in the format of
transformers' token-classification pipeline with `aggregation_strategy="simple"`.

Importing this module registers the task `"multimodal-ner"` with `transformers.pipelines.PIPELINE_REGISTRY`.
`UMTMultimodalNERPipeline.save_pretrained` writes the task into the config's `custom_pipelines` and copies this file
with the processor's, so `pipeline(model=folder, trust_remote_code=True)` works where this project is not installed.

This file is loadable as remote code: it imports only its sibling `processing_umt`, transformers, torch and PIL.
"""

import os
from collections.abc import Mapping, Sequence
from typing import Any

import PIL.Image
import torch
from transformers import AutoModelForTokenClassification, Pipeline
from transformers.pipelines import PIPELINE_REGISTRY

from .processing_umt import UMTProcessor

MULTIMODAL_NER_TASK = "multimodal-ner"
"""Task name of the pipeline, in `PIPELINE_REGISTRY` and in the config's `custom_pipelines`."""

Post = str | Mapping[str, Any]
"""A post: its raw text, or `{"text": str, "image": PIL image, file path or None}`."""


class UMTMultimodalNERPipeline(Pipeline):
    r"""
    Named entities of social-media posts with their images, from a UMT model (`UMTForMultimodalNER`) and its
    `UMTProcessor`.

    ```python
    from transformers import pipeline

    ner = pipeline("multimodal-ner", model="org/umt-twitter2017", trust_remote_code=True)
    ner({"text": "Kevin Durant enters Oracle Arena", "image": "photo.jpg"})  # or a PIL image
    ner("Kevin Durant enters Oracle Arena")                               # a post without image
    ner([{"text": ...}, {"text": ..., "image": ...}])                      # several posts: a list of lists
    ```

    Each post gives a list of entities `{"entity_group", "score", "word", "start", "end"}`, like the
    token-classification pipeline with `aggregation_strategy="simple"`: `word` is `text[start:end]`, the character
    span from the entity's first word to its last. Words are split from the raw text by `UMTProcessor.split_words`
    (URLs, @mentions, #hashtags, emoji and punctuation are words of their own).

    `score` is a probability from the CRF, not a softmax over one position: the mean, over the entity's words, of the
    marginal probability P(y_i = predicted tag of word i | post, image) (forward-backward over the MNER CRF).

    An empty post (no word) gives `[]`. A post without image (or whose image file is missing or unreadable, which is
    logged) is tagged with `has_image=0`. A post over the processor's `max_length` word pieces is split into
    overlapping windows of words and every word is tagged (`UMTProcessor.merge_window_predictions`).

    With `return_visual_evidence=True` each entity also has `image_attention`, the cross-modal attention of its words
    over the image's grid blocks (`vision_grid_size` x `vision_grid_size` nested lists, rows top to bottom, mean over
    heads and over the entity's words, each grid sums to 1), and `visual_gate`, the mean visual-gate value g over the
    entity's words and hidden units (how much of the word-aware visual representation enters the tagger, Eq. 3). Both
    are `None` for a post without image or a model without that part.
    """

    processor: UMTProcessor

    _load_processor = True
    _load_tokenizer = False
    _load_image_processor = False
    _load_feature_extractor = False
    _load_video_processor = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.model.eval()  # the CRF decodes (predicted_tags) in eval mode only
        if not getattr(self.processor, "labels", None):
            raise ValueError(
                "UMTMultimodalNERPipeline needs the model's UMTProcessor with its label list (processor=...; "
                "AutoProcessor.from_pretrained(folder, trust_remote_code=True) loads the one saved with the model)"
            )

    def __call__(self, inputs: Post | Sequence[Post], image: Any = None, **kwargs) -> list[dict] | list[list[dict]]:
        """
        Tag one post (`str` or `{"text", "image"}`; `image=` goes with a `str`) or a list of posts. Returns the
        entities of the post, or one list of entities per post.
        """
        if isinstance(inputs, str):
            inputs = {"text": inputs, "image": image}
        elif image is not None:
            raise ValueError('image= goes with a post given as a string; a dict post carries its own "image"')
        return super().__call__(inputs, **kwargs)

    def _sanitize_parameters(self, return_visual_evidence: bool | None = None):
        if return_visual_evidence is None:
            return {}, {}, {}
        return {}, {"return_visual_evidence": return_visual_evidence}, {"return_visual_evidence": return_visual_evidence}

    def preprocess(self, post: Post) -> dict[str, Any]:
        text, image = self._text_and_image(post)
        words, _ = self.processor.split_words(text)
        if not words:
            return {"text": text}
        return {"text": text, **self.processor(words, image, return_windows=True)}

    def _forward(self, model_inputs: dict[str, Any], return_visual_evidence: bool = False) -> dict[str, Any]:
        outputs = dict(model_inputs)
        if "input_ids" not in model_inputs:  # no word: nothing to tag
            return outputs
        model_outputs = self.model(
            **{name: model_inputs[name] for name in self.processor.model_input_names if name in model_inputs},
            output_marginals=True,
            output_attentions=return_visual_evidence,
            output_visual_gate=return_visual_evidence,
        )
        outputs.update(predicted_tags=model_outputs.predicted_tags, marginals=model_outputs.marginals)
        if return_visual_evidence:
            outputs.update(
                text_image_attentions=model_outputs.text_image_attentions, visual_gate=model_outputs.visual_gate
            )
        return outputs

    def postprocess(self, model_outputs: dict[str, Any], return_visual_evidence: bool = False) -> list[dict]:
        if "predicted_tags" not in model_outputs:
            return []
        predicted_tags, marginals = model_outputs["predicted_tags"], model_outputs["marginals"]
        num_rows, max_words = predicted_tags.shape
        # Merge the windows once, on (row, position) ids: which row's prediction each word of the post takes.
        positions = torch.arange(num_rows * max_words).view(num_rows, max_words)
        chosen = torch.tensor(self.processor.merge_window_predictions(positions, model_outputs)[0])
        rows, word_positions = chosen // max_words, chosen % max_words
        tags = predicted_tags[rows, word_positions]
        tag_probabilities = marginals[rows, word_positions].gather(-1, tags[:, None]).squeeze(-1)

        evidence = None
        if return_visual_evidence:
            evidence = self._word_visual_evidence(model_outputs, rows, word_positions)
        entities = []
        for entity in self.processor.post_process_entities(model_outputs["text"], tags.tolist()):
            words = slice(entity["first_word"], entity["last_word"] + 1)
            record = {
                "entity_group": entity["entity_group"],
                "score": float(tag_probabilities[words].mean()),
                "word": entity["word"],
                "start": entity["start"],
                "end": entity["end"],
            }
            if return_visual_evidence:
                record.update(self._entity_visual_evidence(evidence, words))
            entities.append(record)
        return entities

    def _word_visual_evidence(
        self, model_outputs: Mapping[str, Any], rows: torch.Tensor, word_positions: torch.Tensor
    ) -> dict[str, torch.Tensor] | None:
        """Per word of the post: attention over the image blocks (words, N) and mean gate value (words,)."""
        attentions, gate = model_outputs.get("text_image_attentions"), model_outputs.get("visual_gate")
        if attentions is None or not bool(model_outputs["has_image"][0]):
            return None
        pieces = model_outputs["first_piece_index"][rows, word_positions]
        evidence = {"image_attention": attentions.float().mean(dim=1)[rows, pieces]}
        if gate is not None:
            evidence["visual_gate"] = gate.float().mean(dim=-1)[rows, pieces]
        return evidence

    def _entity_visual_evidence(self, evidence: Mapping[str, torch.Tensor] | None, words: slice) -> dict[str, Any]:
        if evidence is None:
            return {"image_attention": None, "visual_gate": None}
        grid = self.model.config.vision_grid_size
        attention = evidence["image_attention"][words].mean(dim=0).view(grid, grid)
        gate = evidence.get("visual_gate")
        return {
            "image_attention": attention.tolist(),
            "visual_gate": float(gate[words].mean()) if gate is not None else None,
        }

    @staticmethod
    def _text_and_image(post: Post) -> tuple[str, Any]:
        if isinstance(post, str):
            return post, None
        if isinstance(post, Mapping) and isinstance(post.get("text"), str):
            unknown = set(post) - {"text", "image"}
            if unknown:
                raise ValueError(f"a post has the keys 'text' and 'image', got also {sorted(unknown)}")
            image = post.get("image")
            if image is not None and not isinstance(image, (str, os.PathLike, PIL.Image.Image)):
                raise TypeError(f"a post's image must be a PIL image, a file path or None, got {type(image).__name__}")
            return post["text"], image
        raise TypeError(
            'a post must be its text (str) or {"text": str, "image": PIL image, path or None}, '
            f"got {type(post).__name__}: {post!r:.100}"
        )

    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs) -> None:
        """
        Save the model (its config gets this pipeline in `custom_pipelines`), this file, and the processor with its
        remote code (`processor_config.json` with an `auto_map`), so the folder works with `trust_remote_code=True`.
        """
        # The processor saves the tokenizer and the image processor itself (in processor_config.json): keep
        # `Pipeline.save_pretrained` from writing them a second time in their standalone formats.
        tokenizer, image_processor = self.tokenizer, self.image_processor
        self.tokenizer = self.image_processor = None
        try:
            super().save_pretrained(save_directory, **kwargs)
        finally:
            self.tokenizer, self.image_processor = tokenizer, image_processor
        self.processor.save_pretrained(save_directory)


PIPELINE_REGISTRY.register_pipeline(
    MULTIMODAL_NER_TASK, pipeline_class=UMTMultimodalNERPipeline, pt_model=AutoModelForTokenClassification
)

__all__ = ["MULTIMODAL_NER_TASK", "UMTMultimodalNERPipeline"]
