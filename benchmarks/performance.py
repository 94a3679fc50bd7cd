"""Speed and memory of the full-size UMT (bert-base-cased dimensions, ResNet-152, random weights) on this machine:
inference, training steps, the CRF against a per-sequence Python CRF, image feature caching, peak memory, and a
count of the tensor operations that shows where Python loops. Writes docs/results/performance.md.

    python benchmarks/performance.py                                # full size, CPU fp32: ~17 min on 2 cores
    python benchmarks/performance.py --device cuda --dtype bf16     # GPU, bf16 autocast: performance-cuda-bf16.md
    python benchmarks/performance.py --quick --output /tmp/perf.md  # tiny models and inputs, seconds (the test)

Each measurement runs in a child process of its own (forked on CPU, spawned on CUDA), so that its peak memory,
allocator and thread pool are its own. Times are medians of repeated calls after a warm-up.
"""

import argparse
import copy
import multiprocessing
import os
import platform
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import PIL.Image
import torch
from datasets import Dataset, DatasetDict, disable_progress_bars
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import (
    FlopCounterMode,
    flop_registry,
    register_flop_formula,
    sdpa_backward_flop_count,
    sdpa_flop_count,
)
from transformers import AutoModelForTokenClassification
from transformers.utils import logging as transformers_logging

from configuration_umt import DEFAULT_MNER_LABELS, UMTConfig
from hub_scripts.results import versions
from modeling_umt import UMTForMultimodalNER, build_vision_backbone
from modeling_umt.crf import LinearChainCRF
from processing_umt import UMTImageProcessor, add_image_features

# FlopCounterMode knows the CUDA attention kernels but not the CPU one that scaled_dot_product_attention uses here.
if torch.ops.aten._scaled_dot_product_flash_attention_for_cpu not in flop_registry:

    @register_flop_formula(torch.ops.aten._scaled_dot_product_flash_attention_for_cpu)
    def _cpu_attention_flops(query_shape, key_shape, value_shape, *args, **kwargs) -> int:
        return sdpa_flop_count(query_shape, key_shape, value_shape)

    @register_flop_formula(torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward)
    def _cpu_attention_backward_flops(grad_out_shape, query_shape, key_shape, value_shape, *args, **kwargs) -> int:
        return sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape, value_shape)


#: Posts per split of Twitter-2017 (train, dev, test): the size of the image set that feature caching is timed on.
TWITTER2017_SPLITS = {"train": 3373, "validation": 723, "test": 723}
#: Pixel sizes of the generated stand-in JPEGs (cycled), typical of tweet photos.
STAND_IN_IMAGE_SIZES = ((640, 480), (800, 600), (1024, 768), (1200, 675), (600, 600), (480, 640))
#: Tokenised posts have 1.25 word pieces per word (words = 4/5 of the pieces between [CLS] and [SEP]).
WORDS_PER_INNER_PIECE = 0.8
#: The training step's optimizer, as `umt-train` (Trainer's default "adamw_torch_fused") runs it.
LEARNING_RATE, WEIGHT_DECAY = 5e-5, 0.01

INFERENCE_MODELS = {
    "umt-pixels": "UMT from pixels",
    "umt-features": "UMT from cached features",
    "bert": "BERT token classifier",
    "vision": "vision backbone alone",
}
TRAINING_MODELS = {
    "umt-features": "UMT, cached features",
    "umt-pixels": "UMT, backbone run every step",
    "bert-crf": "BERT-CRF",
}
CRF_OPERATIONS = ("forward algorithm", "Viterbi", "marginals")
CRF_IMPLEMENTATIONS = ("vectorised", "per-sequence")
CRF_TURN_S = 0.02  # length of one implementation's block of calls in a round of CRF timing
#: Batches of the operation count: (posts, pieces per post, words per post). Each differs from "base" in one size.
OPERATION_COUNT_SHAPES = {"base": (2, 16, 8), "more posts": (6, 16, 8), "more pieces": (2, 24, 8), "more words": (2, 24, 12)}


@dataclass(frozen=True)
class Timing:
    """Calls of one measurement: `warmup` untimed, then timed ones until `min_repetitions` are done and `budget_s`
    seconds have passed, at most `max_repetitions`."""

    warmup: int
    min_repetitions: int
    max_repetitions: int
    budget_s: float


@dataclass(frozen=True)
class Scale:
    """The sizes of a run: model, benchmark batches, CRF grid, image count, repetitions."""

    config_kwargs: dict
    piece_range: tuple[int, int]  # pieces per post, [CLS] and [SEP] included, spread evenly over a batch
    inference_batch_sizes: tuple[int, ...]
    training_batch_size: int
    crf_batch_sizes: tuple[int, ...]
    crf_lengths: tuple[int, ...]
    crf_target_batch_size: int
    num_images: int  # default image count of the feature caching run
    cache_batch_size: int
    model_timing: Timing
    crf_timing: Timing


FULL = Scale(
    config_kwargs={},
    piece_range=(16, 32),
    inference_batch_sizes=(1, 32),
    training_batch_size=16,
    crf_batch_sizes=(1, 8, 32, 128),
    crf_lengths=(16, 32, 64),
    crf_target_batch_size=32,
    num_images=sum(TWITTER2017_SPLITS.values()),
    cache_batch_size=32,
    model_timing=Timing(warmup=1, min_repetitions=5, max_repetitions=20, budget_s=10.0),
    crf_timing=Timing(warmup=2, min_repetitions=5, max_repetitions=30, budget_s=1.0),
)
QUICK = Scale(
    config_kwargs={
        "text_config": {
            "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64, "vocab_size": 120
        },
        "num_cross_attention_heads": 4,
        "vision_backbone": "resnet18",
        "vision_feature_size": 512,
    },
    piece_range=(6, 12),
    inference_batch_sizes=(1, 3),
    training_batch_size=2,
    crf_batch_sizes=(1, 4),
    crf_lengths=(8,),
    crf_target_batch_size=4,
    num_images=6,
    cache_batch_size=4,
    model_timing=Timing(warmup=0, min_repetitions=2, max_repetitions=2, budget_s=0.0),
    crf_timing=Timing(warmup=0, min_repetitions=2, max_repetitions=2, budget_s=0.0),
)


@dataclass(frozen=True)
class Settings:
    """What the command line chose."""

    quick: bool
    device: str
    dtype: str
    threads: int
    num_images: int

    @property
    def scale(self) -> Scale:
        return QUICK if self.quick else FULL


