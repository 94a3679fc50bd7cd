"""The multimodal-NER pipeline on a small trained model: entity format, marginal-based scores, windows, visual evidence."""

import PIL.Image
import pytest
import torch
from transformers import pipeline

from hub_scripts.predict import load_pipeline
from processing_umt import tags_to_spans
from processing_umt.pipeline_umt import MULTIMODAL_NER_TASK, UMTMultimodalNERPipeline

POST = "RT @nba: Kevin Durant enters Oracle Arena with Stephen Curry before the Warriors game #NBA"
LONG_POST = " ".join(["Obama visits Paris and meets Macron at the Elysee ."] * 15)


@pytest.fixture(scope="module")
def ner(trained_run) -> UMTMultimodalNERPipeline:
    return load_pipeline(str(trained_run), device="cpu")


@pytest.fixture(scope="module")
def picture() -> PIL.Image.Image:
    return PIL.Image.new("RGB", (320, 240), (40, 120, 200))


def direct_prediction(ner: UMTMultimodalNERPipeline, text: str, image=None) -> tuple[list[str], torch.Tensor]:
    """Tags (one per word) and marginals (words, Y) of a post that fits in one row, from the model itself."""
    encoding = ner.processor(text, image)
    with torch.no_grad():
        output = ner.model(**encoding, output_marginals=True)
    tags = [ner.processor.labels[tag] for tag in output.predicted_tags[0].tolist()]
    return tags, output.marginals[0]


def test_registered_task_builds_the_pipeline(trained_run):
    ner = pipeline(MULTIMODAL_NER_TASK, model=str(trained_run), device="cpu")
    assert isinstance(ner, UMTMultimodalNERPipeline)


@pytest.mark.parametrize("with_image", [False, True])
def test_entities_and_scores_come_from_the_crf(ner, picture, with_image):
    image = picture if with_image else None
    entities = ner({"text": POST, "image": image})
    tags, marginals = direct_prediction(ner, POST, image)
    words, offsets = ner.processor.split_words(POST)
    spans = tags_to_spans(tags)
    assert [(e["entity_group"], e["start"], e["end"]) for e in entities] == [
        (entity_type, offsets[first][0], offsets[last][1]) for entity_type, first, last in spans
    ]
    for entity, (_, first, last) in zip(entities, spans):
        assert list(entity) == ["entity_group", "score", "word", "start", "end"]
        assert entity["word"] == POST[entity["start"] : entity["end"]]
        tag_probabilities = [marginals[word, ner.processor.labels.index(tags[word])] for word in range(first, last + 1)]
        assert entity["score"] == pytest.approx(float(torch.stack(tag_probabilities).mean()), abs=1e-6)
        assert 0.0 < entity["score"] <= 1.0
    assert ner(POST, image=image) == entities  # the text-and-keyword form


def test_empty_and_emoji_only_posts_and_lists_of_posts(ner):
    assert ner("") == [] and ner("   \n ") == []
    assert ner([POST, {"text": ""}]) == [ner(POST), []]
    for entity in ner("😂😂 🙌 🇫🇷"):
        assert entity["word"] == "😂😂 🙌 🇫🇷"[entity["start"] : entity["end"]]


def test_long_post_is_tagged_in_windows(ner):
    encoding = ner.processor(LONG_POST, return_windows=True)
    assert len(encoding["input_ids"]) > 1  # the post does not fit in one row
    with torch.no_grad():
        output = ner.model(**{name: encoding[name] for name in ner.processor.model_input_names if name in encoding})
    merged = ner.processor.merge_window_predictions(output.predicted_tags, encoding)[0]
    expected = ner.processor.post_process_entities(LONG_POST, merged)
    entities = ner(LONG_POST)
    assert [(e["entity_group"], e["start"], e["end"]) for e in entities] == [
        (e["entity_group"], e["start"], e["end"]) for e in expected
    ]
    assert all(0.0 < entity["score"] <= 1.0 for entity in entities)


def test_visual_evidence(ner, picture):
    grid = ner.model.config.vision_grid_size
    with_image = ner(POST, image=picture, return_visual_evidence=True)
    assert [e["word"] for e in with_image] == [e["word"] for e in ner(POST, image=picture)]
    for entity in with_image:
        attention = torch.tensor(entity["image_attention"])
        assert attention.shape == (grid, grid) and attention.sum() == pytest.approx(1.0, abs=1e-4)
        assert 0.0 < entity["visual_gate"] < 1.0
    for entity in ner(POST, return_visual_evidence=True):
        assert entity["image_attention"] is None and entity["visual_gate"] is None


def test_bad_inputs_say_what_is_expected(ner):
    with pytest.raises(TypeError, match="a post must be its text"):
        ner({"txt": POST})
    with pytest.raises(ValueError, match="'text' and 'image'"):
        ner({"text": POST, "picture": None})
    with pytest.raises(TypeError, match="PIL image, a file path or None"):
        ner({"text": POST, "image": b"bytes"})
