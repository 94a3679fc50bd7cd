"""Trainable and frozen parameter counts of the full-size UMT (bert-base-cased dimensions, ResNet-152,
random weights) and of every paper variant, per component. Writes docs/results/parameter_counts.md.

    python benchmarks/parameter_counts.py [--output docs/results/parameter_counts.md]
"""

import argparse
import platform
import sys
from pathlib import Path

import torch
import transformers
from transformers.models.bert.modeling_bert import BertPooler

from configuration_umt import PAPER_VARIANTS, UMTConfig
from modeling_umt import UMTForMultimodalNER
from modeling_umt.crf import LinearChainCRF

# The paper's public implementation tags with 13 labels: the 9 BIO2 tags plus X, [CLS], [SEP] and padding.
PUBLIC_CODE_LABELS = 13


def count(module: torch.nn.Module | None, trainable: bool) -> int:
    if module is None:
        return 0
    return sum(p.numel() for p in module.parameters() if p.requires_grad == trainable)


def components(model: UMTForMultimodalNER) -> dict[str, torch.nn.Module | None]:
    interaction = model.umt.multimodal_interaction
    return {
        "text encoder (BERT, no pooler)": model.umt.text_encoder,
        "MNER text layer R": model.umt.text_layer,
        "ESD text layer T": model.umt.span_text_layer,
        "image projections 2048->d": torch.nn.ModuleList(
            [m for m in (interaction.text_image_projection, interaction.image_text_projection) if m is not None]
        ) if interaction else None,
        "cross-modal layers (P, A, Q)": torch.nn.ModuleList(
            [m for m in (interaction.image_text_layer, interaction.coupled_layer, interaction.text_image_layer) if m is not None]
        ) if interaction else None,
        "visual gate": interaction.visual_gate if interaction else None,
        "classifiers": torch.nn.ModuleList([m for m in (model.classifier, model.span_classifier) if m is not None]),
        "CRFs": torch.nn.ModuleList([m for m in (model.crf, model.span_crf) if m is not None]),
        "ResNet-152 (frozen)": model.umt.vision_backbone,
    }


def public_code_difference(model: UMTForMultimodalNER) -> list[tuple[str, int]]:
    """What the paper's public implementation has on top of this model: BERT's pooler (unused by UMT) and a
    classifier and CRF over 13 labels instead of len(config.labels)."""
    extra_labels = PUBLIC_CODE_LABELS - model.classifier.out_features
    return [
        ("BERT pooler", count(BertPooler(model.config.text_config), True)),
        (f"{extra_labels} more labels in the MNER classifier", extra_labels * (model.classifier.in_features + 1)),
        (
            f"{extra_labels} more labels in the MNER CRF",
            count(LinearChainCRF(PUBLIC_CODE_LABELS), True) - count(model.crf, True),
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path("docs/results/parameter_counts.md"))
    args = parser.parse_args()

    torch.manual_seed(0)
    full = UMTForMultimodalNER(UMTConfig())
    lines = [
        "# Parameter counts",
        "",
        f"Command: `python {' '.join(sys.argv)}`  ",
        f"torch {torch.__version__}, transformers {transformers.__version__}, Python {platform.python_version()}",
        "",
        "Full-size UMT-BERT-CRF (`UMTConfig()`: bert-base-cased dimensions, ResNet-152, 9 BIO2 tags), random weights:",
        "",
        "| component | trainable | frozen |",
        "|---|---:|---:|",
    ]
    for name, module in components(full).items():
        lines.append(f"| {name} | {count(module, True):,} | {count(module, False):,} |")
    trainable = count(full, True)
    lines.append(f"| **total** | **{trainable:,}** | **{count(full, False):,}** |")
    difference = public_code_difference(full)
    lines += [
        "",
        f"Against the paper's public implementation ({PUBLIC_CODE_LABELS} labels: the 9 BIO2 tags plus X, [CLS], [SEP]"
        " and padding; it also builds BERT's pooler, which UMT never uses):",
        "",
        "| | trainable |",
        "|---|---:|",
        f"| this model | {trainable:,} |",
    ]
    lines += [f"| + {name} | {size:,} |" for name, size in difference]
    lines.append(f"| **= public implementation's layout** | **{trainable + sum(size for _, size in difference):,}** |")
    lines += ["", "Every paper variant at full size:", "", "| variant | trainable | frozen |", "|---|---:|---:|"]
    for variant in PAPER_VARIANTS:
        model = UMTForMultimodalNER(UMTConfig(variant=variant))
        lines.append(f"| {variant} | {count(model, True):,} | {count(model, False):,} |")
        del model
    text = "\n".join(lines) + "\n"
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
