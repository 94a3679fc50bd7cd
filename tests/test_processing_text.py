"""UMTProcessor, text side: tweet words, word-label alignment on hard posts, long posts, save/load, remote code."""

import json
import logging
import sys

import PIL.Image
import pytest
import torch
from transformers import AutoProcessor, AutoTokenizer

from conftest import run_without_project
from processing_umt import UMTImageProcessor, UMTProcessor, split_tweet_words, tags_to_spans

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC"]
ZERO_PIECE_WORDS = ["\u200b", "\ufe0f", "\x00", "\u200d", "\u00ad"]  # zero-width space, VS16, NUL, ZWJ, soft hyphen


@pytest.fixture(scope="module")
def tokenizer(minilm_path):
    return AutoTokenizer.from_pretrained(minilm_path)


@pytest.fixture(scope="module")
def processor(tokenizer):
    return UMTProcessor(UMTImageProcessor(), tokenizer, labels=LABELS)


def test_tweet_words_keep_urls_mentions_hashtags_emoji_and_offsets():
    text = "RT @Jay_K: Obama in #Paris... 👍🏾 👨‍👩‍👧 🇫🇷 :) see http://t.co/Z3neVB. 3.5 well-known don't \u200b ok!!!"
    matches = split_tweet_words(text)
    assert [word for word, _, _ in matches] == [
        "RT", "@Jay_K", ":", "Obama", "in", "#Paris", "...", "👍🏾", "👨\u200d👩\u200d👧", "🇫🇷", ":)", "see",
        "http://t.co/Z3neVB", ".", "3.5", "well-known", "don", "'", "t", "\u200b", "ok", "!!!",
    ]  # fmt: skip
    assert all(text[start:end] == word for word, start, end in matches)
    # Every non-space character belongs to exactly one word.
    covered = "".join(text[start:end] for _, start, end in matches)
    assert covered == "".join(character for character in text if not character.isspace())


def test_word_label_alignment_on_a_hard_post(processor, tokenizer):
    words = [
        "RT", "@JayKenMinaj", ":", "#Obama", "http://t.co/Z3neVBQ7vF", "🙌",
        "Supercalifragilisticexpialidocious", *ZERO_PIECE_WORDS, "Barack", "Obama", "in", "Paris",
    ]  # fmt: skip
    tags = ["O"] * 7 + ["O"] * len(ZERO_PIECE_WORDS) + ["B-PER", "I-PER", "O", "B-LOC"]
    encoding = processor(words, None, tags)

    input_ids = encoding["input_ids"][0].tolist()
    first_piece_index = encoding["first_piece_index"][0].tolist()
    assert input_ids[0] == tokenizer.cls_token_id and input_ids[-1] == tokenizer.sep_token_id
    assert len(first_piece_index) == len(words) and first_piece_index == sorted(set(first_piece_index))
    ends = first_piece_index[1:] + [len(input_ids) - 1]
    for word, start, end in zip(words, first_piece_index, ends):
        alone = tokenizer(word, add_special_tokens=False)["input_ids"] or [tokenizer.unk_token_id]
        assert input_ids[start:end] == alone, word  # each word's pieces, in order, nothing lost or shared
    for word in ZERO_PIECE_WORDS:
        assert input_ids[first_piece_index[words.index(word)]] == tokenizer.unk_token_id
    assert encoding["labels"][0].tolist() == [LABELS.index(tag) for tag in tags]
    assert encoding["attention_mask"].sum().item() == len(input_ids)
    assert encoding["token_type_ids"].sum().item() == 0
    assert encoding["has_image"].tolist() == [0] and "pixel_values" not in encoding


