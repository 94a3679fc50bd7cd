"""Generate a multimodal NER data set in which an entity's type is shown only by the image.

Every post mentions one made-up name (e.g. "Vorlak Denmi") in a type-neutral sentence; names and sentences
are drawn independently of the type, so the words say where the entity is but not what it is. The type
(PER, LOC, ORG, MISC) is drawn at random and shown by the picture: the dominant colour of the image, under
random clutter. A frozen ResNet-152 with random weights separates dominant colours (see the design notes),
so the experiment measures the model's visual path, not the backbone.

Writes the benchmark file format (`IMGID:` lines, token TAB tag) and `images/<id>.jpg`:

    python benchmarks/visual_types/make_dataset.py --output runs/visual_types/data
"""

import argparse
import random
from pathlib import Path

from PIL import Image, ImageDraw

TYPE_COLOURS = {"PER": (200, 30, 30), "LOC": (30, 170, 40), "ORG": (30, 60, 200), "MISC": (220, 200, 20)}
SYLLABLES = ["vor", "lak", "den", "mi", "zo", "bra", "ket", "sul", "an", "dro", "pim", "tax", "qui", "rel", "fen", "go"]
TEMPLATES = [
    "Just saw {} again !",
    "Can't stop thinking about {} tonight",
    "{} is trending right now",
    "Big news about {} this morning",
    "Everyone is talking about {} # wow",
    "Photo of {} , what a day",
    "RT @user : so proud of {} today",
    "Wish I was with {} right now lol",
]
SPLIT_SIZES = {"train": 800, "valid": 200, "test": 400}


def made_up_name(rng: random.Random) -> list[str]:
    """One or two capitalised nonce words."""
    return ["".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize() for _ in range(rng.randint(1, 2))]


def draw_image(entity_type: str, rng: random.Random, size: int = 256) -> Image.Image:
    """The type's colour (brightness jittered) under a few grey shapes covering a minority of the picture."""
    jitter = rng.uniform(0.75, 1.0)
    colour = tuple(int(channel * jitter) for channel in TYPE_COLOURS[entity_type])
    image = Image.new("RGB", (size, size), colour)
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(2, 5)):
        x, y = rng.randrange(size), rng.randrange(size)
        radius = rng.randint(8, 30)
        grey = rng.randint(40, 220)
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=(grey, grey, grey))
    return image


def write_split(path: Path, image_dir: Path, split: str, num_posts: int, rng: random.Random) -> None:
    lines = []
    for index in range(num_posts):
        image_id = f"{split}_{index:05d}"
        entity_type = rng.choice(sorted(TYPE_COLOURS))
        name = made_up_name(rng)
        before, after = rng.choice(TEMPLATES).split("{}")
        lines.append(f"IMGID:{image_id}")
        lines += [f"{word}\tO" for word in before.split()]
        lines += [f"{word}\t{'B' if i == 0 else 'I'}-{entity_type}" for i, word in enumerate(name)]
        lines += [f"{word}\tO" for word in after.split()]
        lines.append("")
        draw_image(entity_type, rng).save(image_dir / f"{image_id}.jpg", quality=90)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    image_dir = args.output / "images"
    image_dir.mkdir(parents=True, exist_ok=True)
    for split, num_posts in SPLIT_SIZES.items():
        write_split(args.output / f"{split}.txt", image_dir, split, num_posts, rng)
    print(f"wrote {sum(SPLIT_SIZES.values())} posts and images to {args.output}")


if __name__ == "__main__":
    main()
