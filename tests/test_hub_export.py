"""umt-export: the Hub-ready folder of a small trained model, used as a Hub user would (fresh process, no project),
its endpoint handler on good and bad payloads, and its model card."""

import json
import re
import socket

import PIL.Image
import pytest
from huggingface_hub import ModelCard

from conftest import PROJECT_PACKAGES, run_without_project
from hub_scripts.export import export
from hub_scripts.predict import load_pipeline
from hub_scripts.results import load_results

REPO_ID = "my-org/umt-twitter2017"
POSTS = [
    "RT @nba: Kevin Durant enters Oracle Arena with Stephen Curry before the Warriors game #NBA",
    "Angela Merkel meets Emmanuel Macron in Paris",
    "",
    "😂😂 🙌",
    " ".join(["Obama visits Paris and meets Macron at the Elysee ."] * 15),  # over 128 pieces: windows
]


@pytest.fixture(scope="module")
def exported(trained_run, tmp_path_factory):
    return export(trained_run, tmp_path_factory.mktemp("hub") / "umt-twitter2017", repo_id=REPO_ID)


@pytest.fixture(scope="module")
def picture_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("images") / "picture.png"
    picture = PIL.Image.new("RGB", (320, 240), (40, 120, 200))
    picture.paste((230, 190, 150), (120, 40, 200, 160))
    picture.save(path)
    return path


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_export_writes_a_self_contained_repository(exported, trained_run):
    names = {path.name for path in exported.iterdir()}
    assert {
        "config.json", "model.safetensors", "processor_config.json", "tokenizer.json", "tokenizer_config.json",
        "configuration_umt.py", "modeling_umt.py", "crf.py", "cross_modal.py", "processing_umt.py",
        "image_processing_umt.py", "pipeline_umt.py", "handler.py", "requirements.txt", "README.md", "results.json",
        ".gitattributes",
    } <= names  # fmt: skip
    assert not {"training_args.bin", "preprocessor_config.json"} & names and not list(exported.glob("checkpoint-*"))
    config = json.loads((exported / "config.json").read_text())
    assert config["auto_map"]["AutoModel"] == "modeling_umt.UMTForMultimodalNER"
    assert config["custom_pipelines"]["multimodal-ner"] == {
        "impl": "pipeline_umt.UMTMultimodalNERPipeline",
        "pt": ["AutoModelForTokenClassification"],
    }
    assert json.loads((exported / "processor_config.json").read_text())["auto_map"] == {
        "AutoProcessor": "processing_umt.UMTProcessor"
    }
    for source in exported.glob("*.py"):
        assert not re.search(rf"^\s*(from|import) ({'|'.join(PROJECT_PACKAGES)})\b", source.read_text(), re.MULTILINE)
    assert "*.safetensors filter=lfs" in (exported / ".gitattributes").read_text()
    assert "timm" in (exported / "requirements.txt").read_text()


def test_export_refuses_to_overwrite(exported, trained_run):
    with pytest.raises(FileExistsError, match="--overwrite"):
        export(trained_run, exported)


def test_model_card_metadata_and_sections(exported, trained_run):
    results = load_results(trained_run)
    card = ModelCard.load(exported / "README.md")
    data = card.data
    assert data.pipeline_tag == "token-classification" and data.license == "apache-2.0" and data.language == "en"
    assert data.library_name == "transformers" and data.datasets == ["twitter2017"]
    assert {"multimodal-ner", "custom_code"} <= set(data.tags)
    assert data.widget and all(set(example) <= {"text", "example_title"} for example in data.widget)
    assert data.model_name == "umt-twitter2017"
    measured = {(result.dataset_split, result.metric_type): result.metric_value for result in data.eval_results}
    assert measured == {("test", metric): results["scores"]["test"][metric] for metric in ("precision", "recall", "f1")}
    assert {result.task_type for result in data.eval_results} == {"token-classification"}
    text = card.text
    sections = ["Intended use", "How to use", "Training data and settings", "Results", "Limitations", "Citation"]
    assert [line[3:] for line in text.splitlines() if line.startswith("## ")] == sections
    assert f'pipeline(model="{REPO_ID}", trust_remote_code=True)' in text
    assert f"| {100 * results['scores']['test']['f1']:.2f} |" in text  # the measured test F1
    assert "| UMT-BERT-CRF (paper) | 85.28 | 85.34 | 85.31 |" in text  # the paper's Twitter-2017 row
    for limitation in ("Visual bias", "Unrelated images", "Missing images", "English tweets", "random weights"):
        assert limitation in text
    assert "@inproceedings{yu-etal-2020-improving" in text