@dataclass
class Measurement:
    """Times (seconds) of the timed calls, FLOPs of one call, memory before the first call (`idle_bytes`: runtime,
    model, inputs) and the peak while the calls ran; `details` holds what a measurement adds."""

    times: list[float]
    flops: int = 0
    idle_bytes: int = 0
    peak_bytes: int = 0
    details: dict = field(default_factory=dict)

    @property
    def median(self) -> float:
        return statistics.median(self.times)


# ---------------------------------------------------------------------------------------------------- measuring


def synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def timed(call: Callable[[], object], device: str) -> float:
    """Wall time of one call, the device's queued work included."""
    synchronize(device)
    started = time.perf_counter()
    call()
    synchronize(device)
    return time.perf_counter() - started


def proc_status_bytes(key: str) -> int:
    """A memory line of /proc/self/status (VmRSS, VmHWM), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


class PeakMemory:
    """Peak memory of what runs between `start()` and `stop()`. CUDA: the allocator's peak. CPU (Linux): the peak
    resident set of the process (VmHWM, reset at `start()` through /proc/self/clear_refs)."""

    def __init__(self, device: str):
        self.device = device
        self.idle_bytes = 0

    def start(self) -> None:
        synchronize(self.device)
        if self.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
            self.idle_bytes = torch.cuda.memory_allocated()
        else:
            Path("/proc/self/clear_refs").write_text("5")
            self.idle_bytes = proc_status_bytes("VmRSS")

    def stop(self) -> tuple[int, int]:
        """(memory at `start()`, peak since then), bytes."""
        synchronize(self.device)
        peak = torch.cuda.max_memory_allocated() if self.device == "cuda" else proc_status_bytes("VmHWM")
        return self.idle_bytes, peak


def untimed_calls(timing: Timing, count_flops: bool) -> int:
    """Calls made before the timed rounds: the FLOP-counting call, if any, and `timing.warmup` more, at least one."""
    return max(int(count_flops) + timing.warmup, 1)


def measure_in_turns(
    settings: Settings, calls: dict[str, Callable[[], object]], timing: Timing, turn_s: float = 0.0, count_flops: bool = True
) -> dict[str, Measurement]:
    """Calls timed in turns in one process, so that all of them run under the same state of the machine.

    First, for each call: the FLOPs of a first call (when `count_flops`) and `timing.warmup` more calls (at least one
    untimed call in all). Then rounds in which each call in turn runs a block of consecutive calls lasting about
    `turn_s` (one call if a call takes longer), which records the block's time per call: at least
    `timing.min_repetitions` rounds, then while `timing.budget_s` lasts, at most `timing.max_repetitions`."""
    measurements, calls_per_turn = {}, {}
    for name, call in calls.items():
        flops = 0
        if count_flops:
            with FlopCounterMode(display=False) as counter:
                call()
            flops = counter.get_total_flops()
        warmup_s = [timed(call, settings.device) for _ in range(untimed_calls(timing, count_flops) - int(count_flops))]
        measurements[name] = Measurement([], flops)
        calls_per_turn[name] = max(1, round(turn_s / min(warmup_s))) if warmup_s else 1
    rounds, started = 0, time.perf_counter()
    while rounds < timing.max_repetitions and (
        rounds < timing.min_repetitions or time.perf_counter() - started < timing.budget_s
    ):
        for name, call in calls.items():
            block_s = timed(lambda: [call() for _ in range(calls_per_turn[name])], settings.device)
            measurements[name].times.append(block_s / calls_per_turn[name])
        rounds += 1
    return measurements


def peak_memory_case(
    settings: Settings, num_calls: int, make_call: Callable[..., Callable[[], object]], *args
) -> tuple[int, int]:
    """(before, peak) memory in bytes over `num_calls` calls of `make_call(settings, *args)` (the untimed calls a
    timed measurement makes before its rounds), alone in its process: in a process shared with other models, memory
    that they freed would be reused and hide what these calls need."""
    call = make_call(settings, *args)
    memory = PeakMemory(settings.device)
    memory.start()
    for _ in range(num_calls):
        call()
    return memory.stop()


def _in_child(settings: Settings, function: Callable, args: tuple):
    torch.set_num_threads(settings.threads)
    torch.manual_seed(0)
    transformers_logging.set_verbosity_error()
    disable_progress_bars()
    return function(settings, *args)


def isolated(settings: Settings, function: Callable, *args):
    """`function(settings, *args)` in a fresh child process (fork on CPU: this process has run no tensor operation;
    spawn on CUDA, which cannot be forked)."""
    context = multiprocessing.get_context("fork" if settings.device == "cpu" else "spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(_in_child, settings, function, args).result()


def autocast(settings: Settings) -> torch.autocast:
    """bf16 autocast when asked for (float32 weights, matrix products in bf16), else a no-op."""
    return torch.autocast(settings.device, dtype=torch.bfloat16, enabled=settings.dtype == "bf16")


# ------------------------------------------------------------------------------------------------ models, inputs


def model_config(settings: Settings, variant: str = "umt-bert-crf") -> UMTConfig:
    return UMTConfig(variant=variant, load_pretrained_vision_weights=False, **copy.deepcopy(settings.scale.config_kwargs))


def bert_token_classifier(config: UMTConfig) -> torch.nn.Module:
    """A plain token classifier (BertForTokenClassification) over UMT's text encoder configuration and tag set."""
    text_config = copy.deepcopy(config.text_config)
    text_config.num_labels = len(config.labels)
    return AutoModelForTokenClassification.from_config(text_config)


