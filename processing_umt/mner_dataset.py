"""
MNER data as `datasets`: the file loader, the report of posts without image, tokenization, and the image features
computed once.

Pipeline for `Trainer`:

    dataset = load_mner_dataset("../shared/data/twitter2017", image_dir="images/twitter2017")
    processor = UMTProcessor(image_processor, tokenizer, labels=dataset["train"].features["tags"].feature.names)
    dataset = encode_mner_dataset(dataset, processor)
    dataset = add_image_features(dataset, processor.image_processor, model.get_image_features)  # optional
    trainer = Trainer(..., data_collator=UMTDataCollator(processor), args=TrainingArguments(
        remove_unused_columns=False, label_names=["labels"], ...))

Without `add_image_features` the collator loads and processes the images of every batch (the pixel path).
"""

import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import datasets
import numpy as np
import torch
from datasets import Array2D, ClassLabel, Dataset, DatasetDict, Features, List, Value
from tqdm.auto import tqdm
from transformers.utils import logging

from .image_processing_umt import ImageLoadError, UMTImageProcessor, open_image
from .processing_umt import UMTProcessor

logger = logging.get_logger(__name__)

SPLIT_NAMES = {
    "train": "train",
    "valid": "validation",
    "validation": "validation",
    "dev": "validation",
    "test": "test",
}
"""File stem -> split name, for a data folder."""

TAG_PATTERN = re.compile(r"^(?:O|([BI])-(\S+))$")
FILE_FORMAT = "posts of 'token<TAB>tag' lines (an optional 'IMGID:<id>' line first), separated by blank lines"


class MNERFormatError(ValueError):
    """A malformed MNER / CoNLL file: says which file, which line, what is wrong and what was expected."""

    def __init__(self, path: str | os.PathLike, line_number: int, problem: str, expected: str):
        super().__init__(f"{path}, line {line_number}: {problem}; expected {expected}")
        self.path = str(path)
        self.line_number = line_number


def read_mner_file(
    path: str | os.PathLike, entity_type_mapping: Mapping[str, str] | None = None, strict_iob2: bool = False
) -> list[dict]:
    """
    Read an MNER file (blocks of an `IMGID:<id>` line then `token<TAB>tag` lines) or a plain CoNLL file (no `IMGID:`
    lines; columns separated by tabs or spaces, the token first and the tag last; `-DOCSTART-` lines separate
    documents). Tags must be BIO2 (`O`, `B-<type>`, `I-<type>`); `entity_type_mapping` renames types (e.g.
    `{"OTHER": "MISC"}`); with `strict_iob2=True` an `I-` tag must continue an entity of its type.

    Returns the posts as dicts `{"image_id": str | None, "words": [...], "tags": [...], "line": first line}`.
    Raises `MNERFormatError` (file, line, what was expected) on anything it cannot read; nothing is skipped.
    """
    entity_type_mapping = entity_type_mapping or {}
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise MNERFormatError(
            path,
            raw[: error.start].count(b"\n") + 1,
            f"byte {raw[error.start]:#04x} is not valid UTF-8",
            "a UTF-8 text file (convert it first, e.g. `iconv -f latin1 -t utf-8`)",
        ) from None
    if not text.strip():
        raise MNERFormatError(path, 1, "the file is empty", FILE_FORMAT)

    posts, post = [], None
    has_image_ids = None  # decided by the first post: all posts of a file have an IMGID line, or none has

    def close_post() -> None:
        nonlocal post
        if post is not None and not post["words"]:
            raise MNERFormatError(path, post["line"], f"post IMGID:{post['image_id']} has no tokens", FILE_FORMAT)
        if post is not None:
            posts.append(post)
        post = None

    # Split on "\n" only: str.splitlines would also split tokens at characters such as U+2028 or U+0085.
    for line_number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip() or line.startswith("-DOCSTART-"):
            close_post()
            continue
        if line.startswith("IMGID:"):
            image_id = line[len("IMGID:") :].strip()
            if post is not None:
                raise MNERFormatError(path, line_number, "an IMGID line inside a post", "a blank line before it")
            if not image_id:
                raise MNERFormatError(path, line_number, "the IMGID line has no id", "'IMGID:<image id>'")
            if has_image_ids is False:
                raise MNERFormatError(
                    path, line_number, "an IMGID line in a file whose first post has none", FILE_FORMAT
                )
            has_image_ids = True
            post = {"image_id": image_id, "words": [], "tags": [], "line": line_number}
            continue
        if post is None:
            if has_image_ids:
                raise MNERFormatError(path, line_number, "a post without its IMGID line", "'IMGID:<image id>' first")
            has_image_ids = False
            post = {"image_id": None, "words": [], "tags": [], "line": line_number}

        fields = line.split("\t") if "\t" in line else line.split()
        token, tag = fields[0], fields[-1].strip()
        if len(fields) < 2 or not tag:
            raise MNERFormatError(path, line_number, f"token {token!r} has no tag", "'token<TAB>tag'")
        if not token:
            raise MNERFormatError(path, line_number, f"an empty token (tag {tag!r})", "'token<TAB>tag'")
        match = TAG_PATTERN.match(tag)
        if match is None:
            raise MNERFormatError(
                path, line_number, f"tag {tag!r} is not BIO2", "'O', 'B-<type>' or 'I-<type>' (convert IOBES first)"
            )
        if match.group(1):
            entity_type = entity_type_mapping.get(match.group(2), match.group(2))
            tag = f"{match.group(1)}-{entity_type}"
            previous = post["tags"][-1] if post["tags"] else "O"
            if strict_iob2 and match.group(1) == "I" and previous[2:] != entity_type:
                raise MNERFormatError(
                    path,
                    line_number,
                    f"{tag!r} after {previous!r} starts an entity",
                    f"'B-{entity_type}' first in strict IOB2 (or load with strict_iob2=False)",
                )
        post["words"].append(token)
        post["tags"].append(tag)
    close_post()
    if not posts:
        raise MNERFormatError(path, line_number, "the file has no posts", FILE_FORMAT)
    return posts


