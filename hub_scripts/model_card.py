"""The model card (`README.md`) of an exported UMT model, generated from the run's `results.json` and the model config.

Measured numbers come only from the results file; the paper's numbers (Yu et al., ACL 2020, Table 2) are the paper's,
quoted next to them. The YAML metadata is built with `huggingface_hub.ModelCardData` and `EvalResult` (`model-index`).
"""

import os
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from configuration_umt import UMTConfig

from .results import scores_table

#: The paper's test scores (entity-level, micro, percent), Table 2 of Yu et al. (2020): system -> data set -> P/R/F1.
PAPER_RESULTS = {
    "BERT-CRF": {"Twitter-2015": (69.22, 74.59, 71.81), "Twitter-2017": (83.32, 83.57, 83.44)},
    "MT-BERT-CRF": {"Twitter-2015": (70.48, 74.80, 72.58), "Twitter-2017": (84.60, 84.16, 84.42)},
    "UMT-BERT-CRF": {"Twitter-2015": (71.67, 75.23, 73.41), "Twitter-2017": (85.28, 85.34, 85.31)},
}
#: The paper's test F1 per type (percent), Table 2 (Twitter-2015 OTHER is reported as MISC): system -> data set -> type.
PAPER_F1_PER_TYPE = {
    "BERT-CRF": {
        "Twitter-2015": {"PER": 84.74, "LOC": 80.51, "ORG": 60.27, "MISC": 37.29},
        "Twitter-2017": {"PER": 90.25, "LOC": 83.05, "ORG": 81.13, "MISC": 62.21},
    },
    "MT-BERT-CRF": {
        "Twitter-2015": {"PER": 85.30, "LOC": 81.21, "ORG": 61.10, "MISC": 37.97},
        "Twitter-2017": {"PER": 91.47, "LOC": 82.05, "ORG": 81.84, "MISC": 65.80},
    },
    "UMT-BERT-CRF": {
        "Twitter-2015": {"PER": 85.24, "LOC": 81.58, "ORG": 63.03, "MISC": 39.45},
        "Twitter-2017": {"PER": 91.56, "LOC": 84.73, "ORG": 82.24, "MISC": 70.10},
    },
}
#: The paper's system that each `variant=` of this project reproduces (Table 3 ablations have no row here).
PAPER_SYSTEM_OF_VARIANT = {"bert-crf": "BERT-CRF", "mt-bert-crf": "MT-BERT-CRF", "umt-bert-crf": "UMT-BERT-CRF"}

#: Text-only widget examples: the Hub's hosted widgets run no custom code and take no image for this task.
WIDGET_EXAMPLES = [
    {"text": "Kevin Durant enters Oracle Arena wearing Off-White x Jordan", "example_title": "Sports"},
    {"text": "RT @nytimes: Angela Merkel meets Emmanuel Macron in Paris #G7", "example_title": "News"},
]

CITATION = """@inproceedings{yu-etal-2020-improving,
    title = "Improving Multimodal Named Entity Recognition via Entity Span Detection with Unified Multimodal Transformer",
    author = "Yu, Jianfei and Jiang, Jing and Yang, Li and Xia, Rui",
    booktitle = "Proceedings of the 58th Annual Meeting of the Association for Computational Linguistics",
    year = "2020",
    pages = "3342--3352",
    publisher = "Association for Computational Linguistics",
    url = "https://aclanthology.org/2020.acl-main.306",
}"""


def paper_dataset_name(data_dir: str | None) -> str | None:
    """`Twitter-2015` or `Twitter-2017` when the run's data folder is one of the paper's data sets, else None."""
    name = Path(data_dir or "").name.lower()
    for year in ("2015", "2017"):
        if "twitter" in name and year in name:
            return f"Twitter-{year}"
    return None


def is_hub_id(name: str | None) -> bool:
    """Whether `name` reads as a Hub repository id (`bert-base-cased`, `org/name`) rather than a local folder."""
    return bool(name) and not os.path.isabs(name) and not os.path.exists(name) and name.count("/") <= 1


def build_card_data(
    results: dict, model_name: str, dataset_id: str, license: str, base_model: str | None = None
) -> ModelCardData:
    """The YAML metadata: license, language, tags, data set, pipeline tag, widget examples and the `model-index` with
    the measured test precision, recall and F1 (values as in `results.json`, fractions)."""
    test = results["scores"].get("test")
    if test is None:
        raise ValueError("results.json has no test scores: score the model on a test set (umt-evaluate) before export")
    dataset_name = paper_dataset_name(results["data"]["data_dir"]) or dataset_id
    eval_results = [
        EvalResult(
            task_type="token-classification",
            task_name="Multimodal Named Entity Recognition",
            dataset_type=dataset_id,
            dataset_name=dataset_name,
            dataset_split="test",
            metric_type=metric,
            metric_name=f"{metric.capitalize() if metric != 'f1' else 'F1'} (entity-level, strict, micro)",
            metric_value=test[metric],
        )
        for metric in ("precision", "recall", "f1")
    ]
    text_encoder = base_model or results["model"]["text_encoder"]
    return ModelCardData(
        language="en",
        license=license,
        library_name="transformers",
        pipeline_tag="token-classification",
        tags=["umt", "multimodal-ner", "named-entity-recognition", "token-classification", "twitter", "custom_code"],
        datasets=[dataset_id],
        base_model=text_encoder if is_hub_id(text_encoder) else None,
        metrics=["precision", "recall", "f1"],
        model_name=model_name,
        eval_results=eval_results,
        widget=WIDGET_EXAMPLES,
    )


