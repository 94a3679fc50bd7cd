"""Copy an MNER file with the posts' IMGID lines permuted among the posts (seeded): every post keeps its words and
tags but gets another post's image.

    python benchmarks/visual_types/shuffle_images.py data/test.txt shuffled/test.txt --seed 0
"""

import argparse
import random
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    lines = args.source.read_text(encoding="utf-8").split("\n")
    positions = [index for index, line in enumerate(lines) if line.startswith("IMGID:")]
    original = [lines[index] for index in positions]
    image_lines = list(original)
    random.Random(args.seed).shuffle(image_lines)
    for index, line in zip(positions, image_lines):
        lines[index] = line
    args.target.parent.mkdir(parents=True, exist_ok=True)
    args.target.write_text("\n".join(lines), encoding="utf-8")
    kept = sum(own == given for own, given in zip(original, image_lines))
    print(f"{len(positions)} posts, {kept} kept their own image -> {args.target}")


if __name__ == "__main__":
    main()