def piece_lengths(batch_size: int, scale: Scale) -> list[int]:
    """Pieces per post: spread evenly over `scale.piece_range` (a single post gets the middle)."""
    low, high = scale.piece_range
    if batch_size == 1:
        return [(low + high) // 2]
    return [round(low + (high - low) * index / (batch_size - 1)) for index in range(batch_size)]


def words_of(pieces: int) -> int:
    return max(1, int((pieces - 2) * WORDS_PER_INNER_PIECE))


def make_batch(
    config: UMTConfig, pieces: list[int], words: list[int], image: str | None, labels: bool, device: str
) -> dict[str, torch.Tensor]:
    """Random posts of the given lengths, padded as the collator pads them: `[CLS] pieces [SEP]`, each post's words
    starting at pieces spread evenly between [CLS] and [SEP]. `image`: "pixels", "features" (float16, as cached)
    or None."""
    num_pieces, num_words = torch.tensor(pieces), torch.tensor(words)
    attention_mask = (torch.arange(max(pieces)) < num_pieces[:, None]).long()
    word_positions = torch.arange(max(words))
    first_piece_index = 1 + word_positions * (num_pieces[:, None] - 2) // num_words[:, None]
    first_piece_index = torch.where(word_positions < num_words[:, None], first_piece_index, -1)
    batch = {
        "input_ids": torch.randint(1, config.text_config.vocab_size, attention_mask.shape) * attention_mask,
        "attention_mask": attention_mask,
        "token_type_ids": torch.zeros_like(attention_mask),
        "first_piece_index": first_piece_index,
    }
    if labels:
        tags = torch.randint(0, len(config.labels), first_piece_index.shape)
        batch["labels"] = torch.where(first_piece_index >= 0, tags, -100)
    batch_size = len(pieces)
    if image == "pixels":
        batch["pixel_values"] = torch.randn(batch_size, 3, config.image_size, config.image_size)
    elif image == "features":
        features = torch.randn(batch_size, config.num_visual_blocks, config.vision_feature_size).relu()
        batch["image_features"] = features.half()
    if image is not None:
        batch["has_image"] = torch.ones(batch_size, dtype=torch.long)
    return {name: tensor.to(device) for name, tensor in batch.items()}


def benchmark_batch(config: UMTConfig, scale: Scale, batch_size: int, image: str | None, labels: bool, device: str):
    pieces = piece_lengths(batch_size, scale)
    return make_batch(config, pieces, [words_of(count) for count in pieces], image, labels, device)


# ---------------------------------------------------------------------------------------------- the measurements


def environment_case(settings: Settings) -> dict:
    """Threads torch uses in a child, and the GPU this machine has."""
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"threads": torch.get_num_threads(), "gpu": gpu}


def inference_call(settings: Settings, model_name: str, batch_size: int) -> Callable[[], torch.Tensor]:
    """One forward pass to tags (UMT: Viterbi; token classifier: argmax) or to features (the vision backbone)."""
    config = model_config(settings)
    image = {"umt-pixels": "pixels", "vision": "pixels", "umt-features": "features"}.get(model_name)
    batch = benchmark_batch(config, settings.scale, batch_size, image, labels=False, device=settings.device)
    if model_name == "bert":
        model = bert_token_classifier(config)
        text = {name: batch[name] for name in ("input_ids", "attention_mask", "token_type_ids")}

        def run() -> torch.Tensor:
            return model(**text).logits.argmax(-1)
    elif model_name == "vision":
        model = build_vision_backbone(config)

        def run() -> torch.Tensor:
            return model.forward_features(batch["pixel_values"])
    else:
        model = UMTForMultimodalNER(config)

        def run() -> torch.Tensor:
            return model(**batch).predicted_tags

    model.to(settings.device).eval()

    def call() -> torch.Tensor:
        with torch.inference_mode(), autocast(settings):
            return run()

    return call


def training_call(settings: Settings, model_name: str, batch_size: int) -> Callable[[], None]:
    """One optimizer step: forward with labels, backward, fused AdamW."""
    config = model_config(settings, "bert-crf" if model_name == "bert-crf" else "umt-bert-crf")
    image = {"umt-pixels": "pixels", "umt-features": "features"}.get(model_name)
    batch = benchmark_batch(config, settings.scale, batch_size, image, labels=True, device=settings.device)
    model = UMTForMultimodalNER(config).to(settings.device).train()
    trainable = [parameter for parameter in model.parameters() if parameter.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY, fused=True)

    def call() -> None:
        optimizer.zero_grad(set_to_none=True)
        with autocast(settings):
            loss = model(**batch).loss
        loss.backward()
        optimizer.step()

    return call


def models_case(settings: Settings, kind: str, batch_size: int) -> dict[str, Measurement]:
    """Every model of one kind ("inference": `INFERENCE_MODELS`, "training": `TRAINING_MODELS`) on the same batch
    size, timed in turns in one process."""
    make_call, names = {"inference": (inference_call, INFERENCE_MODELS), "training": (training_call, TRAINING_MODELS)}[kind]
    calls = {name: make_call(settings, name, batch_size) for name in names}
    return measure_in_turns(settings, calls, settings.scale.model_timing)


def forward_variables(crf: LinearChainCRF, emissions: torch.Tensor) -> list[torch.Tensor]:
    """Log forward variables alpha_i (T,) of one unpadded sequence (n, T), position by position."""
    alpha = crf.start_transitions + emissions[0]
    alphas = [alpha]
    for position in range(1, emissions.size(0)):
        alpha = torch.logsumexp(alpha.unsqueeze(1) + crf.transitions, dim=0) + emissions[position]
        alphas.append(alpha)
    return alphas


def log_partition_per_sequence(crf: LinearChainCRF, emissions: torch.Tensor, lengths: list[int]) -> list[torch.Tensor]:
    """log Z of each sequence, one sequence at a time."""
    return [
        torch.logsumexp(forward_variables(crf, sequence[:length])[-1] + crf.end_transitions, dim=0)
        for sequence, length in zip(emissions, lengths)
    ]


def viterbi_per_sequence(crf: LinearChainCRF, emissions: torch.Tensor, lengths: list[int]) -> list[list[int]]:
    """The best tag path of each sequence, one sequence and one position at a time."""
    paths = []
    for sequence, length in zip(emissions, lengths):
        score = crf.start_transitions + sequence[0]
        backpointers = []
        for position in range(1, length):
            best_score, best_previous = (score.unsqueeze(1) + crf.transitions).max(dim=0)
            score = best_score + sequence[position]
            backpointers.append(best_previous)
        tag = int((score + crf.end_transitions).argmax())
        path = [tag]
        for best_previous in reversed(backpointers):
            tag = int(best_previous[tag])
            path.append(tag)
        paths.append(path[::-1])
    return paths


def marginals_per_sequence(crf: LinearChainCRF, emissions: torch.Tensor, lengths: list[int]) -> list[torch.Tensor]:
    """P(y_i = t) of each sequence by forward-backward, one sequence and one position at a time."""
    marginals = []
    for sequence, length in zip(emissions, lengths):
        alphas = forward_variables(crf, sequence[:length])
        beta = crf.end_transitions
        betas = [beta]
        for position in range(length - 1, 0, -1):
            beta = torch.logsumexp(crf.transitions + (sequence[position] + beta).unsqueeze(0), dim=1)
            betas.append(beta)
        log_z = torch.logsumexp(alphas[-1] + crf.end_transitions, dim=0)
        marginals.append(torch.exp(torch.stack(alphas) + torch.stack(betas[::-1]) - log_z))
    return marginals


