"""The results file of a run: `results.json` and `results.md` (overall P/R/F1 and F1 per type for dev and test, with
the command, seed, versions, wall time and peak memory). `umt-train` and `umt-evaluate` write it; the model card
is generated from it."""

import json
import platform
import resource
import shlex
import sys
import time
from pathlib import Path

import torch

RESULTS_JSON = "results.json"
RESULTS_MARKDOWN = "results.md"
PACKAGES = ("torch", "transformers", "datasets", "accelerate", "evaluate", "timm", "huggingface_hub", "seqeval")


def versions() -> dict[str, str]:
    """Python and the versions of the packages the run used."""
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    return found


def command_line() -> str:
    """The command that started this process, as it could be typed again."""
    return " ".join(shlex.quote(argument) for argument in [Path(sys.argv[0]).name, *sys.argv[1:]])


def peak_memory_mb() -> dict[str, float]:
    """Peak resident memory of this process (CPU) and peak allocated GPU memory, in MiB."""
    peak = {"cpu_max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if torch.cuda.is_available():
        peak["gpu_max_allocated_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return peak


def data_section(data_args, encoded) -> dict:
    """What was scored: the data folders and the posts (with an image) of every split."""
    return {
        "data_dir": data_args.data_dir,
        "image_dir": data_args.image_dir,
        "entity_type_mapping": data_args.entity_type_mapping,
        "posts": {split: len(split_set) for split, split_set in encoded.items()},
        "posts_with_image": {split: sum(path is not None for path in split_set["image"]) for split, split_set in encoded.items()},
    }


def run_section(training_args, started: float, **details) -> dict:
    """How the run went: the command, seed, processes and threads, wall time since `started` (perf_counter),
    peak memory, versions, and any `details`."""
    return {
        "command": command_line(),
        "seed": training_args.seed,
        "world_size": training_args.world_size,
        "torch_threads_per_process": torch.get_num_threads(),
        **details,
        "wall_time_s": time.perf_counter() - started,
        "peak_memory_mb": peak_memory_mb(),
        "versions": versions(),
    }


def scores_summary(scores: dict) -> str:
    """One line: P/R/F1 in percent per scored split."""
    return ", ".join(
        f"{split} P/R/F1 {100 * s['precision']:.2f}/{100 * s['recall']:.2f}/{100 * s['f1']:.2f}" for split, s in scores.items()
    )


def split_scores(metrics: dict[str, float], prefix: str) -> dict:
    """Trainer metrics (`<prefix>_precision`, `<prefix>_f1_PER`, ...) -> {precision, recall, f1, accuracy, f1_per_type}."""
    scores = {name: metrics[f"{prefix}_{name}"] for name in ("precision", "recall", "f1", "accuracy")}
    scores["f1_per_type"] = {
        name.removeprefix(f"{prefix}_f1_"): value for name, value in metrics.items() if name.startswith(f"{prefix}_f1_")
    }
    return scores


def write_results(output_dir: str | Path, results: dict) -> Path:
    """Write `results.json` and `results.md` into `output_dir`; returns the JSON path."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / RESULTS_JSON).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    (output_dir / RESULTS_MARKDOWN).write_text(results_markdown(results), encoding="utf-8")
    return output_dir / RESULTS_JSON


def load_results(folder: str | Path) -> dict:
    path = Path(folder) / RESULTS_JSON
    if not path.is_file():
        raise FileNotFoundError(f"no {RESULTS_JSON} in {folder}: run umt-train or umt-evaluate first")
    return json.loads(path.read_text(encoding="utf-8"))


def scores_table(results: dict) -> str:
    """Markdown table: one row per scored split, P/R/F1 in percent and F1 per type."""
    splits = list(results["scores"])
    types = sorted({t for split in splits for t in results["scores"][split]["f1_per_type"]})
    lines = [
        "| split | " + " | ".join(["P", "R", "F1", *(f"F1 {t}" for t in types)]) + " |",
        "|---|" + "---:|" * (3 + len(types)),
    ]
    for split in splits:
        scores = results["scores"][split]
        values = [scores["precision"], scores["recall"], scores["f1"], *(scores["f1_per_type"].get(t, 0.0) for t in types)]
        lines.append(f"| {split} | " + " | ".join(f"{100 * value:.2f}" for value in values) + " |")
    return "\n".join(lines)


def results_markdown(results: dict) -> str:
    run = results["run"]
    lines = [
        f"# {results['model']['variant']} on {results['data']['data_dir']}",
        "",
        f"Command: `{run['command']}`",
        "",
        scores_table(results),
        "",
        "| | |",
        "|---|---|",
        f"| text encoder | {results['model'].get('text_encoder', 'see the model folder')} |",
        f"| vision backbone | {results['model'].get('vision_backbone')} (pretrained weights: {results['model'].get('pretrained_vision_weights')}) |",
        f"| images | {results['data']['image_dir'] or 'none (every post text-only)'} |",
        f"| posts train / dev / test | {' / '.join(str(results['data']['posts'].get(s, '-')) for s in ('train', 'validation', 'test'))} |",
        f"| seed | {run['seed']} |",
        f"| processes x threads | {run['world_size']} x {run.get('torch_threads_per_process', '?')} |",
        f"| wall time | {run['wall_time_s']:.0f} s |",
    ]
    if run.get("epoch_wall_times_s"):
        lines.append(f"| wall time per epoch | {', '.join(f'{t:.0f}' for t in run['epoch_wall_times_s'])} s |")
    if run.get("best_epoch") is not None:
        lines.append(f"| best dev epoch | {run['best_epoch']} |")
    lines += [f"| peak memory ({name}) | {value:.0f} MiB |" for name, value in run["peak_memory_mb"].items()]
    lines.append(f"| versions | {', '.join(f'{k} {v}' for k, v in run['versions'].items())} |")
    return "\n".join(lines) + "\n"
