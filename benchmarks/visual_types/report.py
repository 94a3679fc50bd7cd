"""Collect the runs of `benchmarks/visual_types/run.sh` into one Markdown table.

    python benchmarks/visual_types/report.py runs/visual_types --epochs 5 --output docs/results/visual_types.md
"""

import argparse
import json
from pathlib import Path

CONDITIONS = [
    ("umt-bert-crf", "UMT-BERT-CRF, test posts with their own images"),
    ("umt-bert-crf-shuffled-images", "UMT-BERT-CRF, test images shuffled between posts"),
    ("umt-bert-crf-no-images", "UMT-BERT-CRF, test posts without images"),
    ("bert-crf", "BERT-CRF (text only)"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    lines = [
        "# Does the visual path learn? Entity types shown only by the image",
        "",
        "Produced by `bash benchmarks/visual_types/run.sh " + str(args.epochs) + "` (this file: "
        f"`python benchmarks/visual_types/report.py {args.root} --epochs {args.epochs} --output {args.output}`).",
        "",
        "Data (`benchmarks/visual_types/make_dataset.py`, seed 0): 800 / 200 / 400 generated posts. Each post names one",
        "made-up entity (e.g. \"Vorlak Denmi\") in a type-neutral sentence; its type (PER, LOC, ORG, MISC, drawn at",
        "random) is shown only by the dominant colour of the post's image, under grey clutter. The words locate the",
        "entity but cannot type it: a text-only model can do no better than guess the type (about 25%).",
        f"Training: MiniLM-L6 encoder, ResNet-152 with random (not ImageNet) weights, frozen; {args.epochs} epochs,",
        "seed 1, the other settings as in the paper; the best dev epoch is kept. Test: strict entity-level scores",
        "(span and type), so every score here is the score on the image-typed mentions.",
        "",
        "| condition | P | R | F1 | F1 PER | F1 LOC | F1 ORG | F1 MISC |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for folder, label in CONDITIONS:
        results = json.loads((args.root / folder / "results.json").read_text())
        test = results["scores"]["test"]
        per_type = [test["f1_per_type"].get(entity_type, 0.0) for entity_type in ("PER", "LOC", "ORG", "MISC")]
        values = [test["precision"], test["recall"], test["f1"], *per_type]
        lines.append(f"| {label} | " + " | ".join(f"{100 * value:.1f}" for value in values) + " |")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