CRF_FUNCTIONS = {
    "forward algorithm": (LinearChainCRF.log_partition, log_partition_per_sequence),
    "Viterbi": (LinearChainCRF.decode, viterbi_per_sequence),
    "marginals": (LinearChainCRF.marginals, marginals_per_sequence),
}


def real_lengths(batch_size: int, length: int) -> list[int]:
    """The real lengths of a CRF benchmark batch: spread evenly over [length/2, length]; a single sequence: length."""
    shortest = length // 2
    if batch_size == 1:
        return [length]
    return [shortest + (length - shortest) * i // (batch_size - 1) for i in range(batch_size)]


def crf_calls(settings: Settings, operation: str, batch_size: int, length: int) -> dict[str, Callable[[], object]]:
    """Both implementations of one CRF operation over 9 tags, on the same random emissions whose real lengths are
    spread evenly over [length/2, length]."""
    crf = LinearChainCRF(len(DEFAULT_MNER_LABELS)).to(settings.device)
    for parameter in crf.parameters():
        torch.nn.init.uniform_(parameter, -0.1, 0.1)
    emissions = torch.randn(batch_size, length, crf.num_tags, device=settings.device)
    lengths = real_lengths(batch_size, length)
    mask = torch.arange(length, device=settings.device) < torch.tensor(lengths, device=settings.device)[:, None]
    vectorised, per_sequence = CRF_FUNCTIONS[operation]
    return {
        "vectorised": torch.inference_mode()(lambda: vectorised(crf, emissions, mask)),
        "per-sequence": torch.inference_mode()(lambda: per_sequence(crf, emissions, lengths)),
    }


def crf_call(settings: Settings, operation: str, implementation: str, batch_size: int, length: int) -> Callable[[], object]:
    return crf_calls(settings, operation, batch_size, length)[implementation]


def crf_case(settings: Settings, operation: str, batch_size: int, length: int) -> dict[str, Measurement]:
    """Both implementations of one CRF operation timed in turns; the per-sequence measurement also records whether
    both give the same result."""
    calls = crf_calls(settings, operation, batch_size, length)
    measurements = measure_in_turns(settings, calls, settings.scale.crf_timing, CRF_TURN_S, count_flops=False)
    expected, found = calls["per-sequence"](), calls["vectorised"]()
    found_rows = [row[:size] if row.dim() else row for row, size in zip(found, real_lengths(batch_size, length))]
    measurements["per-sequence"].details["same result"] = all(
        torch.allclose(torch.as_tensor(result, device=settings.device).double(), row.double(), atol=1e-4)
        for result, row in zip(expected, found_rows)
    )
    return measurements


def write_stand_in_images(folder: Path, count: int) -> dict[str, list[str]]:
    """`count` JPEG files split like Twitter-2017 (train, dev, test): copies of a few generated pictures (smooth
    colour fields with grain) of tweet-photo sizes. Returns the paths per split."""
    generator = np.random.default_rng(0)
    originals = []
    for width, height in STAND_IN_IMAGE_SIZES:
        coarse = PIL.Image.fromarray(generator.integers(0, 256, (6, 8, 3), dtype=np.uint8))
        colours = coarse.resize((width, height), PIL.Image.BICUBIC)
        grain = generator.integers(-8, 9, (height, width, 3))
        pixels = np.clip(np.asarray(colours, dtype=np.int16) + grain, 0, 255).astype(np.uint8)
        originals.append(folder / f"original-{width}x{height}.jpg")
        PIL.Image.fromarray(pixels).save(originals[-1], quality=85)
    held_out = round(count * TWITTER2017_SPLITS["validation"] / sum(TWITTER2017_SPLITS.values()))
    sizes = {"train": count - 2 * held_out, "validation": held_out, "test": held_out}
    paths: dict[str, list[str]] = {}
    index = 0
    for split, size in sizes.items():
        if not size:
            continue
        paths[split] = []
        for _ in range(size):
            target = folder / f"{index}.jpg"
            shutil.copyfile(originals[index % len(originals)], target)
            paths[split].append(str(target))
            index += 1
    return paths


def caching_case(settings: Settings, image_paths: dict[str, list[str]], cache_dir: str) -> Measurement:
    """`add_image_features` over the stand-in image set with the model's backbone (timed once), then a second call
    that reloads the cache; the size of the cache files."""
    model = UMTForMultimodalNER(model_config(settings)).to(settings.device).eval()
    posts = {
        split: {"id": [str(i) for i in range(len(paths))], "image_id": [Path(path).stem for path in paths], "image": paths}
        for split, paths in image_paths.items()
    }
    dataset = DatasetDict({split: Dataset.from_dict(columns) for split, columns in posts.items()})
    image_processor, batch_size = UMTImageProcessor(), settings.scale.cache_batch_size

    def call() -> None:
        with autocast(settings):
            add_image_features(dataset, image_processor, model.get_image_features, batch_size=batch_size, cache_dir=cache_dir)

    memory = PeakMemory(settings.device)
    memory.start()
    first = timed(call, settings.device)
    idle_bytes, peak_bytes = memory.stop()
    reload = timed(call, settings.device)
    files = [path for path in Path(cache_dir).rglob("*") if path.is_file()]
    return Measurement(
        [first],
        idle_bytes=idle_bytes,
        peak_bytes=peak_bytes,
        details={
            "images": sum(len(paths) for paths in image_paths.values()),
            "reload_s": reload,
            "image_bytes": sum(os.path.getsize(path) for paths in image_paths.values() for path in paths),
            "cache bytes": sum(path.stat().st_size for path in files),
            "feature file bytes": sum(path.stat().st_size for path in files if path.name.startswith("images-")),
        },
    )


class OperationCounter(TorchDispatchMode):
    """Counts the tensor operations dispatched while active, backward ones included."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += 1
        return func(*args, **(kwargs or {}))


def count_operations(call: Callable[[], object]) -> int:
    with OperationCounter() as counter:
        call()
    return counter.count


def operation_count_case(settings: Settings) -> dict:
    """Tensor operations of each hot path on batches that differ in posts, pieces or words (`OPERATION_COUNT_SHAPES`,
    no padding), and the operations per word of the CRFs alone. A Python loop over posts, pieces or words shows
    as a count that grows with them; the CRFs' scan over word positions is the one loop expected."""
    config = model_config(settings)
    model = UMTForMultimodalNER(config).to(settings.device)
    crfs = [crf for crf in (model.crf, model.span_crf) if crf is not None]

    def batch_of(shape: tuple[int, int, int], image: str, labels: bool) -> dict[str, torch.Tensor]:
        posts, pieces, words = shape
        return make_batch(config, [pieces] * posts, [words] * posts, image, labels, settings.device)

    def infer(batch: dict[str, torch.Tensor]) -> None:
        model.eval()
        with torch.inference_mode():
            model(**batch)

    def train(batch: dict[str, torch.Tensor]) -> None:
        model.train()
        model(**batch).loss.backward()
        model.zero_grad(set_to_none=True)

    paths = {
        "inference from cached features": (infer, "features", False),
        "inference from pixels": (infer, "pixels", False),
        "training step, cached features": (train, "features", True),
    }
    counts: dict[str, dict[str, int]] = {}
    for path, (run, image, training) in paths.items():
        counts[path] = {}
        for name, shape in OPERATION_COUNT_SHAPES.items():
            batch = batch_of(shape, image, labels=training)
            counts[path][name] = count_operations(lambda: run(batch))

    def crf_operations(words: int, training: bool) -> int:
        """Operations of the model's CRF work on (2, words) emissions: MNER Viterbi, or every CRF's NLL and backward."""
        mask = torch.ones(2, words, dtype=torch.bool, device=settings.device)
        if not training:
            emissions = torch.randn(2, words, model.crf.num_tags, device=settings.device)
            with torch.inference_mode():
                return count_operations(lambda: model.crf.decode(emissions, mask))
        total = 0
        for crf in crfs:
            emissions = torch.randn(2, words, crf.num_tags, device=settings.device, requires_grad=True)
            tags = torch.zeros(2, words, dtype=torch.long, device=settings.device)
            crf.zero_grad(set_to_none=True)
            total += count_operations(lambda: crf.log_likelihood(emissions, tags, mask).sum().backward())
        return total

    words_before, words_after = OPERATION_COUNT_SHAPES["more pieces"][2], OPERATION_COUNT_SHAPES["more words"][2]
    crf_per_word = {
        training: (crf_operations(words_after, training) - crf_operations(words_before, training)) / (words_after - words_before)
        for training in (False, True)
    }
    return {
        "counts": counts,
        "crf per word": {path: crf_per_word[training] for path, (_, _, training) in paths.items()},
        "added words": words_after - words_before,
    }


# ---------------------------------------------------------------------------------------------------- the report


def duration(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds * 1e6:.3g} µs"


def spread(measurement: Measurement) -> str:
    """Median (min-max, n) of a measurement's times."""
    times = measurement.times
    return f"{duration(measurement.median)} ({duration(min(times))}-{duration(max(times))}, n={len(times)})"


def mib(size: int) -> str:
    return f"{size / 2**20:,.0f}"


def verdict(passed: bool) -> str:
    return "PASS" if passed else "**FAIL**"


@dataclass
class Results:
    """Everything one run measured."""

    settings: Settings
    environment: dict
    inference: dict[tuple[str, int], Measurement]
    training: dict[str, Measurement]
    crf: dict[tuple[str, str, int, int], Measurement]
    caching: Measurement
    operation_counts: dict
    wall_s: float

    def pixels_prediction(self, batch_size: int) -> tuple[float, float]:
        """(predicted, measured) time of UMT from pixels: its FLOPs outside the backbone at the BERT token classifier's
        achieved FLOP/s, the backbone's at the backbone's own (both measured alone on the same batch)."""
        bert, vision = self.inference[("bert", batch_size)], self.inference[("vision", batch_size)]
        umt = self.inference[("umt-pixels", batch_size)]
        predicted = (umt.flops - vision.flops) * bert.median / bert.flops + vision.median
        return predicted, umt.median

    def training_ratios(self) -> tuple[float, float]:
        """(time ratio, FLOP ratio) of a UMT training step with cached features over a BERT-CRF step."""
        umt, bert_crf = self.training["umt-features"], self.training["bert-crf"]
        return umt.median / bert_crf.median, umt.flops / bert_crf.flops

    def viterbi_speedups(self) -> dict[int, float]:
        """Per length: per-sequence time / vectorised time of Viterbi at the target batch size."""
        batch_size = self.settings.scale.crf_target_batch_size
        return {
            length: self.crf[("Viterbi", "per-sequence", batch_size, length)].median
            / self.crf[("Viterbi", "vectorised", batch_size, length)].median
            for length in self.settings.scale.crf_lengths
        }

    def loops_found(self) -> dict[str, list[str]]:
        """Per hot path, the sizes its operation count grows with beyond the CRF scan (empty: no such loop)."""
        found = {}
        for path, counts in self.operation_counts["counts"].items():
            growth = []
            if counts["more posts"] != counts["base"]:
                growth.append(f"posts (+{counts['more posts'] - counts['base']})")
            if counts["more pieces"] != counts["base"]:
                growth.append(f"pieces (+{counts['more pieces'] - counts['base']})")
            per_word = (counts["more words"] - counts["more pieces"]) / self.operation_counts["added words"]
            if per_word != self.operation_counts["crf per word"][path]:
                growth.append(f"words ({per_word:g} per word, the CRFs' scan {self.operation_counts['crf per word'][path]:g})")
            found[path] = growth
        return found


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")]
        cpu = names[0] if names else cpu
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} logical CPUs, {memory_gib:.0f} GiB RAM, {platform.system()} {platform.release()}"


