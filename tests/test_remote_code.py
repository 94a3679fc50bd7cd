"""A saved UMT folder loads with `trust_remote_code=True` in a fresh process where the project is not importable."""

import json
import os
import re
import subprocess
import sys
import textwrap

import torch

from conftest import REPO_ROOT
from test_modeling import tiny_batch, tiny_model

PROJECT_PACKAGES = ("configuration_umt", "modeling_umt", "processing_umt", "hub_scripts")

HIDDEN_PROJECT_SCRIPT = textwrap.dedent(
    """
    import importlib.abc, sys
    PROJECT = {packages!r}

    class HideProject(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in PROJECT:
                raise ImportError(f"{{name}} is hidden: this process plays a Hub user without the project")

    sys.meta_path.insert(0, HideProject())
    sys.path = [p for p in sys.path if p not in ("", {repo!r})]
    for package in PROJECT:
        try:
            __import__(package)
        except ImportError:
            pass
        else:
            raise SystemExit(f"{{package}} is still importable")

    import torch
    from transformers import AutoConfig, AutoModel
    folder, batch_file, result_file = sys.argv[1:4]
    config = AutoConfig.from_pretrained(folder, trust_remote_code=True)
    model = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
    batch = torch.load(batch_file)
    with torch.no_grad():
        output = model(**batch, output_marginals=True)
    torch.save({{"logits": output.logits, "tags": output.predicted_tags, "marginals": output.marginals,
                "class": type(model).__module__ + "." + type(model).__name__,
                "config_class": type(config).__module__ + "." + type(config).__name__}}, result_file)
    """
)


def test_trust_remote_code_load_without_the_project(tmp_path):
    model = tiny_model().eval()
    folder = tmp_path / "umt-tiny"
    model.save_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    assert config["auto_map"]["AutoModel"] == "modeling_umt.UMTForMultimodalNER"
    for name in ("configuration_umt.py", "modeling_umt.py", "crf.py", "cross_modal.py"):
        source = (folder / name).read_text()
        assert not re.search(rf"^\s*(from|import) ({'|'.join(PROJECT_PACKAGES)})\b", source, re.MULTILINE), name

    batch = tiny_batch(with_labels=False)
    torch.save(batch, tmp_path / "batch.pt")
    script = tmp_path / "hub_user.py"
    script.write_text(HIDDEN_PROJECT_SCRIPT.format(packages=PROJECT_PACKAGES, repo=str(REPO_ROOT)))
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    environment["HF_MODULES_CACHE"] = str(tmp_path / "hf_modules")
    completed = subprocess.run(
        [sys.executable, str(script), str(folder), str(tmp_path / "batch.pt"), str(tmp_path / "result.pt")],
        cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = torch.load(tmp_path / "result.pt")
    assert result["class"].startswith("transformers_modules.") and result["class"].endswith("modeling_umt.UMTForMultimodalNER")
    assert result["config_class"].endswith("configuration_umt.UMTConfig")
    with torch.no_grad():
        expected = model(**batch, output_marginals=True)
    assert torch.equal(result["logits"], expected.logits)
    assert torch.equal(result["tags"], expected.predicted_tags)
    assert torch.equal(result["marginals"], expected.marginals)
