"""Images: every PIL mode and odd file gives a valid tensor or a flagged post without image; features computed once."""

import logging

import numpy as np
import PIL.Image
import pytest
import torch
from transformers import AutoTokenizer

from configuration_umt import UMTConfig
from conftest import TINY_TEXT_CONFIG, tiny_config_kwargs
from modeling_umt import UMTForMultimodalNER
from processing_umt import (
    ImageLoadError,
    UMTDataCollator,
    UMTImageProcessor,
    UMTProcessor,
    add_image_features,
    encode_mner_dataset,
    load_mner_dataset,
    open_image,
)

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
IMAGENET_MEAN, IMAGENET_STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)


@pytest.fixture(scope="module")
def processor(minilm_path):
    return UMTProcessor(UMTImageProcessor(), AutoTokenizer.from_pretrained(minilm_path), labels=LABELS)


def rgb_at(pixel_values: torch.Tensor, row: int, column: int) -> np.ndarray:
    """The 0-255 RGB colour of one pixel of normalised `(3, H, W)` pixel values."""
    return (pixel_values[:, row, column].numpy() * IMAGENET_STD + IMAGENET_MEAN) * 255


def save_exif_rotated(path):
    """A JPEG stored red-left / blue-right with EXIF orientation 6: upright it is red on top, blue below."""
    image = PIL.Image.new("RGB", (64, 32), BLUE)
    image.paste(RED, (0, 0, 32, 32))
    exif = PIL.Image.Exif()
    exif[0x0112] = 6
    image.save(path, exif=exif, quality=95)


def save_animated_gif(path):
    frames = [PIL.Image.new("RGB", (16, 16), color) for color in (RED, BLUE, WHITE)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)


def save_palette_with_transparency(path):
    image = PIL.Image.new("P", (16, 16), 0)
    image.putpalette([0, 255, 0] + [0, 0, 0] * 255)
    image.save(path, transparency=0)  # the only colour is transparent: composited on white


# name -> (how to write it, expected upright colour at the top-centre and bottom-centre, in RGB 0-255)
IMAGE_KINDS = {
    "rgba.png": (lambda p: PIL.Image.new("RGBA", (40, 30), (255, 0, 0, 0)).save(p), WHITE, WHITE),
    "la.png": (lambda p: PIL.Image.new("LA", (40, 30), (0, 255)).save(p), (0, 0, 0), (0, 0, 0)),
    "grayscale.png": (lambda p: PIL.Image.new("L", (40, 30), 128).save(p), (128, 128, 128), (128, 128, 128)),
    "gray16.png": (lambda p: PIL.Image.new("I;16", (40, 30), 65535).save(p), WHITE, WHITE),
    "palette.png": (save_palette_with_transparency, WHITE, WHITE),
    "cmyk.jpg": (lambda p: PIL.Image.new("CMYK", (40, 30), (0, 255, 255, 0)).save(p, quality=100), RED, RED),
    "exif-rotated.jpg": (save_exif_rotated, RED, BLUE),
    "animated.gif": (save_animated_gif, RED, RED),
    "one-pixel.png": (lambda p: PIL.Image.new("RGB", (1, 1), BLUE).save(p), BLUE, BLUE),
    "huge.jpg": (lambda p: PIL.Image.new("RGB", (8000, 6000), BLUE).save(p, quality=50), BLUE, BLUE),
}