def header_lines(results: Results) -> list[str]:
    settings, scale = results.settings, results.settings.scale
    config = model_config(settings)
    found = versions()
    gpu = results.environment["gpu"]
    if settings.device == "cpu":
        device = f"CPU, {settings.dtype}, torch threads: {results.environment['threads']} (`torch.set_num_threads`)"
        device += f"; GPU on this machine: {gpu}, not used" if gpu else "; this machine has no GPU"
    else:
        device = f"{gpu}, {settings.dtype}" + (" autocast (weights float32)" if settings.dtype == "bf16" else "")
    size = "tiny (quick mode)" if settings.quick else "full size"
    pieces_low, pieces_high = scale.piece_range
    return [
        f"# Performance{' (quick mode: tiny model, not a measurement of UMT)' if settings.quick else ''}",
        "",
        f"Command: `{shlex.join(['python', *sys.argv])}`  ",
        "Versions: " + ", ".join(f"{name} {version}" for name, version in found.items() if version != "not installed") + "  ",
        f"Machine: {machine_description()}  ",
        f"Device: {device}  ",
        f"Run time: {results.wall_s / 60:.1f} min",
        "",
        f"Models ({size}, random weights): UMT-BERT-CRF{' = `UMTConfig()`' if not settings.quick else ''} (text encoder "
        f"{config.text_config.num_hidden_layers} layers x {config.text_hidden_size}, `{config.vision_backbone}` backbone, "
        f"{config.num_visual_blocks} x {config.vision_feature_size} features, {len(config.labels)} tags); BERT-CRF: the "
        "`bert-crf` variant of the same configuration; the BERT token classifier is `BertForTokenClassification` over the "
        "same text encoder configuration; the vision backbone alone is UMT's frozen backbone (`forward_features`).",
        "",
        f"Posts: batch sizes {', '.join(map(str, scale.inference_batch_sizes))} (inference), {scale.training_batch_size} "
        f"(training). A batch's posts have {pieces_low}-{pieces_high} word pieces ([CLS] and [SEP] included), spread evenly "
        f"(a single post: {piece_lengths(1, scale)[0]}), padded to the longest as the collator pads; 1.25 pieces per word "
        f"(Twitter-2017: mean 20 pieces, 95th percentile 31). Cached features are float16 ({config.num_visual_blocks} x "
        f"{config.vision_feature_size} per image), as `add_image_features` stores them; pixels are 3 x {config.image_size} x "
        f"{config.image_size}.",
        "",
        "Method: measurements that are compared run together in a child process of their own (the four inference "
        "models at one batch size; the three training steps; the two CRF implementations of one operation, batch size "
        "and length), and are timed in turns, so that all of them see the same state of this shared machine. A child "
        "builds its models and inputs; for each model alone it counts the FLOPs of a first call with "
        "`torch.utils.flop_counter.FlopCounterMode` (matrix products, convolutions and attention; forward and backward "
        f"for training steps) and makes {scale.model_timing.warmup} warm-up call(s); "
        "then every round times one call of each model "
        f"(at least {scale.model_timing.min_repetitions} rounds, for {scale.model_timing.budget_s:g} s, at most "
        f"{scale.model_timing.max_repetitions}). A CRF child makes {untimed_calls(scale.crf_timing, False)} warm-up call(s) of "
        f"each implementation, then every round times a block of consecutive calls of each lasting about "
        f"{CRF_TURN_S * 1000:g} ms (one call if a call takes longer), and a time is the block's time per call "
        f"({scale.crf_timing.min_repetitions}-{scale.crf_timing.max_repetitions} rounds for {scale.crf_timing.budget_s:g} s). "
        "Times are medians (min-max, n). Inference runs under `torch.inference_mode()` in eval mode and includes "
        "decoding to tags; a training step is forward with labels, backward and a fused AdamW step.",
    ]


