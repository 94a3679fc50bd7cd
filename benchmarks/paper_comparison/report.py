"""Collect the paper-comparison runs (`docs/results/paper_comparison/*.json`, written by `run.sh`) into one Markdown
file next to the paper's Table 2.

    python benchmarks/paper_comparison/report.py [--output docs/results/paper_comparison.md]
"""

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

from hub_scripts.model_card import PAPER_F1_PER_TYPE, PAPER_RESULTS, PAPER_SYSTEM_OF_VARIANT

RESULTS_DIR = Path("docs/results/paper_comparison")
DATASETS = {"twitter2015": "Twitter-2015", "twitter2017": "Twitter-2017"}
TYPES = ("PER", "LOC", "ORG", "MISC")


def mean_and_spread(values: list[float]) -> str:
    """Percent, with the standard deviation over seeds when there are several."""
    if len(values) == 1:
        return f"{100 * values[0]:.2f}"
    return f"{100 * statistics.mean(values):.2f} ± {100 * statistics.stdev(values):.2f}"


def spread_sentence(seeds_of_variant: dict[str, list[dict]]) -> str:
    """How far apart the measured systems' mean test F1 are, next to the seed-to-seed spread."""
    f1_of_variant = {v: [r["scores"]["test"]["f1"] for r in seeds] for v, seeds in seeds_of_variant.items()}
    means = [statistics.mean(f1) for f1 in f1_of_variant.values()]
    sentence = f"The measured systems' test F1 lie within {100 * (max(means) - min(means)):.2f} points of each other"
    deviations = [statistics.stdev(f1) for f1 in f1_of_variant.values() if len(f1) > 1]
    if not deviations:
        return sentence + "; with one seed per system, the seed-to-seed spread is not measured here."
    return sentence + f"; between seeds, a system's test F1 has a standard deviation of up to {100 * max(deviations):.2f} points."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path("docs/results/paper_comparison.md"))
    args = parser.parse_args()

    runs = defaultdict(list)  # (data set, variant) -> results of every seed
    for path in sorted(RESULTS_DIR.glob("*.json")):
        results = json.loads(path.read_text())
        runs[Path(results["data"]["data_dir"]).name, results["model"]["variant"]].append(results)

    lines = [
        "# The paper's comparison (Table 2) on this machine",
        "",
        "Each run: `bash benchmarks/paper_comparison/run.sh <data set> <variant> <seed> <epochs>` (its results file is",
        f"copied to `{RESULTS_DIR}/`); this table: `python benchmarks/paper_comparison/report.py`.",
        "",
        "What differs from the paper, on purpose or by necessity:",
        "- text encoder: MiniLM-L6-H384 (uncased, 22 M parameters; the only pretrained encoder available offline)",
        "  instead of bert-base-cased (110 M);",
        "- no images: the benchmark's images are not on this machine, so every post is text-only (`has_image=0`) and",
        "  MT-BERT-CRF / UMT-BERT-CRF run their cross-modal layers without anything to attend to. What they can add",
        "  over BERT-CRF here comes from their extra Transformer layers and, for UMT, the ESD branch, not from images;",
        "- fewer epochs than the public script's 12 (CPU time), with the same learning rate, batch size 16, linear",
        "  warm-up over 10% of the steps, weight decay 0.01, lambda 0.5; the best dev epoch is kept, and the test",
        "  set is scored once with it.",
        "Identical settings and seeds across the three systems. Scores: test set, strict entity-level micro P/R/F1 (%);",
        "with several seeds, mean ± sample standard deviation over the seeds.",
        "",
    ]
    for dataset, dataset_name in DATASETS.items():
        variants = [variant for variant in PAPER_SYSTEM_OF_VARIANT if (dataset, variant) in runs]
        if not variants:
            continue
        lines += [
            f"## {dataset_name}",
            "",
            "| system | seeds | epochs (best dev) | P | R | F1 | " + " | ".join(f"F1 {t}" for t in TYPES) + " | dev F1 |",
            "|---|---:|---|---:|---:|---:|" + "---:|" * (len(TYPES) + 1),
        ]
        for variant in variants:
            seeds = runs[dataset, variant]
            tests = [results["scores"]["test"] for results in seeds]
            cells = [mean_and_spread([test[name] for test in tests]) for name in ("precision", "recall", "f1")]
            cells += [mean_and_spread([test["f1_per_type"].get(t, 0.0) for test in tests]) for t in TYPES]
            cells.append(mean_and_spread([results["scores"]["dev"]["f1"] for results in seeds]))
            epochs = ", ".join(f"{results['run']['num_train_epochs']:g} ({results['run']['best_epoch']:g})" for results in seeds)
            lines.append(f"| {variant} (measured) | {len(seeds)} | {epochs} | " + " | ".join(cells) + " |")
        for variant in variants:
            system = PAPER_SYSTEM_OF_VARIANT[variant]
            scores = [*PAPER_RESULTS[system][dataset_name], *(PAPER_F1_PER_TYPE[system][dataset_name][t] for t in TYPES)]
            lines.append(f"| {system} (paper) | | 12 | " + " | ".join(f"{value:.2f}" for value in scores) + " | |")
        lines += [
            "",
            spread_sentence({variant: runs[dataset, variant] for variant in variants}),
            "",
            "| run | threads | wall time per epoch (s) | whole run (min) | peak memory (MiB) |",
            "|---|---:|---|---:|---:|",
        ]
        for variant in variants:
            for results in runs[dataset, variant]:
                run = results["run"]
                epoch_times = ", ".join(f"{seconds:.0f}" for seconds in run["epoch_wall_times_s"])
                memory = run["peak_memory_mb"]["cpu_max_rss_mb"]
                lines.append(
                    f"| {variant} seed {run['seed']} | {run.get('torch_threads_per_process', '?')} | {epoch_times} | "
                    f"{run['wall_time_s'] / 60:.1f} | {memory:.0f} |"
                )
        lines.append("")
    lines += [
        "Wall times were measured on the 2-core machine while other jobs shared it (two training runs in parallel,",
        "one thread each, plus development work), so they are upper bounds; see `docs/results/performance.md` for",
        "timings on a quiet machine. A run shown with threads `?` has a results file from before the thread count was",
        "recorded; it ran with torch's default of 2 threads.",
    ]
    args.output.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
