"""umt-export: turn a `umt-train` output folder into a Hub-ready model repository folder.

The folder holds `config.json` (with `auto_map` and the `multimodal-ner` entry in `custom_pipelines`),
`model.safetensors`, the processor (`processor_config.json` with its `auto_map`, tokenizer files), the remote code
those point at (configuration, modeling, processing and pipeline modules, which import only each other and public
packages), `README.md` (the model card, generated from `results.json`), `results.json`, the Inference Endpoints
`handler.py` with its `requirements.txt`, and `.gitattributes`. Upload it with `umt-push`.

    umt-export runs/umt-2017 --output_dir hub/umt-twitter2017 --repo_id my-org/umt-twitter2017
"""

import argparse
import shutil
import sys
from pathlib import Path

from transformers.dynamic_module_utils import get_imports, get_relative_imports

from modeling_umt import UMTForMultimodalNER
from processing_umt import UMTProcessor
from processing_umt.pipeline_umt import MULTIMODAL_NER_TASK, UMTMultimodalNERPipeline

from .model_card import build_model_card
from .push import folder_listing, format_listing
from .results import RESULTS_JSON, load_results

HANDLER_TEMPLATE = Path(__file__).resolve().parent / "templates" / "handler.py"
#: Packages the endpoint needs beyond transformers, torch and Pillow (Inference Endpoints installs this file).
ENDPOINT_REQUIREMENTS = ["timm>=1.0", "regex"]
PROJECT_PACKAGES = ("configuration_umt", "modeling_umt", "processing_umt", "hub_scripts")
#: Large binary files the Hub stores with Git LFS (the usual `.gitattributes` of a model repository).
LFS_PATTERNS = [
    "*.safetensors", "*.bin", "*.pt", "*.pth", "*.ckpt", "*.h5", "*.onnx", "*.msgpack", "*.model", "*.npy", "*.npz",
    "*.zip", "*.tar.gz", "*tfevents*",
]  # fmt: skip


def gitattributes() -> str:
    return "".join(f"{pattern} filter=lfs diff=lfs merge=lfs -text\n" for pattern in LFS_PATTERNS)


def check_self_contained(folder: Path) -> None:
    """Raise if a Python file of `folder` imports a project package or a relative module the folder lacks."""
    for source in sorted(folder.glob("*.py")):
        project_imports = sorted(set(get_imports(source)) & set(PROJECT_PACKAGES))
        if project_imports:
            raise RuntimeError(f"{source.name} imports the project package(s) {project_imports}: a Hub user has none")
        missing = [name for name in get_relative_imports(source) if not (folder / f"{name}.py").is_file()]
        if missing:
            raise RuntimeError(f"{source.name} imports {missing} relatively but the folder has no such file")


def export(
    run_dir: str | Path,
    output_dir: str | Path,
    repo_id: str | None = None,
    dataset_id: str | None = None,
    license: str = "apache-2.0",
    base_model: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the Hub-ready folder of the trained model in `run_dir` to `output_dir`; returns `output_dir`."""
    run_dir, output_dir = Path(run_dir), Path(output_dir)
    if not (run_dir / "config.json").is_file():
        raise FileNotFoundError(f"{run_dir} has no config.json: give the --output_dir of a umt-train run")
    results = load_results(run_dir)
    if output_dir.resolve() == run_dir.resolve():
        raise ValueError("the export folder must not be the run folder: choose another --output_dir")
    if output_dir.exists() and any(output_dir.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{output_dir} is not empty: choose another --output_dir or pass --overwrite")
        shutil.rmtree(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    repo_id = repo_id or output_dir.name

    print(f"loading the model and processor of {run_dir}", file=sys.stderr)
    model = UMTForMultimodalNER.from_pretrained(run_dir).eval()
    processor = UMTProcessor.from_pretrained(run_dir)
    ner = UMTMultimodalNERPipeline(model=model, processor=processor, task=MULTIMODAL_NER_TASK, device="cpu")
    print(f"writing the model, processor and pipeline code to {output_dir}", file=sys.stderr)
    ner.save_pretrained(output_dir)

    shutil.copyfile(HANDLER_TEMPLATE, output_dir / "handler.py")
    (output_dir / "requirements.txt").write_text("\n".join(ENDPOINT_REQUIREMENTS) + "\n", encoding="utf-8")
    shutil.copyfile(run_dir / RESULTS_JSON, output_dir / RESULTS_JSON)
    card = build_model_card(results, model.config, repo_id, dataset_id=dataset_id, license=license, base_model=base_model)
    card.save(output_dir / "README.md")
    (output_dir / ".gitattributes").write_text(gitattributes(), encoding="utf-8")
    check_self_contained(output_dir)
    print(f"exported {repo_id} to {output_dir}:\n{format_listing(folder_listing(output_dir))}", file=sys.stderr)
    return output_dir


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="umt-export", description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", help="output folder of umt-train (config.json, model.safetensors, results.json...)")
    parser.add_argument("--output_dir", required=True, help="where to write the Hub-ready folder")
    parser.add_argument("--repo_id", help="Hub id the card's code examples use (org/name); default: the folder name")
    parser.add_argument("--dataset_id", help="data set id for the card metadata; default: the run's data folder name")
    parser.add_argument("--license", default="apache-2.0", help="license id for the card metadata")
    parser.add_argument("--base_model", help="Hub id of the text encoder, when the run loaded it from a local folder")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty --output_dir")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        export(**vars(args))
    except (FileNotFoundError, FileExistsError, ValueError, RuntimeError) as error:
        raise SystemExit(f"umt-export: {error}") from error


if __name__ == "__main__":
    main()