def test_a_raw_tweet_is_split_and_predictions_map_back_to_character_offsets(processor):
    text = "Barack Obama ❤️ #Paris: https://t.co/x"
    words, offsets = processor.split_words(text)
    assert words == ["Barack", "Obama", "❤️", "#Paris", ":", "https://t.co/x"]
    encoding = processor(text)
    assert encoding["first_piece_index"].shape == (1, len(words))

    predicted = [LABELS.index(tag) for tag in ["B-PER", "I-PER", "O", "B-LOC", "O", "O"]]
    entities = processor.post_process_entities(text, predicted)
    assert [(entity["entity_group"], entity["word"]) for entity in entities] == [
        ("PER", "Barack Obama"),
        ("LOC", "#Paris"),
    ]
    assert all(text[entity["start"] : entity["end"]] == entity["word"] for entity in entities)
    assert tags_to_spans(["I-PER", "I-PER", "B-PER", "I-LOC", "O"]) == [("PER", 0, 1), ("PER", 2, 2), ("LOC", 3, 3)]


def test_batched_and_single_calls_agree(processor):
    posts = [["Barack", "Obama", "visits", "Paris"], ["#NBA", "🏀", "\u200b"], ["Hi"]]
    tags = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O", "O"], ["O"]]
    batch = processor(posts, None, tags, post_ids=["a", "b", "c"])
    for index, (words, word_tags) in enumerate(zip(posts, tags)):
        single = processor(words, None, word_tags, post_ids="abc"[index])
        num_pieces, num_words = single["input_ids"].shape[1], single["first_piece_index"].shape[1]
        for key in ("input_ids", "attention_mask", "token_type_ids"):
            assert torch.equal(batch[key][index, :num_pieces], single[key][0]), key
            assert not batch["attention_mask"][index, num_pieces:].any()
        for key in ("first_piece_index", "labels"):
            assert torch.equal(batch[key][index, :num_words], single[key][0]), key
        assert (batch["first_piece_index"][index, num_words:] == -1).all()
        assert (batch["labels"][index, num_words:] == -100).all()
    assert batch["input_ids"].shape[1] == max(processor(words)["input_ids"].shape[1] for words in posts)


def test_unknown_tag_and_mismatched_lengths_name_the_post(processor):
    with pytest.raises(ValueError, match=r"post tweet-7, word 1: unknown tag 'B-OTHER'"):
        processor(["Hello", "world"], None, ["O", "B-OTHER"], post_ids="tweet-7")
    with pytest.raises(ValueError, match=r"post #1 has 1 words but 2 tags"):
        processor([["a"], ["b"]], None, [["O"], ["O", "O"]])
    with pytest.raises(ValueError, match="one entry per post"):
        processor([["a"], ["b"]], [None])


def long_post(num_words: int = 150) -> tuple[list[str], list[str]]:
    """Words of two or more pieces each, with an entity every 10 words."""
    words = [f"Zimmermanville{index}" if index % 10 == 0 else f"tweeting{index}" for index in range(num_words)]
    tags = ["B-LOC" if index % 10 == 0 else "O" for index in range(num_words)]
    return words, tags


def test_a_long_post_raises_unless_truncation_or_windows_is_chosen(processor):
    words, tags = long_post()
    with pytest.raises(ValueError, match=r"post long-1 has \d+ word pieces.*truncation=True.*return_windows=True"):
        processor(words, None, tags, post_ids="long-1")


def test_truncation_cuts_after_the_last_word_that_fits_and_reports_it(processor, caplog):
    words, tags = long_post()
    short_words, short_tags = ["Paris"], ["B-LOC"]
    with caplog.at_level(logging.WARNING):
        encoding = processor(
            [words, short_words], None, [tags, short_tags], truncation=True, post_ids=["long", "short"]
        )
    kept = int((encoding["first_piece_index"][0] >= 0).sum())
    assert encoding["input_ids"].shape[1] <= 128 and 0 < kept < len(words)
    assert encoding["labels"][0, :kept].tolist() == [LABELS.index(tag) for tag in tags[:kept]]
    assert encoding["input_ids"][0, int(encoding["attention_mask"][0].sum()) - 1] == processor.tokenizer.sep_token_id
    assert f"cut {len(words) - kept} words from 1 of 2 posts" in caplog.text and "long" in caplog.text


