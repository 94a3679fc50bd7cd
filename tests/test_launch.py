"""umt-train under several processes (torchrun, gloo on CPU) and resumed after being killed."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hub_scripts.results import load_results


def train_command(data_dir: Path, minilm_path: Path, output_dir: Path, *extra: str) -> list[str]:
    """Arguments of a small umt-train run: 48 Twitter-2017 posts, 2 epochs, text-only."""
    return [
        "--data_dir", str(data_dir / "twitter2017"), "--text_encoder", str(minilm_path),
        "--load_pretrained_vision_weights", "false", "--max_train_posts", "48", "--max_eval_posts", "16",
        "--num_train_epochs", "2", "--learning_rate", "1e-3", "--output_dir", str(output_dir),
        "--disable_tqdm", "true", "--use_cpu", "true", *extra,
    ]


def run(command: list[str], timeout: int = 600) -> subprocess.CompletedProcess:
    completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    assert completed.returncode == 0, completed.stderr[-4000:]
    return completed


LAUNCHERS = {
    "torchrun": ["-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533"],
    "accelerate": ["-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                   "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29534"],
}  # fmt: skip


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_two_processes_split_the_data(launcher, data_dir, minilm_path, tmp_path):
    command = [sys.executable, *LAUNCHERS[launcher], "-m", "hub_scripts.train"]
    run([*command, *train_command(data_dir, minilm_path, tmp_path / launcher, "--ddp_backend", "gloo")])
    results = load_results(tmp_path / launcher)
    assert results["run"]["world_size"] == 2
    # 48 posts, 16 per batch and process: each process sees 24 posts, 2 batches per epoch (one process alone: 3)
    assert results["run"]["train_batches_per_epoch_per_process"] == 2
    assert results["data"]["posts"]["train"] == 48
    assert set(results["scores"]) == {"dev", "test"}


def test_a_killed_run_resumes_to_the_same_result(data_dir, minilm_path, tmp_path):
    command = [sys.executable, "-m", "hub_scripts.train"]
    run([*command, *train_command(data_dir, minilm_path, tmp_path / "whole", "--save_total_limit", "2")])

    interrupted = tmp_path / "interrupted"
    process = subprocess.Popen(
        [*command, *train_command(data_dir, minilm_path, interrupted, "--save_total_limit", "2")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    first_checkpoint = interrupted / "checkpoint-3" / "trainer_state.json"  # written last in a checkpoint
    deadline = time.monotonic() + 300
    while not first_checkpoint.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert first_checkpoint.exists() and not (interrupted / "results.json").exists(), "the run was not killed mid-way"

    run([*command, *train_command(data_dir, minilm_path, interrupted, "--save_total_limit", "2", "--resume_from_checkpoint", "true")])
    whole, resumed = load_results(tmp_path / "whole"), load_results(interrupted)
    assert resumed["scores"] == whole["scores"]
    whole_losses = [record["loss"] for record in whole["run"]["log_history"] if "loss" in record]
    resumed_losses = [record["loss"] for record in resumed["run"]["log_history"] if "loss" in record]
    assert resumed_losses == whole_losses


def test_bf16_and_gradient_accumulation_pass_through(data_dir, minilm_path, tmp_path):
    run([sys.executable, "-m", "hub_scripts.train", *train_command(
        data_dir, minilm_path, tmp_path / "bf16", "--bf16", "true", "--gradient_accumulation_steps", "2",
        "--num_train_epochs", "1", "--variant", "mt-bert-crf",
    )])
    results = load_results(tmp_path / "bf16")
    assert results["run"]["bf16"] is True and results["run"]["gradient_accumulation_steps"] == 2
    # 3 batches of 16 with accumulation over 2: 2 optimiser steps in the epoch
    assert results["run"]["log_history"][0]["step"] == 2
    assert all(0.0 <= results["scores"][split]["f1"] <= 1.0 for split in ("dev", "test"))