def load_mner_dataset(
    data_files: str | os.PathLike | Mapping[str, str | os.PathLike],
    image_dir: str | os.PathLike | None = None,
    *,
    labels: Sequence[str] | None = None,
    entity_type_mapping: Mapping[str, str] | None = None,
    strict_iob2: bool = False,
    check_images: bool = True,
    decode_images: bool = False,
    missing_images_report: str | os.PathLike | None = None,
) -> DatasetDict:
    r"""
    Load MNER files (Twitter-2015 / Twitter-2017 format) or plain CoNLL files into a `DatasetDict`.

    Args:
        data_files: a folder with `train.txt`, `valid.txt` (or `dev.txt`, `validation.txt`) and `test.txt`
            (`valid`/`dev` become the `validation` split), one file (split named after it), or `{split: file}`.
        image_dir: the folder of the images, `<IMGID>.jpg`. `None`: every post is text-only.
        labels: the tag names, in label-id order. Default: `O` then `B-`/`I-` of every entity type in the data,
            types sorted. A tag outside the given list is an error.
        entity_type_mapping: renames entity types, e.g. `{"OTHER": "MISC"}` to read Twitter-2015 with
            Twitter-2017's label names.
        strict_iob2: reject an `I-` tag that does not continue an entity of its type (Twitter-2015 has such tags).
        check_images: decode every image once (with a progress bar) so that unreadable files are found now, not
            in a training batch. Missing files are always found.
        decode_images: make `image` a `datasets.Image()` column instead of a path.
        missing_images_report: file for the ids of the posts without usable image (a temporary file if not given).

    Returns:
        `DatasetDict` with columns `id` (post index in its split), `image_id` (`None` for CoNLL files), `words`,
        `tags` (`List(ClassLabel)`) and `image` (path, `None` when the post has no usable image). A post whose image
        is missing or unreadable keeps its text and is counted: one warning gives the numbers, the file lists
        split, id, image id and reason of each.
    """
    files = _split_files(data_files)
    posts = {split: read_mner_file(path, entity_type_mapping, strict_iob2) for split, path in files.items()}
    labels = list(labels) if labels is not None else _labels_in(posts)
    _check_tags_in_labels(posts, files, labels)
    features = Features(
        {
            "id": Value("string"),
            "image_id": Value("string"),
            "words": List(Value("string")),
            "tags": List(ClassLabel(names=labels)),
            "image": Value("string"),
        }
    )
    image_paths = _resolve_images(posts, image_dir, check_images, missing_images_report)
    dataset = DatasetDict(
        {
            split: Dataset.from_dict(
                {
                    "id": [str(index) for index in range(len(split_posts))],
                    "image_id": [post["image_id"] for post in split_posts],
                    "words": [post["words"] for post in split_posts],
                    "tags": [post["tags"] for post in split_posts],
                    "image": image_paths[split],
                },
                features=features,
                split=split,
            )
            for split, split_posts in posts.items()
        }
    )
    if decode_images:
        dataset = dataset.cast_column("image", datasets.Image())
    return dataset