def targets_lines(results: Results) -> list[str]:
    time_ratio, flop_ratio = results.training_ratios()
    speedups = results.viterbi_speedups()
    slowest = min(speedups, key=speedups.get)
    loops = results.loops_found()
    loops_text = "; ".join(f"{path}: {', '.join(grows)}" for path, grows in loops.items() if grows) or "none"
    lines = [
        "## Targets",
        "",
        "| target | measured | limit | result |",
        "|---|---|---|---|",
        f"| training step with cached features: time ratio UMT / BERT-CRF over their FLOP ratio | {time_ratio / flop_ratio:.2f} "
        f"(time {time_ratio:.2f}x, FLOPs {flop_ratio:.2f}x) | <= 1.1 | {verdict(time_ratio <= 1.1 * flop_ratio)} |",
    ]
    for batch_size in results.settings.scale.inference_batch_sizes:
        predicted, measured = results.pixels_prediction(batch_size)
        lines.append(
            f"| inference from pixels, batch {batch_size}: time over the FLOP-count prediction | {measured / predicted:.2f} "
            f"({duration(measured)} measured, {duration(predicted)} predicted) | <= 1.1 | "
            f"{verdict(measured <= 1.1 * predicted)} |"
        )
    lines += [
        f"| CRF Viterbi, batch {results.settings.scale.crf_target_batch_size}: speed-up over the per-sequence Python CRF "
        f"(slowest length) | {speedups[slowest]:.1f}x (length {slowest}) | >= 20x | {verdict(speedups[slowest] >= 20)} |",
        "| hot paths: Python loops over posts, pieces or words besides the CRFs' scan over positions (operation count, "
        f"section 6) | {loops_text} | none | {verdict(not any(loops.values()))} |",
    ]
    return lines