def paper_comparison(results: dict) -> str:
    """The measured test P/R/F1 next to the paper's Table 2 rows for the same data set (Markdown)."""
    dataset = paper_dataset_name(results["data"]["data_dir"])
    test = results["scores"]["test"]
    variant = results["model"]["variant"]
    lines = [
        "| system | P | R | F1 |",
        "|---|---:|---:|---:|",
        f"| **this model** ({variant}, measured) | "
        + " | ".join(f"{100 * test[metric]:.2f}" for metric in ("precision", "recall", "f1"))
        + " |",
    ]
    if dataset is None:
        return "\n".join(lines) + "\n\nThe paper reports no numbers for this data set."
    for system, scores in PAPER_RESULTS.items():
        lines.append(f"| {system} (paper) | " + " | ".join(f"{value:.2f}" for value in scores[dataset]) + " |")
    system = PAPER_SYSTEM_OF_VARIANT.get(variant, "UMT-BERT-CRF")
    paper_per_type = PAPER_F1_PER_TYPE[system][dataset]
    measured_per_type = test["f1_per_type"]
    types = [entity_type for entity_type in paper_per_type if entity_type in measured_per_type]
    lines += [
        "",
        "F1 per type on the test set:",
        "",
        "| system | " + " | ".join(types) + " |",
        "|---|" + "---:|" * len(types),
        f"| **this model** ({variant}, measured) | "
        + " | ".join(f"{100 * measured_per_type[t]:.2f}" for t in types)
        + " |",
        f"| {system} (paper) | " + " | ".join(f"{paper_per_type[t]:.2f}" for t in types) + " |",
    ]
    reference = (
        f"its paper counterpart is {system}"
        if variant in PAPER_SYSTEM_OF_VARIANT
        else "it is an ablation (the paper's Table 3), shown per type next to the full UMT-BERT-CRF"
    )
    return "\n".join(lines) + f"\n\nPaper numbers: Yu et al. (2020), {dataset} test set; {reference}."


def training_facts(results: dict, config: UMTConfig) -> str:
    """Data and settings of the run, as a Markdown table."""
    model, data, run = results["model"], results["data"], results["run"]
    posts, with_image = data["posts"], data.get("posts_with_image", {})
    splits = [split for split in ("train", "validation", "test") if split in posts]
    text = config.text_config
    vision = "none (text only)"
    if model["vision_backbone"]:
        weights = "pretrained ImageNet weights" if model["pretrained_vision_weights"] else "**random weights**"
        vision = f"`{model['vision_backbone']}`, frozen, {weights}"
    rows = [
        ("variant", model["variant"]),
        (
            "text encoder",
            f"`{model['text_encoder']}` ({text.num_hidden_layers} layers, hidden size {text.hidden_size}), fine-tuned",
        ),
        ("vision backbone", vision),
        ("labels", ", ".join(model["labels"])),
        ("data", f"`{Path(data['data_dir']).name}`"),
        ("entity types renamed", data.get("entity_type_mapping") or "no"),
        ("posts " + " / ".join(splits), " / ".join(str(posts[split]) for split in splits)),
        ("posts with an image", " / ".join(str(with_image.get(split, 0)) for split in splits)),
        ("epochs (best dev epoch)", f"{run['num_train_epochs']:g} ({run['best_epoch']})"),
        ("learning rate", f"{run['learning_rate']:g}"),
        (
            "batch size",
            f"{run['per_device_train_batch_size']} per device x {run['world_size']} process(es) x "
            f"{run['gradient_accumulation_steps']} accumulation step(s)",
        ),
        ("seed", run["seed"]),
        ("bf16", run["bf16"]),
        ("training time", f"{run['wall_time_s'] / 60:.1f} min"),
        ("versions", ", ".join(f"{name} {version}" for name, version in run["versions"].items())),
    ]
    return "\n".join(["| | |", "|---|---|", *(f"| {name} | {value} |" for name, value in rows)])