def test_windows_tag_every_word_of_a_long_post(processor):
    words, tags = long_post(300)
    image = PIL.Image.new("RGB", (8, 8), (255, 0, 0))
    encoding = processor([words, ["Paris"]], [image, None], [tags, ["B-LOC"]], return_windows=True, window_stride=8)
    rows = encoding["input_ids"].shape[0]
    assert rows > 3 and encoding["input_ids"].shape[1] <= 128
    assert encoding["overflow_to_sample_mapping"].tolist() == [0] * (rows - 1) + [1]
    assert encoding["has_image"].tolist() == [1] * (rows - 1) + [0]  # every window of a post carries its image
    assert encoding["pixel_values"].shape == (rows, 3, 224, 224)
    assert all(torch.equal(window, encoding["pixel_values"][0]) for window in encoding["pixel_values"][1:-1])
    # Windows overlap by 8 words and cover the post.
    firsts = encoding["window_first_word"].tolist()[:-1]
    counts = (encoding["first_piece_index"][:-1] >= 0).sum(1).tolist()
    assert firsts[0] == 0 and firsts[-1] + counts[-1] == len(words)
    assert all(first + count - next_first == 8 for first, count, next_first in zip(firsts, counts, firsts[1:]))
    # Merging each window's labels back gives exactly one tag per word.
    merged = processor.merge_window_predictions(encoding["labels"], encoding)
    assert merged == [[LABELS.index(tag) for tag in tags], [LABELS.index("B-LOC")]]


def test_merge_prefers_the_window_where_a_word_has_most_context(processor):
    encoding = {
        "first_piece_index": [[1, 2, 3, 4], [1, 2, 3, 4]],
        "overflow_to_sample_mapping": [0, 0],
        "window_first_word": [0, 2],
    }
    # Words 2 and 3 are in both windows. Word 2 has 1 word of context on its narrower side in window 0, none in
    # window 1; word 3 has none in window 0 and 1 in window 1.
    merged = processor.merge_window_predictions([[10, 11, 12, 13], [22, 23, 24, 25]], encoding)
    assert merged == [[10, 11, 12, 23, 24, 25]]


def test_processor_and_image_processor_save_and_load(processor, tmp_path):
    processor.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "processor_config.json").read_text())
    assert config["labels"] == LABELS and config["max_length"] == 128
    assert config["image_processor"]["image_processor_type"] == "UMTImageProcessor"
    loaded = UMTProcessor.from_pretrained(tmp_path)
    assert type(AutoProcessor.from_pretrained(tmp_path)) is UMTProcessor
    assert loaded.labels == LABELS and loaded.max_length == 128 and loaded.window_stride == 16
    assert loaded.image_processor.to_dict() == processor.image_processor.to_dict()

    image_processor_folder = tmp_path / "image_processor"
    processor.image_processor.save_pretrained(image_processor_folder)
    assert UMTImageProcessor.from_pretrained(image_processor_folder).to_dict() == processor.image_processor.to_dict()

    words, tags = ["Barack", "Obama", "🙌", "\u200b"], ["B-PER", "I-PER", "O", "O"]
    expected, actual = processor(words, None, tags), loaded(words, None, tags)
    assert expected.keys() == actual.keys()
    assert all(torch.equal(expected[key], actual[key]) for key in expected)


HUB_USER_SCRIPT = """
import json, sys
from transformers import AutoProcessor
processor = AutoProcessor.from_pretrained(sys.argv[1], trust_remote_code=True)
encoding = processor(["Barack", "Obama", "\\u200b"], None, ["B-PER", "I-PER", "O"])
print(json.dumps({"class": type(processor).__module__ + "." + type(processor).__name__,
                  **{key: value.tolist() for key, value in encoding.items() if key != "pixel_values"}}))
"""


def test_processor_loads_as_remote_code_without_the_project(processor, tmp_path):
    folder = tmp_path / "umt-processor"
    processor.save_pretrained(folder)
    assert {"processing_umt.py", "image_processing_umt.py"} <= {path.name for path in folder.iterdir()}

    completed = run_without_project(tmp_path, HUB_USER_SCRIPT, str(folder))
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result.pop("class").startswith("transformers_modules.")
    expected = processor(["Barack", "Obama", "\u200b"], None, ["B-PER", "I-PER", "O"])
    assert result == {key: value.tolist() for key, value in expected.items() if key != "pixel_values"}
