"""Compare the one-process and two-process runs of `benchmarks/distributed/run.sh` (Markdown).

    python benchmarks/distributed/report.py runs/distributed --output docs/results/distributed.md
"""

import argparse
import json
from pathlib import Path

RUNS = {"one-process": "1 process x batch 16", "two-processes": "2 processes (torchrun, gloo) x batch 8"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    lines = [
        "# One process against two on the same training job",
        "",
        "Produced by `bash benchmarks/distributed/run.sh` (this file: "
        f"`python benchmarks/distributed/report.py {args.root} --output {args.output}`).",
        "BERT-CRF, offline MiniLM-L6 encoder, all 3,373 Twitter-2017 training posts, 3 epochs, global batch 16, seed 1,",
        "one CPU thread per process, best dev epoch kept. Scores in percent (strict entity-level).",
        "",
        "| run | batches per epoch and process | batch per process | dev F1 | test P | test R | test F1 | wall time (min) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for folder, label in RUNS.items():
        results = json.loads((args.root / folder / "results.json").read_text())
        run, dev, test = results["run"], results["scores"]["dev"], results["scores"]["test"]
        lines.append(
            f"| {label} | {run['train_batches_per_epoch_per_process']} | {run['per_device_train_batch_size']} | {100 * dev['f1']:.2f} | "
            f"{100 * test['precision']:.2f} | {100 * test['recall']:.2f} | {100 * test['f1']:.2f} | "
            f"{run['wall_time_s'] / 60:.1f} |"
        )
    lines += [
        "",
        "Each of the two processes reads its own half of every epoch's shuffled posts, in batches of 8: as many batches",
        "as the single process makes of all the posts in batches of 16. Gradients are averaged over the two processes,",
        "so every optimiser step sees 16 posts in both runs. The runs see the posts in different orders and batches, so",
        "their scores differ by run-to-run noise, not by design. Wall times: the machine's 2 cores were shared with",
        "another training run, so the two-process run (two busy processes plus gloo's all-reduce) was not faster.",
    ]
    args.output.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