def run_warnings(results: dict) -> list[str]:
    """Facts of this run that a user must know before trusting its image path or its scores."""
    warnings = []
    if results["model"]["vision_backbone"] and not results["model"]["pretrained_vision_weights"]:
        warnings.append(
            "This run's ResNet had **random weights** (no ImageNet pretraining): its image features carry little "
            "meaning, so the image can hardly help."
        )
    if results["model"]["vision_backbone"] and not any(results["data"].get("posts_with_image", {}).values()):
        warnings.append(
            "This run was trained and scored **without any image** (every post text-only): the cross-modal layers "
            "and the visual gate were never trained on pictures."
        )
    posts = results["data"]["posts"]
    if posts.get("train", 0) < 1000:
        warnings.append(f"This run saw only {posts.get('train', 0)} training posts: it is a small check, not a useful tagger.")
    return warnings


def build_model_card(
    results: dict,
    config: UMTConfig,
    repo_id: str,
    dataset_id: str | None = None,
    license: str = "apache-2.0",
    base_model: str | None = None,
) -> ModelCard:
    """The model card of the exported model `repo_id` ("org/name"), from the run's results and the model config."""
    model_name = repo_id.split("/")[-1]
    dataset_id = dataset_id or Path(results["data"]["data_dir"]).name
    card_data = build_card_data(results, model_name, dataset_id, license, base_model)
    types = ", ".join(config.entity_types)
    image_note = (
        "reads the post's text and its image"
        if config.use_image
        else "reads the post's text only (the paper's text baseline: the image is ignored)"
    )
    warnings = "".join(f"- {warning}\n" for warning in run_warnings(results))
    body = f"""
# {model_name}

A Unified Multimodal Transformer (UMT, Yu et al., ACL 2020) for multimodal named entity recognition: it tags the
entities ({types}) of a social-media post and {image_note}.

Variant `{config.variant}`, trained with `umt-train` of the `umt` project; every number under Results was measured by
that run.

## Intended use

Tagging people, places, organisations and other names in English tweets that come with a picture, where the picture
can tell what a name refers to (a player, a team, a place). Research on multimodal NER; not for decisions about
people.

## How to use

The model ships its own code: load it with `trust_remote_code=True` (read the `.py` files first).

```python
from transformers import pipeline

ner = pipeline(model="{repo_id}", trust_remote_code=True)  # task "multimodal-ner"
ner({{"text": "Kevin Durant enters Oracle Arena", "image": "photo.jpg"}})  # image: a path or a PIL image
ner("Kevin Durant enters Oracle Arena")                              # a post without image
# [{{'entity_group': 'PER', 'score': ..., 'word': 'Kevin Durant', 'start': 0, 'end': 12}}, ...]
```

`score` is the mean over the entity's words of the CRF marginal probability of the predicted tag. Posts longer than
the 128 word-piece limit are tagged in overlapping windows. `return_visual_evidence=True` adds, per entity, its
words' attention over the 7x7 image grid and the visual gate value.

Without the pipeline:

```python
import torch
from transformers import AutoModel, AutoProcessor

model = AutoModel.from_pretrained("{repo_id}", trust_remote_code=True).eval()
processor = AutoProcessor.from_pretrained("{repo_id}", trust_remote_code=True)
text = "Kevin Durant enters Oracle Arena"
inputs = processor(text, "photo.jpg")  # raw text is split into tweet words; the image may be None
with torch.no_grad():
    tags = model(**inputs).predicted_tags[0].tolist()
print(processor.post_process_entities(text, tags))
```

Inference Endpoints: `handler.py` takes `{{"inputs": {{"text": "...", "image": "<base64 or http(s) URL>"}}}}` (the image
may be left out) and returns the entity list. The Hub's text widget on this page runs no custom code; to try
`{{text, image}}` posts in the browser, run the `umt` project's Gradio demo: `umt-demo --model {repo_id}`.

## Training data and settings

{training_facts(results, config)}

Command: `{results['run']['command']}`

## Results

Entity-level, strict (span and type), micro-averaged, scored with seqeval (IOB2) on the run's splits:

{scores_table(results)}

Against the paper (test set, percent):

{paper_comparison(results)}

## Limitations

{warnings}- **Visual bias.** The image can pull a name toward the type of what the picture shows (a player's photo makes
  a team name look like a person). The entity span detection branch is there to limit this, not to remove it.
- **Unrelated images.** Many tweet images do not show what the text names (memes, screenshots, ads); the model may
  still read them. Check whether an entity changes when you drop the image.
- **Missing images.** A post without image (or with an unreadable one) is tagged from its text alone
  (`has_image=0`); how well that works depends on how many training posts had no image (see above).
- **English tweets.** Trained on English tweets only: other languages, long documents and formal text are out of
  domain. Only the types {types} are predicted.

## Citation

```bibtex
{CITATION}
```
"""
    return ModelCard(f"---\n{card_data.to_yaml()}\n---\n{body}")


__all__ = ["PAPER_RESULTS", "PAPER_F1_PER_TYPE", "build_card_data", "build_model_card", "paper_comparison"]