@pytest.fixture(scope="module")
def image_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    for name, (write, _, _) in IMAGE_KINDS.items():
        write(folder / name)
    good = (folder / "exif-rotated.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(good[: len(good) // 2])
    (folder / "not-an-image.jpg").write_text("<html>404 Not Found</html>")
    (folder / "empty.jpg").write_bytes(b"")
    return folder


@pytest.mark.parametrize("name", sorted(IMAGE_KINDS))
def test_every_image_kind_gives_an_upright_rgb_tensor(processor, image_files, name):
    _, top, bottom = IMAGE_KINDS[name]
    for image in (image_files / name, PIL.Image.open(image_files / name)):  # a path, or a lazily opened PIL image
        encoding = processor(["a", "post"], image)
        pixel_values = encoding["pixel_values"][0]
        assert encoding["has_image"].tolist() == [1]
        assert pixel_values.shape == (3, 224, 224) and pixel_values.dtype == torch.float32
        assert torch.isfinite(pixel_values).all()
        np.testing.assert_allclose(rgb_at(pixel_values, 20, 112), top, atol=6)
        np.testing.assert_allclose(rgb_at(pixel_values, 204, 112), bottom, atol=6)


@pytest.mark.parametrize("name", ["truncated.jpg", "not-an-image.jpg", "empty.jpg", "missing.jpg"])
def test_an_unusable_image_file_makes_a_flagged_post_without_image(processor, image_files, name, caplog):
    with pytest.raises(ImageLoadError, match="missing" if name == "missing.jpg" else "unreadable"):
        open_image(image_files / name)
    with caplog.at_level(logging.WARNING):
        encoding = processor(
            [["a"], ["b"]], [image_files / name, image_files / "one-pixel.png"], post_ids=["p1", "p2"]
        )
    assert encoding["has_image"].tolist() == [0, 1]
    assert not encoding["pixel_values"][0].any() and encoding["pixel_values"][1].any()
    assert "post p1" in caplog.text and name in caplog.text and "has_image=0" in caplog.text


def test_image_processor_alone_batches_and_round_trips(image_files, tmp_path):
    image_processor = UMTImageProcessor()
    batch = image_processor([image_files / "cmyk.jpg", image_files / "one-pixel.png"], return_tensors="pt")
    single = image_processor(image_files / "one-pixel.png", return_tensors="pt")
    assert batch["pixel_values"].shape == (2, 3, 224, 224)
    assert torch.equal(batch["pixel_values"][1], single["pixel_values"][0])
    image_processor.save_pretrained(tmp_path)
    loaded = UMTImageProcessor.from_pretrained(tmp_path)
    assert torch.equal(
        loaded(image_files / "cmyk.jpg", return_tensors="pt")["pixel_values"], batch["pixel_values"][:1]
    )


def write_posts(path, image_ids: list[str]) -> None:
    blocks = [f"IMGID:{image_id}\nBarack\tB-PER\nObama\tI-PER\nin\tO\nParis\tB-LOC\n" for image_id in image_ids]
    path.write_text("\n".join(blocks), encoding="utf-8")


@pytest.fixture
def posts_with_images(tmp_path, image_files):
    """Six posts: two share one image, one image is missing, one is truncated, one post's image is 1x1."""
    folder = tmp_path / "images"
    folder.mkdir()
    for source, image_id in [("cmyk.jpg", "100"), ("one-pixel.png", "200.png"), ("truncated.jpg", "400")]:
        (folder / (image_id if "." in image_id else f"{image_id}.jpg")).write_bytes(
            (image_files / source).read_bytes()
        )
    write_posts(tmp_path / "train.txt", ["100", "200.png", "300", "100", "400", "200.png"])
    return tmp_path / "train.txt", folder


def test_loader_reports_missing_and_unreadable_images_once(posts_with_images, tmp_path, caplog):
    data_file, image_folder = posts_with_images
    report = tmp_path / "logs" / "without-image.tsv"
    with caplog.at_level(logging.WARNING):
        dataset = load_mner_dataset(data_file, image_folder, missing_images_report=report)
    images = dataset["train"]["image"]
    assert [path is not None for path in images] == [True, True, False, True, False, True]
    assert images[0] == str(image_folder / "100.jpg") and images[1] == str(image_folder / "200.png")
    warnings = [record.getMessage() for record in caplog.records if "usable image" in record.getMessage()]
    assert len(warnings) == 1 and "2 of 6 posts have no usable image (1 missing, 1 unreadable)" in warnings[0]
    assert str(report) in warnings[0]
    lines = report.read_text().splitlines()
    assert lines[0] == "split\tid\timage_id\treason\tdetail"
    assert [line.split("\t")[:4] for line in lines[1:]] == [
        ["train", "2", "300", "missing"],
        ["train", "4", "400", "unreadable"],
    ]


def test_absent_image_folder_makes_every_post_text_only(posts_with_images, tmp_path, caplog):
    data_file, _ = posts_with_images
    with caplog.at_level(logging.WARNING):
        dataset = load_mner_dataset(data_file, tmp_path / "no-such-folder", missing_images_report=tmp_path / "r.tsv")
        text_only = load_mner_dataset(data_file)
    assert dataset["train"]["image"] == [None] * 6 and text_only["train"]["image"] == [None] * 6
    assert "does not exist" in caplog.text and "6 of 6 posts have no usable image (6 missing" in caplog.text


def test_collator_pads_text_and_loads_images_on_the_fly(processor, posts_with_images, tmp_path):
    data_file, image_folder = posts_with_images
    dataset = encode_mner_dataset(
        load_mner_dataset(data_file, image_folder, missing_images_report=tmp_path / "r.tsv"), processor
    )
    rows = [dataset["train"][index] for index in (0, 2)]
    batch = UMTDataCollator(processor, pad_to_multiple_of=8)(rows)
    assert set(batch) == {
        "input_ids", "attention_mask", "token_type_ids", "first_piece_index", "labels", "pixel_values", "has_image"
    }  # fmt: skip
    assert batch["input_ids"].shape == (2, 8) and batch["input_ids"][:, -2:].tolist() == [[0, 0], [0, 0]]
    assert (
        batch["attention_mask"].sum(1).tolist() == [6, 6] and batch["first_piece_index"].tolist() == [[1, 2, 3, 4]] * 2
    )
    assert batch["labels"].tolist() == [[1, 2, 0, 3]] * 2
    assert batch["has_image"].tolist() == [1, 0] and not batch["pixel_values"][1].any()
    expected = processor(["Barack", "Obama", "in", "Paris"], image_folder / "100.jpg")["pixel_values"][0]
    assert torch.equal(batch["pixel_values"][0], expected)

    no_image_batch = UMTDataCollator(processor)([dataset["train"][index] for index in (2, 4)])  # missing, truncated
    assert no_image_batch["has_image"].tolist() == [0, 0] and "pixel_values" not in no_image_batch
    text_only_batch = UMTDataCollator(processor, use_image=False)(rows)  # for the text-only BERT-CRF
    assert set(text_only_batch) == {"input_ids", "attention_mask", "token_type_ids", "first_piece_index", "labels"}


class CountingBackbone(torch.nn.Module):
    """A random ResNet-18 as the frozen backbone stand-in: (n, 3, 224, 224) -> (n, 49, 512); counts its images."""

    def __init__(self):
        super().__init__()
        timm = pytest.importorskip("timm")
        torch.manual_seed(0)
        self.resnet = timm.create_model("resnet18", pretrained=False, num_classes=0, global_pool="").eval()
        self.images_seen = 0

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        self.images_seen += pixel_values.shape[0]
        return self.resnet(pixel_values).flatten(2).transpose(1, 2)


def test_image_features_are_computed_once_per_distinct_image_and_cached(processor, posts_with_images, tmp_path):
    data_file, image_folder = posts_with_images
    dataset = encode_mner_dataset(
        load_mner_dataset(data_file, image_folder, missing_images_report=tmp_path / "r.tsv"), processor
    )
    backbone = CountingBackbone().eval()
    arguments = {"batch_size": 2, "cache_dir": tmp_path / "cache"}
    with_features = add_image_features(dataset, processor.image_processor, backbone, **arguments)
    assert backbone.images_seen == 2 + 2  # the probe batch, then the two distinct usable images once each

    train = with_features["train"]
    assert train[:]["has_image"] == [1, 1, 0, 1, 0, 1]
    features = train[:]["image_features"]
    assert features.shape == (6, 49, 512) and features.dtype == np.float32  # stored float16, read as numpy
    assert np.array_equal(features[0], features[3]) and np.array_equal(features[1], features[5])
    pixel_values = processor(["x"], image_folder / "100.jpg")["pixel_values"]
    with torch.no_grad():
        direct = backbone.resnet(pixel_values).flatten(2).transpose(1, 2)[0].numpy()
    assert np.array_equal(features[0], direct.astype(np.float16))

    batch = UMTDataCollator(processor)([train[index] for index in range(6)])
    assert batch["image_features"].shape == (6, 49, 512) and "pixel_values" not in batch
    assert batch["has_image"].tolist() == [1, 1, 0, 1, 0, 1]
    assert torch.isfinite(batch["image_features"]).all() and not batch["image_features"][[2, 4]].any()

    again = add_image_features(dataset, processor.image_processor, backbone, **arguments)
    assert backbone.images_seen == 4 + 2  # only the probe: the features come from the cache
    assert np.array_equal(again["train"][:]["image_features"], features)
    cached = sorted(path.name for path in (tmp_path / "cache").glob("*.arrow"))
    assert len(cached) == 1 and cached[0].startswith("images-")  # features stored once per image, not per post


def test_cached_features_reach_a_shuffled_multiprocess_data_loader(processor, posts_with_images, tmp_path):
    """What `Trainer` does with the dataset: shuffle, read batches of rows in a worker process, collate."""
    data_file, image_folder = posts_with_images
    dataset = encode_mner_dataset(
        load_mner_dataset(data_file, image_folder, missing_images_report=tmp_path / "r.tsv"), processor
    )
    train = add_image_features(dataset, processor.image_processor, CountingBackbone().eval(), cache_dir=tmp_path)["train"]
    expected = {post_id: row["image_features"] for post_id, row in zip(train["id"], train)}
    shuffled = train.shuffle(seed=0)
    loader = torch.utils.data.DataLoader(
        shuffled, batch_size=4, collate_fn=lambda rows: (rows, UMTDataCollator(processor)(rows)), num_workers=1
    )
    seen = []
    for rows, batch in loader:
        for index, row in enumerate(rows):
            assert np.array_equal(batch["image_features"][index].numpy(), expected[row["id"]])
            seen.append(row["id"])
    assert sorted(seen) == sorted(train["id"]) and seen != train["id"]


def test_features_path_and_pixel_path_give_the_same_model_outputs(processor, posts_with_images, tmp_path):
    """Logits agree within float16 rounding of the stored features: atol = rtol = 1e-3 (float32 storage: 1e-6)."""
    torch.manual_seed(0)
    text_config = dict(TINY_TEXT_CONFIG, vocab_size=processor.tokenizer.vocab_size)
    model = UMTForMultimodalNER(UMTConfig(**tiny_config_kwargs(text_config=text_config))).eval()
    data_file, image_folder = posts_with_images
    dataset = encode_mner_dataset(
        load_mner_dataset(data_file, image_folder, missing_images_report=tmp_path / "r.tsv"), processor
    )
    collator = UMTDataCollator(processor)
    pixel_batch = collator([dataset["train"][index] for index in range(6)])
    with torch.no_grad():
        expected = model(**pixel_batch)
    for feature_dtype, tolerance in (("float16", 1e-3), ("float32", 1e-6)):
        with_features = add_image_features(
            dataset,
            processor.image_processor,
            model.get_image_features,
            feature_dtype=feature_dtype,
            cache_dir=tmp_path,
        )
        feature_batch = collator([with_features["train"][index] for index in range(6)])
        assert torch.equal(feature_batch["has_image"], pixel_batch["has_image"])
        with torch.no_grad():
            actual = model(**feature_batch)
        torch.testing.assert_close(actual.logits, expected.logits, rtol=tolerance, atol=tolerance)
        assert torch.equal(actual.predicted_tags, expected.predicted_tags)