def _split_files(data_files: str | os.PathLike | Mapping[str, str | os.PathLike]) -> dict[str, Path]:
    if isinstance(data_files, Mapping):
        return {split: Path(path) for split, path in data_files.items()}
    data_files = Path(data_files)
    if data_files.is_file():
        return {SPLIT_NAMES.get(data_files.stem, data_files.stem): data_files}
    if not data_files.is_dir():
        raise FileNotFoundError(f"no MNER data at {data_files}: expected a folder with train.txt, valid.txt, test.txt")
    files = {}
    for path in sorted(data_files.glob("*.txt")):
        split = SPLIT_NAMES.get(path.stem)
        if split in files:
            raise ValueError(f"{data_files} has two files for the {split} split: {files[split].name} and {path.name}")
        if split is not None:
            files[split] = path
    if not files:
        raise FileNotFoundError(f"{data_files} has none of {', '.join(f'{stem}.txt' for stem in SPLIT_NAMES)}")
    split_order = list(dict.fromkeys(SPLIT_NAMES.values()))  # train, validation, test
    return dict(sorted(files.items(), key=lambda item: split_order.index(item[0])))


def _labels_in(posts: Mapping[str, list[dict]]) -> list[str]:
    """`O`, then `B-` and `I-` of every entity type found, types in alphabetical order."""
    types = sorted(
        {tag[2:] for split_posts in posts.values() for post in split_posts for tag in post["tags"] if tag != "O"}
    )
    return ["O"] + [f"{prefix}-{entity_type}" for entity_type in types for prefix in ("B", "I")]


def _check_tags_in_labels(posts: Mapping[str, list[dict]], files: Mapping[str, Path], labels: list[str]) -> None:
    known = set(labels)
    for split, split_posts in posts.items():
        for post in split_posts:
            for offset, tag in enumerate(post["tags"]):
                if tag not in known:
                    line = post["line"] + offset + (post["image_id"] is not None)
                    raise MNERFormatError(files[split], line, f"tag {tag!r} is not in labels {labels}", "a known tag")


def _image_path(image_dir: Path, image_id: str) -> Path:
    return image_dir / (image_id if Path(image_id).suffix else f"{image_id}.jpg")