HUB_USER_SCRIPT = """
import base64, importlib.util, io, json, sys
import PIL.Image
import torch
from transformers import AutoModel, AutoProcessor, pipeline

folder, picture_file, posts_file, closed_port, result_file = sys.argv[1:6]
posts = json.loads(open(posts_file).read())
picture = PIL.Image.open(picture_file)
model = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
processor = AutoProcessor.from_pretrained(folder, trust_remote_code=True)
ner = pipeline(task="multimodal-ner", model=folder, trust_remote_code=True, device="cpu")

def model_entities(text, image):
    if not processor.split_words(text)[0]:
        return []
    with torch.no_grad():
        tags = model(**processor(text, image)).predicted_tags
    spans = processor.post_process_entities(text, tags[0].tolist())
    return [[span["entity_group"], span["start"], span["end"]] for span in spans]

def png_base64(image):
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()

result = {
    "classes": [type(model).__module__ + "." + type(model).__name__, type(processor).__module__, type(ner).__module__],
    "pipeline": [ner(text) for text in posts],
    "pipeline_with_image": ner({"text": posts[0], "image": picture}),
    "model": [model_entities(text, None) for text in posts[:2]],
    "model_with_image": model_entities(posts[0], picture),
}

spec = importlib.util.spec_from_file_location("handler", folder + "/handler.py")
handler_module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(handler_module)
handler = handler_module.EndpointHandler(folder)
picture_base64 = png_base64(picture)
payloads = {
    "text": {"inputs": {"text": posts[0]}},
    "text_string": {"inputs": posts[0]},
    "base64": {"inputs": {"text": posts[0], "image": picture_base64}},
    "data_uri": {"inputs": {"text": posts[0], "image": "data:image/png;base64," + picture_base64}},
    "null_image": {"inputs": {"text": posts[0], "image": None}},
    "empty_text": {"inputs": {"text": ""}},
    "no_inputs": {"text": posts[0]},
    "no_text": {"inputs": {"image": picture_base64}},
    "text_not_string": {"inputs": {"text": 42}},
    "bad_base64": {"inputs": {"text": posts[0], "image": "this is not base64!"}},
    "not_an_image": {"inputs": {"text": posts[0], "image": base64.b64encode(b"GIF89a but not really").decode()}},
    "huge_pixels": {"inputs": {"text": posts[0], "image": png_base64(PIL.Image.new("L", (8000, 8000)))}},
    "huge_bytes": {"inputs": {"text": posts[0], "image": "A" * (15 * 2**20)}},
    "unreachable_url": {"inputs": {"text": posts[0], "image": f"http://127.0.0.1:{closed_port}/picture.png"}},
    "not_a_dict": ["just", "a", "list"],
}
result["handler"] = {name: handler(payload) for name, payload in payloads.items()}
result["handler_after_errors"] = handler({"inputs": {"text": posts[0]}})
open(result_file, "w").write(json.dumps(result))
"""


def test_hub_user_loads_model_processor_pipeline_and_handler(exported, trained_run, picture_file, tmp_path):
    """In a fresh process without the project: AutoModel, AutoProcessor, the pipeline and the endpoint handler load
    from the folder and give the entities the in-process model gives (itself loaded from the training output)."""
    posts_file = tmp_path / "posts.json"
    posts_file.write_text(json.dumps(POSTS))
    result_file = tmp_path / "result.json"
    completed = run_without_project(
        tmp_path, HUB_USER_SCRIPT, str(exported), str(picture_file), str(posts_file), str(closed_port()), str(result_file)
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads(result_file.read_text())
    assert all(name.startswith("transformers_modules.") for name in result["classes"])

    ner = load_pipeline(str(trained_run), device="cpu")
    picture = PIL.Image.open(picture_file)
    expected = [ner(text) for text in POSTS]
    expected_with_image = ner(POSTS[0], image=picture)
    assert expected[2] == [] and expected[3] == []
    assert any(expected) and expected_with_image  # the comparison is not between empty lists only
    for actual, wanted in zip([*result["pipeline"], result["pipeline_with_image"]], [*expected, expected_with_image]):
        assert [{**e, "score": pytest.approx(e["score"], abs=1e-5)} for e in wanted] == actual
    spans = [[[e["entity_group"], e["start"], e["end"]] for e in entities] for entities in expected]
    assert result["model"] == spans[:2]
    assert result["model_with_image"] == [[e["entity_group"], e["start"], e["end"]] for e in expected_with_image]

    handler = result["handler"]
    for name in ("text", "text_string", "null_image"):
        assert handler[name] == result["pipeline"][0], name
    for name in ("base64", "data_uri"):
        assert handler[name] == result["pipeline_with_image"], name
    assert handler["empty_text"] == []
    errors = {name: answer["error"] for name, answer in handler.items() if isinstance(answer, dict)}
    assert set(errors) == {
        "no_inputs", "no_text", "text_not_string", "bad_base64", "not_an_image", "huge_pixels", "huge_bytes",
        "unreachable_url", "not_a_dict",
    }  # fmt: skip
    assert '{"inputs"' in errors["no_inputs"] and '"text" string' in errors["no_text"]
    assert '"text" string' in errors["text_not_string"] and "valid base64" in errors["bad_base64"]
    assert "not a readable image" in errors["not_an_image"] and "8000x8000 pixels" in errors["huge_pixels"]
    assert "MiB" in errors["huge_bytes"] and "could not download" in errors["unreachable_url"]
    assert result["handler_after_errors"] == result["pipeline"][0]
