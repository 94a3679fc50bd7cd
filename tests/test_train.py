"""umt-train end to end on a slice of the real Twitter-2017 data (offline MiniLM encoder)."""

import json

import torch
from transformers import AutoModel, AutoProcessor

import modeling_umt  # noqa: F401  (registers UMT with the Auto classes)
from hub_scripts.results import load_results
from modeling_umt import UMTForMultimodalNER
from processing_umt import UMTProcessor


def test_train_writes_model_processor_and_results(trained_run):
    results = load_results(trained_run)
    assert results["data"]["posts"] == {"train": 48, "validation": 24, "test": 24}
    assert results["model"]["variant"] == "umt-bert-crf"
    assert results["run"]["world_size"] == 1 and results["run"]["train_batches_per_epoch_per_process"] == 3
    assert len(results["run"]["epoch_wall_times_s"]) == 2 and results["run"]["best_epoch"] in (1.0, 2.0)
    for split in ("dev", "test"):
        scores = results["scores"][split]
        assert 0.0 <= scores["precision"] <= 1.0 and 0.0 <= scores["f1"] <= 1.0
        assert set(scores["f1_per_type"]) == {"LOC", "MISC", "ORG", "PER"}
    # the dev score of the selected epoch is the best dev F1 logged during training
    logged = [record["eval_f1"] for record in results["run"]["log_history"] if "eval_f1" in record]
    assert results["scores"]["dev"]["f1"] == max(logged)
    markdown = (trained_run / "results.md").read_text()
    assert "| dev |" in markdown and "| test |" in markdown and results["run"]["command"] in markdown

    model = AutoModel.from_pretrained(trained_run)
    processor = AutoProcessor.from_pretrained(trained_run)
    assert isinstance(model, UMTForMultimodalNER) and isinstance(processor, UMTProcessor)
    assert processor.labels == results["model"]["labels"] == model.config.labels
    encoding = processor(["Kevin", "Durant", "enters", "Oracle", "Arena"])
    with torch.no_grad():
        tags = model(**encoding).predicted_tags
    assert tags.shape == (1, 5) and (tags >= 0).all()
    assert json.loads((trained_run / "config.json").read_text())["auto_map"]["AutoModel"] == "modeling_umt.UMTForMultimodalNER"


def test_evaluate_rescores_the_saved_model_exactly(trained_run, data_dir, tmp_path):
    from hub_scripts.evaluate import evaluate_model

    results = evaluate_model(
        [
            "--model_dir", str(trained_run), "--data_dir", str(data_dir / "twitter2017"), "--splits", "validation", "test",
            "--max_eval_posts", "24", "--output_dir", str(tmp_path), "--disable_tqdm", "true",
        ]
    )
    trained = load_results(trained_run)
    assert results["scores"] == trained["scores"]
    assert load_results(tmp_path)["scores"] == trained["scores"]
    assert results["model"]["text_encoder"] == trained["model"]["text_encoder"]
    assert "| dev |" in (tmp_path / "results.md").read_text()