def _resolve_images(
    posts: Mapping[str, list[dict]],
    image_dir: str | os.PathLike | None,
    check_images: bool,
    missing_images_report: str | os.PathLike | None,
) -> dict[str, list[str | None]]:
    """Path of each post's image, `None` for a post without usable image; posts without image reported once."""
    num_posts = sum(len(split_posts) for split_posts in posts.values())
    num_with_id = sum(post["image_id"] is not None for split_posts in posts.values() for post in split_posts)
    if num_with_id == 0:
        return {split: [None] * len(split_posts) for split, split_posts in posts.items()}
    if image_dir is None:
        logger.warning(
            f"no image folder given: the {num_with_id} posts with an IMGID are used without image (has_image=0)"
        )
        return {split: [None] * len(split_posts) for split, split_posts in posts.items()}

    image_dir = Path(image_dir)
    if not image_dir.is_dir():
        logger.warning(f"the image folder {image_dir} does not exist: every image counts as missing")
    candidates = {
        _image_path(image_dir, post["image_id"])
        for split_posts in posts.values()
        for post in split_posts
        if post["image_id"] is not None
    }
    problems = {}
    for path in tqdm(sorted(candidates), desc="Checking images", disable=not check_images):
        try:
            if check_images:
                open_image(path, draft_size=(1, 1))
            elif not path.is_file():
                raise ImageLoadError(str(path), "missing", "no such file")
        except ImageLoadError as error:
            problems[path] = error

    image_paths, without_image = {}, []
    for split, split_posts in posts.items():
        image_paths[split] = []
        for index, post in enumerate(split_posts):
            path = _image_path(image_dir, post["image_id"]) if post["image_id"] is not None else None
            if path in problems:
                without_image.append(
                    (split, str(index), post["image_id"], problems[path].reason, problems[path].detail)
                )
                path = None
            image_paths[split].append(str(path) if path is not None else None)
    report_posts_without_image(without_image, num_posts, missing_images_report)
    return image_paths


def report_posts_without_image(
    without_image: Sequence[tuple[str, str, str, str, str]],
    num_posts: int,
    report_file: str | os.PathLike | None = None,
) -> Path | None:
    """
    Log one warning with how many posts have no usable image (missing, unreadable) and write their
    `split, id, image_id, reason, detail` to a TSV file (a new temporary file if `report_file` is `None`).
    """
    if not without_image:
        return None
    if report_file is None:
        handle, report_file = tempfile.mkstemp(prefix="umt-posts-without-image-", suffix=".tsv")
        os.close(handle)
    report_file = Path(report_file)
    report_file.parent.mkdir(parents=True, exist_ok=True)
    with report_file.open("w", encoding="utf-8") as report:
        report.write("split\tid\timage_id\treason\tdetail\n")
        for row in without_image:
            report.write("\t".join(str(field).replace("\t", " ").replace("\n", " ") for field in row) + "\n")
    reasons = {reason: sum(row[3] == reason for row in without_image) for reason in ("missing", "unreadable")}
    logger.warning(
        f"{len(without_image)} of {num_posts} posts have no usable image ({reasons['missing']} missing, "
        f"{reasons['unreadable']} unreadable): they are used as posts without image (has_image=0). "
        f"Their ids are in {report_file}"
    )
    return report_file


def encode_mner_dataset(
    dataset: DatasetDict | Dataset, processor: UMTProcessor, *, max_length: int | None = None
) -> DatasetDict | Dataset:
    """
    Add the processor's text fields (`input_ids`, `attention_mask`, `token_type_ids`, `first_piece_index`, `labels`)
    to every split, unpadded. Tags are matched to the processor's labels by name. Posts over `max_length` pieces are
    truncated; one warning per split gives the words and posts cut and their ids.
    """
    if isinstance(dataset, DatasetDict):
        return DatasetDict(
            {split: _encode_split(split_set, processor, max_length) for split, split_set in dataset.items()}
        )
    return _encode_split(dataset, processor, max_length)


def _encode_split(dataset: Dataset, processor: UMTProcessor, max_length: int | None) -> Dataset:
    tag_names = dataset.features["tags"].feature.names
    split = dataset.split or "dataset"

    def encode(batch: dict[str, list]) -> dict[str, list]:
        tags = [[tag_names[tag] for tag in post_tags] for post_tags in batch["tags"]]
        post_ids = [f"{split}:{post_id}" for post_id in batch["id"]]
        return processor.encode_words(batch["words"], tags, truncation=True, max_length=max_length, post_ids=post_ids)

    encoded = dataset.map(encode, batched=True, desc=f"Tokenizing {split}")
    post_ids = [f"{split}:{post_id}" for post_id in encoded["id"]]
    processor.report_truncation(encoded["num_truncated_words"], post_ids, max_length or processor.max_length)
    return encoded.remove_columns("num_truncated_words")


