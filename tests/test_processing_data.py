"""MNER loader: the benchmark counts of ../shared/data/README.md, label mapping, CoNLL files, malformed files."""

import logging
from collections import Counter

import pytest
from transformers import AutoTokenizer

from processing_umt import (
    MNERFormatError,
    UMTDataCollator,
    UMTImageProcessor,
    UMTProcessor,
    encode_mner_dataset,
    load_mner_dataset,
    read_mner_file,
)

# ../shared/data/README.md: posts per split, and entities (B- tags) per type and split.
README_COUNTS = {
    "twitter2015": {
        "train": (4000, {"PER": 2217, "LOC": 2091, "ORG": 927, "OTHER": 931}),
        "validation": (1000, {"PER": 552, "LOC": 522, "ORG": 247, "OTHER": 220}),
        "test": (3257, {"PER": 1816, "LOC": 1697, "ORG": 839, "OTHER": 720}),
    },
    "twitter2017": {
        "train": (3373, {"PER": 2943, "LOC": 731, "ORG": 1674, "MISC": 701}),
        "validation": (723, {"PER": 626, "LOC": 173, "ORG": 375, "MISC": 150}),
        "test": (723, {"PER": 621, "LOC": 178, "ORG": 395, "MISC": 157}),
    },
}
README_TOTALS = {"twitter2015": (6166, 1541, 5072), "twitter2017": (6049, 1324, 1351)}


def entity_counts(split_set) -> Counter:
    names = split_set.features["tags"].feature.names
    return Counter(names[tag][2:] for tags in split_set["tags"] for tag in tags if names[tag].startswith("B-"))


@pytest.mark.parametrize("name", sorted(README_COUNTS))
def test_benchmark_posts_and_entities_match_the_data_readme(data_dir, name, caplog):
    with caplog.at_level(logging.WARNING):
        dataset = load_mner_dataset(data_dir / name)
    assert list(dataset) == ["train", "validation", "test"]
    for split, (num_posts, entities) in README_COUNTS[name].items():
        assert dataset[split].num_rows == num_posts, split
        assert entity_counts(dataset[split]) == entities, split
    totals = tuple(sum(entity_counts(dataset[split]).values()) for split in ("train", "validation", "test"))
    assert totals == README_TOTALS[name]
    first = dataset["train"][0]
    assert first["image_id"] and first["image"] is None and len(first["words"]) == len(first["tags"])
    assert f"the {sum(posts for posts, _ in README_COUNTS[name].values())} posts with an IMGID" in caplog.text


def test_twitter2015_labels_come_from_the_data_and_map_to_twitter2017_names(data_dir):
    raw = load_mner_dataset(data_dir / "twitter2015" / "valid.txt")
    assert list(raw) == ["validation"]
    assert raw["validation"].features["tags"].feature.names == [
        "O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-OTHER", "I-OTHER", "B-PER", "I-PER"
    ]  # fmt: skip
    mapped = load_mner_dataset(data_dir / "twitter2015" / "valid.txt", entity_type_mapping={"OTHER": "MISC"})
    assert entity_counts(mapped["validation"])["MISC"] == README_COUNTS["twitter2015"]["validation"][1]["OTHER"]
    twitter2017 = load_mner_dataset(data_dir / "twitter2017" / "valid.txt")
    assert mapped["validation"].features["tags"] == twitter2017["validation"].features["tags"]


def test_strict_iob2_rejects_twitter2015_entities_that_start_with_i(data_dir):
    path = data_dir / "twitter2015" / "train.txt"
    with pytest.raises(
        MNERFormatError, match=r"train\.txt, line \d+: 'I-\w+' after '(O|[BI]-\w+)' starts an entity"
    ) as error:
        read_mner_file(path, strict_iob2=True)
    line = path.read_text(encoding="utf-8").split("\n")[error.value.line_number - 1]
    assert line.split("\t")[1].startswith("I-")


def test_plain_conll_files_load_as_text_only_posts(tmp_path):
    conll = ["-DOCSTART- -X- -X- O", "", "EU NNP B-NP B-ORG", "rejects VBZ B-VP O", "", "Peter NNP B-NP B-PER"]
    (tmp_path / "train.txt").write_text("\n".join([*conll, "Blackburn NNP I-NP I-PER", ""]), encoding="utf-8")
    (tmp_path / "dev.txt").write_text("Paris\tB-LOC\n", encoding="utf-8")
    dataset = load_mner_dataset(tmp_path, tmp_path / "images-ignored")
    assert sorted(dataset) == ["train", "validation"]
    train = dataset["train"]
    assert train["words"] == [["EU", "rejects"], ["Peter", "Blackburn"]]
    names = train.features["tags"].feature.names
    assert [[names[tag] for tag in tags] for tags in train["tags"]] == [["B-ORG", "O"], ["B-PER", "I-PER"]]
    assert train["image_id"] == [None, None] and train["image"] == [None, None]