def inference_lines(results: Results) -> list[str]:
    lines = [
        "## 1. Inference",
        "",
        "Time per batch is also each post's latency; time per post is the batch time over the batch size.",
        "",
        "| model | batch | time per batch, median (min-max, n) | posts/s | time per post | GFLOP per post | GFLOP/s | "
        "time / BERT token classifier | FLOPs / BERT token classifier |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for batch_size in results.settings.scale.inference_batch_sizes:
        bert = results.inference[("bert", batch_size)]
        for name, label in INFERENCE_MODELS.items():
            measurement = results.inference[(name, batch_size)]
            lines.append(
                f"| {label} | {batch_size} | {spread(measurement)} | {batch_size / measurement.median:.1f} | "
                f"{duration(measurement.median / batch_size)} | {measurement.flops / batch_size / 1e9:.2f} | "
                f"{measurement.flops / measurement.median / 1e9:.0f} | {measurement.median / bert.median:.2f} | "
                f"{measurement.flops / bert.flops:.2f} |"
            )
    lines += [
        "",
        "Prediction for UMT from pixels from its FLOP count: the FLOPs outside the backbone at the BERT token classifier's "
        "measured FLOP/s, the backbone's FLOPs at the backbone's own, both measured alone on the same batch.",
        "",
        "| batch | BERT GFLOP/s | backbone GFLOP/s | UMT GFLOP outside the backbone | backbone GFLOP | predicted | measured | "
        "measured / predicted |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for batch_size in results.settings.scale.inference_batch_sizes:
        bert, vision = results.inference[("bert", batch_size)], results.inference[("vision", batch_size)]
        umt = results.inference[("umt-pixels", batch_size)]
        predicted, measured = results.pixels_prediction(batch_size)
        lines.append(
            f"| {batch_size} | {bert.flops / bert.median / 1e9:.0f} | {vision.flops / vision.median / 1e9:.0f} | "
            f"{(umt.flops - vision.flops) / 1e9:.1f} | {vision.flops / 1e9:.1f} | {duration(predicted)} | "
            f"{duration(measured)} | {measured / predicted:.2f} |"
        )
    return lines


def training_lines(results: Results) -> list[str]:
    batch_size = results.settings.scale.training_batch_size
    bert_crf = results.training["bert-crf"]
    lines = [
        "## 2. Training step",
        "",
        f"Batch of {batch_size} posts; FLOPs of forward and backward (the optimizer step has no matrix products).",
        "",
        "| model | time per step, median (min-max, n) | time per sample | GFLOP per step | GFLOP/s | time / BERT-CRF | "
        "FLOPs / BERT-CRF |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for name, label in TRAINING_MODELS.items():
        measurement = results.training[name]
        lines.append(
            f"| {label} | {spread(measurement)} | {duration(measurement.median / batch_size)} | {measurement.flops / 1e9:.1f} | "
            f"{measurement.flops / measurement.median / 1e9:.0f} | {measurement.median / bert_crf.median:.2f} | "
            f"{measurement.flops / bert_crf.flops:.2f} |"
        )
    features, pixels = results.training["umt-features"], results.training["umt-pixels"]
    lines += ["", f"Running the backbone every step costs {pixels.median / features.median:.2f}x a step on cached features."]
    return lines


def crf_lines(results: Results) -> list[str]:
    scale = results.settings.scale
    lines = [
        "## 3. CRF",
        "",
        "`LinearChainCRF` (batched: one loop over positions, or over half of them for Viterbi) against a straightforward "
        "per-sequence Python CRF written "
        "in this script (a loop over sequences, a loop over positions, per-sequence tensors; it visits only the real "
        "positions). 9 tags, random emissions, float32, no gradient; a batch's real lengths are spread evenly over "
        "[length/2, length] (a single sequence: the full length). Forward algorithm = log Z (`log_partition`), Viterbi = "
        "`decode`, marginals = forward-backward (`marginals`).",
        "",
        "| operation | batch | length | vectorised | per-sequence | speed-up | same result |",
        "|---|---:|---:|---|---|---:|---|",
    ]
    for operation in CRF_OPERATIONS:
        for batch_size in scale.crf_batch_sizes:
            for length in scale.crf_lengths:
                vectorised = results.crf[(operation, "vectorised", batch_size, length)]
                per_sequence = results.crf[(operation, "per-sequence", batch_size, length)]
                lines.append(
                    f"| {operation} | {batch_size} | {length} | {spread(vectorised)} | {spread(per_sequence)} | "
                    f"{per_sequence.median / vectorised.median:.1f}x | "
                    f"{'yes' if per_sequence.details['same result'] else '**no**'} |"
                )
    return lines + ["", viterbi_step_costs(results)]


def viterbi_step_costs(results: Results) -> str:
    """Why the Viterbi speed-up is what it is: the cost of one step of the batched scan against that of one real
    position of the per-sequence loop. The speed-up equals the real positions of the batch over the scan's steps, times
    the ratio of these two costs."""
    batch_size = results.settings.scale.crf_target_batch_size
    costs = []
    for length in results.settings.scale.crf_lengths:
        vectorised = results.crf[("Viterbi", "vectorised", batch_size, length)].median / (length // 2)
        per_sequence = results.crf[("Viterbi", "per-sequence", batch_size, length)].median / sum(real_lengths(batch_size, length))
        costs.append(f"length {length}: {duration(vectorised)} per step against {duration(per_sequence)} per position")
    length = max(results.settings.scale.crf_lengths)
    return (
        f"Viterbi at batch {batch_size}: `decode` scans every sequence from both ends at once (a forward and a backward "
        "lane per sequence, meeting in its middle), in NumPy, so a batch padded to length L takes L // 2 steps of a few "
        "array operations on (9, 9, 2B) scores, against one step of a few torch operations per real position in the "
        f"per-sequence loop ({'; '.join(costs)}; whole calls divided by steps or positions). The speed-up is the batch's "
        f"real positions over the scan's steps (at length {length}: {sum(real_lengths(batch_size, length))} / "
        f"{length // 2}) times the ratio of "
        "these two costs. The forward algorithm and the marginals still scan position by position in torch."
    )


def caching_lines(results: Results) -> list[str]:
    caching, details = results.caching, results.caching.details
    images = details["images"]
    count_note = "the number of Twitter-2017 posts, " if images == FULL.num_images else ""
    vision = results.inference[("vision", max(results.settings.scale.inference_batch_sizes))]
    backbone_s = images * vision.median / max(results.settings.scale.inference_batch_sizes)
    config = model_config(results.settings)
    feature_bytes = config.num_visual_blocks * config.vision_feature_size * 2
    if caching.times[0] > backbone_s:
        overhead = (
            f"The other {duration(caching.times[0] - backbone_s)} of the wall time went to reading, decoding and resizing "
            "images and writing the cache."
        )
    else:
        overhead = (
            "The wall time is below that estimate: the backbone ran faster here than in its own measurement (its spread "
            "is in section 1), and reading, decoding, resizing and writing cost little next to it."
        )
    return [
        "## 4. Feature caching",
        "",
        f"`add_image_features` on {images:,} generated stand-in JPEGs ({count_note}split train/dev/test like Twitter-2017; "
        f"sizes {', '.join(f'{w}x{h}' for w, h in STAND_IN_IMAGE_SIZES)}, {details['image_bytes'] / images / 1024:.0f} KiB "
        f"on average), one image per post, {results.settings.scale.cache_batch_size} images per backbone call, float16 "
        "features; timed once, from nothing to the cached dataset.",
        "",
        "| images | wall time | images/s | backbone alone would take | cache on disk | of which the feature file | "
        "feature bytes per image | reload |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {images:,} | {duration(caching.times[0])} | {images / caching.times[0]:.1f} | {duration(backbone_s)} | "
        f"{mib(details['cache bytes'])} MiB | {mib(details['feature file bytes'])} MiB | "
        f"{details['feature file bytes'] / images:,.0f} | {duration(details['reload_s'])} |",
        "",
        f"\"Backbone alone\" is the image count times the backbone's time per image in section 1 (largest batch). "
        + overhead
        + f" The features are stored once per distinct image ({feature_bytes:,} bytes of float16 each); posts point to "
        "their image's row.",
    ]


def memory_lines(results: Results) -> list[str]:
    settings = results.settings
    what = (
        "GPU memory allocated by torch (`torch.cuda.max_memory_allocated`)"
        if settings.device == "cuda"
        else "resident memory of the measurement's process (VmHWM, reset through /proc/self/clear_refs before the first call)"
    )
    lines = [
        "## 5. Peak memory",
        "",
        f"Peak {what} over the calls a measurement makes before its timed rounds, repeated in a process of their own "
        "with nothing else built (memory freed by other models would otherwise be reused and hide what these calls "
        "need); \"before\" is the same memory just before the first call (runtime, model, inputs), so the difference is "
        "what the calls themselves needed. CRF: the largest batch and length.",
        "",
        "| measurement | before (MiB) | peak (MiB) | peak - before (MiB) |",
        "|---|---:|---:|---:|",
    ]
    scale = settings.scale
    rows = [(f"inference, {INFERENCE_MODELS[name]}, batch {batch}", m) for (name, batch), m in results.inference.items()]
    rows += [
        (f"training step, {TRAINING_MODELS[name]}, batch {scale.training_batch_size}", measurement)
        for name, measurement in results.training.items()
    ]
    batch_size, length = max(scale.crf_batch_sizes), max(scale.crf_lengths)
    rows += [
        (f"CRF {operation}, {kind}, batch {batch_size}, length {length}", results.crf[(operation, kind, batch_size, length)])
        for operation in CRF_OPERATIONS
        for kind in CRF_IMPLEMENTATIONS
    ]
    rows.append((f"feature caching, {results.caching.details['images']:,} images", results.caching))
    for label, measurement in rows:
        lines.append(
            f"| {label} | {mib(measurement.idle_bytes)} | {mib(measurement.peak_bytes)} | "
            f"{mib(measurement.peak_bytes - measurement.idle_bytes)} |"
        )
    return lines


def operation_count_lines(results: Results) -> list[str]:
    counts = results.operation_counts
    names = list(OPERATION_COUNT_SHAPES)
    lines = [
        "## 6. Hot paths: where Python loops",
        "",
        "Tensor operations dispatched (forward and backward, counted with a `TorchDispatchMode`) by each hot path of "
        "UMT-BERT-CRF on batches that differ in one size (posts, pieces per post, words per post). A Python loop over "
        "posts or pieces would make the count grow with them; the CRFs' scan over word positions is the one loop "
        "expected, so the count per added word must equal that of the model's CRFs alone. Viterbi decoding scans in "
        "NumPy (`viterbi_paths`, section 3), which this count does not see: the inference paths' CRF share per word is 0, "
        "and their counts show that nothing else loops over words.",
        "",
        "| path | " + " | ".join(f"{name} {OPERATION_COUNT_SHAPES[name]}" for name in names)
        + " | per added word | CRFs alone per word |",
        "|---|" + "---:|" * (len(names) + 2),
    ]
    for path, path_counts in counts["counts"].items():
        per_word = (path_counts["more words"] - path_counts["more pieces"]) / counts["added words"]
        cells = [str(path_counts[name]) for name in names] + [f"{per_word:g}", f"{counts['crf per word'][path]:g}"]
        lines.append(f"| {path} | " + " | ".join(cells) + " |")
    lines += ["", "(posts, pieces per post, words per post) in the headings."]
    return lines


def render(results: Results) -> str:
    sections = [
        header_lines(results),
        targets_lines(results),
        inference_lines(results),
        training_lines(results),
        crf_lines(results),
        caching_lines(results),
        memory_lines(results),
        operation_count_lines(results),
    ]
    return "\n\n".join("\n".join(section) for section in sections) + "\n"


# ------------------------------------------------------------------------------------------------------- running


def log(started: float, message: str) -> None:
    print(f"[{time.perf_counter() - started:7.1f} s] {message}", file=sys.stderr, flush=True)


def run(settings: Settings) -> Results:
    """Every measurement, each in its own child process."""
    scale, started = settings.scale, time.perf_counter()
    environment = isolated(settings, environment_case)
    model_calls = untimed_calls(scale.model_timing, count_flops=True)
    inference = {}
    for batch_size in scale.inference_batch_sizes:
        for name, measurement in isolated(settings, models_case, "inference", batch_size).items():
            inference[(name, batch_size)] = measurement
            measurement.idle_bytes, measurement.peak_bytes = isolated(
                settings, peak_memory_case, model_calls, inference_call, name, batch_size
            )
            log(started, f"inference, {INFERENCE_MODELS[name]}, batch {batch_size}: {duration(measurement.median)}")
    training = isolated(settings, models_case, "training", scale.training_batch_size)
    for name, measurement in training.items():
        measurement.idle_bytes, measurement.peak_bytes = isolated(
            settings, peak_memory_case, model_calls, training_call, name, scale.training_batch_size
        )
        log(started, f"training step, {TRAINING_MODELS[name]}: {duration(measurement.median)}")
    crf = {}
    for operation in CRF_OPERATIONS:
        for batch_size in scale.crf_batch_sizes:
            for length in scale.crf_lengths:
                for implementation, measurement in isolated(settings, crf_case, operation, batch_size, length).items():
                    crf[(operation, implementation, batch_size, length)] = measurement
        for implementation in CRF_IMPLEMENTATIONS:
            key = (operation, implementation, max(scale.crf_batch_sizes), max(scale.crf_lengths))
            crf[key].idle_bytes, crf[key].peak_bytes = isolated(
                settings, peak_memory_case, untimed_calls(scale.crf_timing, count_flops=False), crf_call, *key
            )
        log(started, f"CRF {operation}: done")
    with tempfile.TemporaryDirectory(prefix="umt-performance-") as folder:
        image_paths = write_stand_in_images(Path(folder), settings.num_images)
        caching = isolated(settings, caching_case, image_paths, str(Path(folder) / "cache"))
    log(started, f"feature caching, {settings.num_images} images: {duration(caching.times[0])}")
    operation_counts = isolated(settings, operation_count_case)
    log(started, "operation counts: done")
    return Results(settings, environment, inference, training, crf, caching, operation_counts, time.perf_counter() - started)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny model, tiny batches, 2 repetitions: seconds")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--dtype", choices=("fp32", "bf16"), default="fp32", help="bf16: autocast, weights stay float32")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch.set_num_threads in every measurement")
    parser.add_argument("--images", type=int, help=f"stand-in images to cache (default: {FULL.num_images}, Twitter-2017's posts)")
    parser.add_argument("--output", type=Path, help="default: docs/results/performance.md, or performance-<device>-<dtype>.md")
    args = parser.parse_args(argv)
    images = args.images or (QUICK if args.quick else FULL).num_images
    settings = Settings(quick=args.quick, device=args.device, dtype=args.dtype, threads=args.threads, num_images=images)
    name = "performance.md" if (args.device, args.dtype) == ("cpu", "fp32") else f"performance-{args.device}-{args.dtype}.md"
    output = args.output or Path(__file__).resolve().parents[1] / "docs" / "results" / name
    text = render(run(settings))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