def add_image_features(
    dataset: DatasetDict | Dataset,
    image_processor: UMTImageProcessor,
    backbone: Callable[[torch.Tensor], torch.Tensor],
    *,
    batch_size: int = 32,
    feature_dtype: str = "float16",
    backbone_fingerprint: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    missing_images_report: str | os.PathLike | None = None,
) -> DatasetDict | Dataset:
    r"""
    Run the frozen visual backbone once over each distinct image of the dataset and add its output to every post, so
    that training never runs the backbone again.

    The features of the distinct images are computed in a `datasets.map` (progress bar) into one cache file in
    `cache_dir`, stored once per image: a later call with the same images, backbone and image processor reloads it
    without running the backbone. Each post gets `has_image` (`int8`) and `image_row` (`int32`, its image's row in
    that file, -1 for none) columns, and a `with_transform` that adds `image_features` (numpy `(49, C)`, zeros for a
    post without image) to every row or slice read from the dataset, as `Trainer`'s data loader reads it. The
    column itself is not stored in the posts: `dataset["image_features"]` does not exist, and a later
    `set_format`/`with_format` replaces the transform (call `add_image_features` again; it reloads the cache).

    Args:
        dataset: posts with an `image` column of paths (from `load_mner_dataset`, `decode_images=False`).
        image_processor: makes the backbone's pixel values.
        backbone: `pixel_values (n, 3, 224, 224) -> (n, 49, C)`, in eval mode, e.g. the model's
            `get_image_features`. Runs on the device of its parameters, under `torch.inference_mode()`.
        batch_size: images per backbone call.
        feature_dtype: storage dtype; float16 halves the cache and rounds features to float16.
        backbone_fingerprint: a name that identifies the backbone weights (e.g. `"resnet152.tv_in1k"`) for the cache.
            Default: a hash of the backbone's output on a fixed random probe batch.
        cache_dir: where the feature files go. Default: `<HF_DATASETS_CACHE>/umt_image_features`.
        missing_images_report: file for the ids of posts whose image turned out unreadable here.
    """
    splits = dataset if isinstance(dataset, DatasetDict) else {dataset.split or "dataset": dataset}
    for split, split_set in splits.items():
        if split_set.features["image"] != Value("string"):
            raise ValueError(
                f"split {split}: add_image_features needs image paths in the `image` column, got "
                f"{split_set.features['image']}; load the dataset with decode_images=False"
            )
    if isinstance(backbone, torch.nn.Module) and backbone.training:
        raise ValueError("the backbone is in training mode (BatchNorm would use batch statistics): call .eval() first")
    module = backbone if isinstance(backbone, torch.nn.Module) else getattr(backbone, "__self__", None)
    parameter = next(module.parameters(), None) if isinstance(module, torch.nn.Module) else None
    device = parameter.device if parameter is not None else torch.device("cpu")
    pixel_dtype = parameter.dtype if parameter is not None and parameter.is_floating_point() else torch.float32

    # A fixed random probe gives the feature shape and, unless a fingerprint is given, identifies the backbone by
    # what it computes (its weights, whatever module holds them), rounded to float16 to absorb arithmetic noise.
    size = image_processor.size
    probe = torch.randn(2, 3, size.height, size.width, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        probe_features = backbone(probe.to(device=device, dtype=pixel_dtype)).float().cpu()
    feature_type = Array2D(shape=tuple(probe_features.shape[1:]), dtype=feature_dtype)
    if backbone_fingerprint is None:
        backbone_fingerprint = hashlib.sha256(probe_features.half().numpy().tobytes()).hexdigest()

    paths = sorted({path for split_set in splits.values() for path in split_set["image"] if path is not None})
    if cache_dir is None:
        cache_dir = Path(datasets.config.HF_DATASETS_CACHE) / "umt_image_features"
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    fingerprint = _features_fingerprint(paths, image_processor, backbone_fingerprint, feature_dtype)

    def compute(batch: dict[str, list]) -> dict[str, list]:
        images = []
        for path in batch["image"]:
            try:
                images.append(open_image(path))
            except ImageLoadError as error:
                logger.info(str(error))
                images.append(None)
        usable = [image for image in images if image is not None]
        outputs = iter([])
        if usable:
            pixel_values = image_processor(usable, return_tensors="pt")["pixel_values"]
            with torch.inference_mode():
                features = backbone(pixel_values.to(device=device, dtype=pixel_dtype))
            outputs = iter(features.float().cpu().numpy().astype(feature_dtype))
        return {
            "image_features": [next(outputs) if image is not None else None for image in images],
            "has_image": [int(image is not None) for image in images],
        }

    per_image = Dataset.from_dict({"image": paths}, features=Features({"image": Value("string")})).map(
        compute,
        batched=True,
        batch_size=batch_size,
        writer_batch_size=batch_size,
        features=Features({"image": Value("string"), "image_features": feature_type, "has_image": Value("int8")}),
        cache_file_name=str(cache_dir / f"images-{fingerprint}.arrow"),
        new_fingerprint=fingerprint,
        desc="Image features (once per distinct image)",
    )
    cached_paths, cached_flags = per_image["image"], per_image["has_image"]
    unreadable = {path for path, flag in zip(cached_paths, cached_flags) if not flag}
    if unreadable:
        without_image = [
            (split, post_id, image_id, "unreadable", path)
            for split, split_set in splits.items()
            for post_id, image_id, path in zip(split_set["id"], split_set["image_id"], split_set["image"])
            if path in unreadable
        ]
        report_posts_without_image(
            without_image, sum(len(split_set) for split_set in splits.values()), missing_images_report
        )

    per_image_features = per_image.with_format("numpy", columns=["image_features"])
    usable_row = {path: row for row, (path, flag) in enumerate(zip(cached_paths, cached_flags)) if flag}
    with_features = {}
    for split, split_set in splits.items():
        image_rows = [usable_row.get(path, -1) for path in split_set["image"]]
        earlier = [name for name in ("has_image", "image_row") if name in split_set.column_names]
        with_features[split] = (
            split_set.remove_columns(earlier)
            .add_column("has_image", [int(row >= 0) for row in image_rows], feature=Value("int8"))
            .add_column("image_row", image_rows, feature=Value("int32"))
            .with_transform(CachedImageFeatures(per_image_features))
        )
    if isinstance(dataset, DatasetDict):
        return DatasetDict(with_features)
    return next(iter(with_features.values()))


class CachedImageFeatures:
    """`Dataset.with_transform` hook: adds each post's `image_features` (N, 49, C), read from the per-image cache at
    the post's `image_row` (float16 storage is read as float32); zeros for a post without image (`image_row` -1)."""

    def __init__(self, per_image_features: Dataset):
        self.per_image_features = per_image_features

    def __call__(self, batch: dict[str, list]) -> dict[str, list]:
        rows = batch["image_row"]
        feature_type = self.per_image_features.features["image_features"]
        features = np.zeros((len(rows), *feature_type.shape), dtype=np.promote_types(feature_type.dtype, np.float32))
        found = [index for index, row in enumerate(rows) if row >= 0]
        if found:
            features[found] = self.per_image_features[[rows[index] for index in found]]["image_features"]
        batch["image_features"] = features
        return batch


def _features_fingerprint(
    paths: Sequence[str], image_processor: UMTImageProcessor, backbone_fingerprint: str, feature_dtype: str
) -> str:
    """Changes with the image files (path, size, modification time), the image processor, the backbone, the dtype."""
    digest = hashlib.sha256()
    digest.update(f"{backbone_fingerprint}\n{feature_dtype}\n{image_processor.to_json_string()}\n".encode())
    for path in paths:
        stat = os.stat(path) if os.path.exists(path) else None
        digest.update(f"{path}\t{stat.st_size if stat else -1}\t{stat.st_mtime_ns if stat else -1}\n".encode())
    return digest.hexdigest()[:32]


__all__ = [
    "MNERFormatError",
    "add_image_features",
    "encode_mner_dataset",
    "load_mner_dataset",
    "read_mner_file",
    "report_posts_without_image",
]