MALFORMED_FILES = {
    "a token without a tag": ("IMGID:1\nHello\tO\nworld\n", 3, r"token 'world' has no tag; expected 'token<TAB>tag'"),
    "an empty tag": ("IMGID:1\nHello\t\n", 2, r"token 'Hello' has no tag"),
    "an IOBES tag": ("IMGID:1\nParis\tS-LOC\n", 2, r"tag 'S-LOC' is not BIO2; expected 'O', 'B-<type>' or 'I-<type>'"),
    "a type-only tag": ("IMGID:1\nParis\tLOC\n", 2, r"tag 'LOC' is not BIO2"),
    "an I- tag after O (strict)": (
        "IMGID:1\nin\tO\nYork\tI-LOC\n",
        3,
        r"'I-LOC' after 'O' starts an entity; expected 'B-LOC'",
    ),
    "an empty file": ("", 1, r"the file is empty"),
    "only blank lines": ("\n\n  \n", 1, r"the file is empty"),
    "a post with no tokens": ("IMGID:1\n\nIMGID:2\nHi\tO\n", 1, r"post IMGID:1 has no tokens"),
    "a missing blank line": (
        "IMGID:1\nHi\tO\nIMGID:2\nYo\tO\n",
        3,
        r"an IMGID line inside a post; expected a blank line",
    ),
    "a post without IMGID": ("IMGID:1\nHi\tO\n\nYo\tO\n", 4, r"a post without its IMGID line"),
    "an IMGID without id": ("IMGID:\nHi\tO\n", 1, r"the IMGID line has no id"),
    "an empty token": ("IMGID:1\n\tO\n", 2, r"an empty token"),
}


@pytest.mark.parametrize("problem", sorted(MALFORMED_FILES))
def test_malformed_files_name_file_line_and_expectation(tmp_path, problem):
    content, line_number, message = MALFORMED_FILES[problem]
    path = tmp_path / "train.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(MNERFormatError, match=rf"{path}, line {line_number}: {message}") as error:
        load_mner_dataset(path, strict_iob2=True)
    assert error.value.path == str(path) and error.value.line_number == line_number


def test_a_wrong_encoding_names_the_line_and_the_fix(tmp_path):
    path = tmp_path / "test.txt"
    path.write_bytes("IMGID:1\nHello\tO\nCaf\u00e9\tB-LOC\n".encode("latin-1"))
    with pytest.raises(
        MNERFormatError, match=rf"{path}, line 3: byte 0xe9 is not valid UTF-8; expected a UTF-8.*iconv"
    ):
        load_mner_dataset(path)


def test_a_tag_outside_the_given_labels_names_file_and_line(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text("IMGID:1\nHi\tO\n\nIMGID:2\nBig\tO\nApple\tB-CITY\n", encoding="utf-8")
    with pytest.raises(MNERFormatError, match=rf"{path}, line 6: tag 'B-CITY' is not in labels"):
        load_mner_dataset(path, labels=["O", "B-LOC", "I-LOC"])


def test_encoding_a_dataset_reports_truncated_posts_once(tmp_path, minilm_path, caplog):
    long_words = [f"word{index}" for index in range(40)]
    blocks = ["IMGID:1\n" + "".join(f"{word}\tO\n" for word in long_words), "IMGID:2\nParis\tB-LOC\n"]
    (tmp_path / "train.txt").write_text("\n".join(blocks), encoding="utf-8")
    dataset = load_mner_dataset(tmp_path / "train.txt")
    processor = UMTProcessor(
        UMTImageProcessor(), AutoTokenizer.from_pretrained(minilm_path), labels=["O", "B-LOC", "I-LOC"], max_length=32
    )
    with caplog.at_level(logging.WARNING):
        encoded = encode_mner_dataset(dataset, processor)
    kept = len(encoded["train"][0]["first_piece_index"])
    assert 0 < kept < 40 and max(len(ids) for ids in encoded["train"]["input_ids"]) <= 32
    truncation_warnings = [record.getMessage() for record in caplog.records if "truncation" in record.getMessage()]
    assert truncation_warnings == [
        f"truncation to max_length=32 pieces cut {40 - kept} words from 1 of 2 posts; those words and their labels "
        "are left out. Posts cut: train:0"
    ]
    assert "num_truncated_words" not in encoded["train"].column_names
    batch = UMTDataCollator(processor)([encoded["train"][0], encoded["train"][1]])
    assert batch["labels"][1].tolist() == [1] + [-100] * (kept - 1)
    assert batch["first_piece_index"][1].tolist() == [1] + [-1] * (kept - 1)
