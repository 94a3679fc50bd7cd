"""A saved UMT folder loads with `trust_remote_code=True` in a fresh process where the project is not importable."""

import json

import torch

from conftest import run_without_project
from hub_scripts.export import check_self_contained
from test_modeling import tiny_batch, tiny_model

HUB_USER_SCRIPT = """
import sys
import torch
from transformers import AutoConfig, AutoModel
folder, batch_file, result_file = sys.argv[1:4]
config = AutoConfig.from_pretrained(folder, trust_remote_code=True)
model = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
batch = torch.load(batch_file)
with torch.no_grad():
    output = model(**batch, output_marginals=True)
torch.save({"logits": output.logits, "tags": output.predicted_tags, "marginals": output.marginals,
            "class": type(model).__module__ + "." + type(model).__name__,
            "config_class": type(config).__module__ + "." + type(config).__name__}, result_file)
"""


def test_trust_remote_code_load_without_the_project(tmp_path):
    model = tiny_model().eval()
    folder = tmp_path / "umt-tiny"
    model.save_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    assert config["auto_map"]["AutoModel"] == "modeling_umt.UMTForMultimodalNER"
    assert {"configuration_umt.py", "modeling_umt.py", "crf.py", "cross_modal.py"} <= {path.name for path in folder.glob("*.py")}
    check_self_contained(folder)  # no project import, every relative import present

    batch = tiny_batch(with_labels=False)
    torch.save(batch, tmp_path / "batch.pt")
    completed = run_without_project(tmp_path, HUB_USER_SCRIPT, str(folder), str(tmp_path / "batch.pt"), str(tmp_path / "result.pt"))
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = torch.load(tmp_path / "result.pt")
    assert result["class"].startswith("transformers_modules.") and result["class"].endswith("modeling_umt.UMTForMultimodalNER")
    assert result["config_class"].endswith("configuration_umt.UMTConfig")
    with torch.no_grad():
        expected = model(**batch, output_marginals=True)
    assert torch.equal(result["logits"], expected.logits)
    assert torch.equal(result["tags"], expected.predicted_tags)
    assert torch.equal(result["marginals"], expected.marginals)
