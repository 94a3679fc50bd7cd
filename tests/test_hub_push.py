"""umt-push without the Hub: --dry-run lists the files; offline, without token or without network it stops with a
message that says what to do, and leaves the folder as it was."""

import hashlib
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO_ROOT


@pytest.fixture
def hub_folder(tmp_path) -> Path:
    """A small stand-in for a umt-export folder (umt-push only needs config.json and README.md to be there)."""
    folder = tmp_path / "umt-twitter2017"
    (folder / "nested").mkdir(parents=True)
    (folder / "config.json").write_text('{"model_type": "umt"}\n')
    (folder / "README.md").write_text("---\nlicense: apache-2.0\n---\n# umt\n")
    (folder / "model.safetensors").write_bytes(os.urandom(3000))
    (folder / "nested" / "notes.txt").write_text("kept\n")
    return folder


def snapshot(folder: Path) -> dict[str, str]:
    """Every file's content hash, by relative path."""
    files = [path for path in folder.rglob("*") if path.is_file()]
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest() for path in files}


def run_push(folder: Path, *args: str, **environment: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")}
    env.update(HF_HOME=str(folder.parent / "hf_home"), **environment)
    return subprocess.run(
        [sys.executable, "-m", "hub_scripts.push", str(folder), "--repo_id", "my-org/umt-twitter2017", *args],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_dry_run_lists_the_files(hub_folder):
    before = snapshot(hub_folder)
    completed = run_push(hub_folder, "--dry-run", "--private", "--revision", "v1")
    assert completed.returncode == 0, completed.stderr
    assert "would upload 4 files to my-org/umt-twitter2017@v1 (private)" in completed.stdout
    for name in ("config.json", "README.md", "model.safetensors", "nested/notes.txt", "2.9 KiB"):
        assert name in completed.stdout
    assert snapshot(hub_folder) == before


@pytest.mark.parametrize(
    "environment, message",
    [
        ({"HF_HUB_OFFLINE": "1"}, "offline mode is on"),
        ({"HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0"}, "no Hugging Face token: run `hf auth login`, set HF_TOKEN"),
    ],
)
def test_offline_or_without_token_it_stops_before_any_request(hub_folder, environment, message):
    before = snapshot(hub_folder)
    completed = run_push(hub_folder, **environment)
    assert completed.returncode == 1
    assert f"umt-push: {message}" in completed.stderr and f"{hub_folder} is unchanged" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert snapshot(hub_folder) == before


def test_unreachable_hub_gives_a_clear_message(hub_folder):
    with socket.socket() as probe:  # a port nothing listens on: the connection is refused at once
        probe.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{probe.getsockname()[1]}"
    before = snapshot(hub_folder)
    completed = run_push(
        hub_folder, "--commit_message", "test", HF_HUB_OFFLINE="0", TRANSFORMERS_OFFLINE="0", HF_TOKEN="hf_test",
        HF_ENDPOINT=endpoint, HF_HUB_ETAG_TIMEOUT="5", HF_HUB_DOWNLOAD_TIMEOUT="5",
    )  # fmt: skip
    assert completed.returncode == 1
    assert f"umt-push: could not upload to my-org/umt-twitter2017@main (public) on {endpoint}" in completed.stderr
    assert "Check the network" in completed.stderr and "Traceback" not in completed.stderr
    assert snapshot(hub_folder) == before


def test_a_folder_that_is_not_an_export_is_refused(tmp_path):
    (tmp_path / "folder").mkdir()
    completed = run_push(tmp_path / "folder", "--dry-run")
    assert completed.returncode == 1 and "has no config.json, README.md: export it with umt-export first" in completed.stderr
