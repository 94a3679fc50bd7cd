"""UMT model configuration (Yu et al., ACL 2020, "Improving Multimodal Named Entity Recognition via
Entity Span Detection with Unified Multimodal Transformer")."""

from huggingface_hub.dataclasses import strict
from transformers import AutoConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec

#: BIO2 tags of the Twitter-2017 benchmark (Twitter-2015 says OTHER where this says MISC).
DEFAULT_MNER_LABELS = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC")

#: Labels of the auxiliary entity span detection (ESD) task, Z = {B, I, O} in the paper (Sec. 2.4).
SPAN_LABELS = ("O", "B", "I")

#: The switches that define the paper's systems (Table 2) and ablations (Table 3).
VARIANT_SWITCHES: dict[str, dict[str, bool]] = {
    # Table 2, text baseline: C -> linear -> CRF.
    "bert-crf": {
        "use_image": False,
        "use_esd": False,
        "use_conversion_matrix": False,
        "use_image_aware_word_representations": False,
        "use_visual_gate": False,
    },
    # Table 2: the Multimodal Transformer (Sec. 2.3) without the ESD branch. Table 3's
    # "w/o ESD Module" is the same network (the paper reports identical numbers).
    "mt-bert-crf": {
        "use_image": True,
        "use_esd": False,
        "use_conversion_matrix": False,
        "use_image_aware_word_representations": True,
        "use_visual_gate": True,
    },
    # Table 2: the full Unified Multimodal Transformer (Sec. 2.4).
    "umt-bert-crf": {
        "use_image": True,
        "use_esd": True,
        "use_conversion_matrix": True,
        "use_image_aware_word_representations": True,
        "use_visual_gate": True,
    },
    # Table 3 ablations of UMT-BERT-CRF.
    "umt-no-conversion-matrix": {
        "use_image": True,
        "use_esd": True,
        "use_conversion_matrix": False,
        "use_image_aware_word_representations": True,
        "use_visual_gate": True,
    },
    "umt-no-image-aware-wr": {
        "use_image": True,
        "use_esd": True,
        "use_conversion_matrix": True,
        "use_image_aware_word_representations": False,
        "use_visual_gate": True,
    },
    "umt-no-visual-gate": {
        "use_image": True,
        "use_esd": True,
        "use_conversion_matrix": True,
        "use_image_aware_word_representations": True,
        "use_visual_gate": False,
    },
}
VARIANT_ALIASES = {"umt-no-esd": "mt-bert-crf"}
PAPER_VARIANTS = tuple(VARIANT_SWITCHES) + tuple(VARIANT_ALIASES)
CUSTOM_VARIANT = "custom"


def _variant_of(switches: dict[str, bool]) -> str:
    """The paper variant whose switches equal `switches`, or "custom"."""
    for name, variant_switches in VARIANT_SWITCHES.items():
        if variant_switches == switches:
            return name
    return CUSTOM_VARIANT


def span_label_of(mner_label: str) -> str:
    """Remove the type from a BIO2 tag: "B-PER" -> "B", "O" -> "O" (paper, footnote 2)."""
    return mner_label.split("-", 1)[0]


@strict
class UMTConfig(PreTrainedConfig):
    r"""
    Configuration of a Unified Multimodal Transformer (UMT) and of the baselines and ablations the paper
    reports. `UMTConfig()` describes the paper's full-size UMT-BERT-CRF: a bert-base-cased text encoder,
    a frozen ResNet-152 (`resnet152.tv_in1k`), 12 cross-attention heads, dropout 0.1, lambda = 0.5 and
    the Twitter-2017 label set.

    Args:
        text_config (`dict` or `PreTrainedConfig`, *optional*):
            The text encoder (any BERT-family encoder); defaults to bert-base-cased dimensions.
        variant (`str`, *optional*):
            One of `PAPER_VARIANTS`: "bert-crf", "mt-bert-crf", "umt-bert-crf" (Table 2), "umt-no-esd",
            "umt-no-conversion-matrix", "umt-no-image-aware-wr", "umt-no-visual-gate" (Table 3). Fills the
            switches below that are left unset; a switch that contradicts the named variant is an error.
            After construction it names the variant the switches describe, or "custom".
        use_image (`bool`): the image branch (ResNet, cross-modal layers). False gives BERT-CRF.
        use_esd (`bool`): the auxiliary entity span detection branch and its CRF (Sec. 2.4).
        use_conversion_matrix (`bool`): add the ESD emissions to the MNER emissions through the conversion
            matrix (Eq. 7). Needs `use_esd`.
        use_image_aware_word_representations (`bool`): the image-query and coupled CMT layers that give A;
            without them A is replaced by the text representations R.
        use_visual_gate (`bool`): the visual gate g of Eq. 3; without it B = Q.
        train_conversion_matrix (`bool`): whether the conversion matrix is a trained parameter; the
            public code (and the default here) keeps it fixed at its initial value.
        vision_backbone (`str`): timm architecture name of the frozen CNN, with its pretrained tag.
        vision_feature_size (`int`): channels of the backbone's last convolutional map (2048 for ResNet-152).
        vision_grid_size (`int`): side of that map for a 224x224 image (7 -> 49 visual blocks).
        image_size (`int`): side of the square image the backbone reads.
        load_pretrained_vision_weights (`bool`): whether `UMTForMultimodalNER.from_text_vision_pretrained`
            loads the backbone's pretrained (ImageNet) weights. Building a model from a config never does.
        num_cross_attention_heads (`int`): m, the heads of every cross-modal attention.
        hidden_dropout_prob (`float`): dropout of the UMT layers and before the classifiers.
        attention_dropout_prob (`float`): dropout on the attention weights of the UMT layers.
        esd_loss_weight (`float`): lambda, the weight of the ESD negative log-likelihood in the loss.
        conversion_weight (`float`): weight of the converted ESD emissions in the MNER emissions; the typed
            emissions get `1 - conversion_weight` (the public code averages them: 0.5).
        initializer_range (`float`): std of the normal initialisation of the UMT layers.
        id2label / label2id: the MNER tag set, BIO2 over the dataset's entity types.
    """

    model_type = "umt"
    sub_configs_defaults = {
        "text_config": SubConfigSpec(config_class=AutoConfig, model_type="bert", init_kwargs={"vocab_size": 28996}),
    }
    keys_to_ignore_at_inference = ["logits", "esd_logits", "mner_loss", "esd_loss", "marginals"]

    text_config: dict | PreTrainedConfig | None = None
    variant: str | None = None
    use_image: bool | None = None
    use_esd: bool | None = None
    use_conversion_matrix: bool | None = None
    use_image_aware_word_representations: bool | None = None
    use_visual_gate: bool | None = None
    train_conversion_matrix: bool = False
    vision_backbone: str = "resnet152.tv_in1k"
    vision_feature_size: int = 2048
    vision_grid_size: int = 7
    image_size: int = 224
    load_pretrained_vision_weights: bool = True
    num_cross_attention_heads: int = 12
    hidden_dropout_prob: float | int = 0.1
    attention_dropout_prob: float | int = 0.1
    esd_loss_weight: float | int = 0.5
    conversion_weight: float | int = 0.5
    initializer_range: float | int = 0.02

    def __post_init__(self, **kwargs):
        if self.id2label is None and self.label2id is None and kwargs.get("num_labels") is None:
            self.id2label = dict(enumerate(DEFAULT_MNER_LABELS))
        if self.id2label is None and self.label2id is not None:
            self.id2label = {int(index): label for label, index in self.label2id.items()}
        super().__post_init__(**kwargs)
        self.label2id = {label: index for index, label in self.id2label.items()}
        self._resolve_variant()
        self._check_values()
        self._check_labels()

    def _resolve_variant(self) -> None:
        switch_names = tuple(VARIANT_SWITCHES["umt-bert-crf"])
        explicit = {name: getattr(self, name) for name in switch_names if getattr(self, name) is not None}
        if self.variant is not None and self.variant != CUSTOM_VARIANT:
            if self.variant not in PAPER_VARIANTS:
                raise ValueError(
                    f"UMTConfig: unknown variant {self.variant!r}; choose one of {', '.join(PAPER_VARIANTS)} "
                    "(or leave it unset and give the use_* switches)."
                )
            named = VARIANT_SWITCHES[VARIANT_ALIASES.get(self.variant, self.variant)]
            conflicts = {name: value for name, value in explicit.items() if named[name] != value}
            if conflicts:
                raise ValueError(
                    f"UMTConfig: variant={self.variant!r} sets {', '.join(f'{n}={named[n]}' for n in conflicts)}, "
                    f"but {', '.join(f'{n}={v}' for n, v in conflicts.items())} was given; drop one of them."
                )
            base = named
        else:
            base = dict(VARIANT_SWITCHES["umt-bert-crf"])
            if explicit.get("use_image") is False:
                base = dict(VARIANT_SWITCHES["bert-crf"])
            if explicit.get("use_esd") is False:
                base["use_conversion_matrix"] = False
        for name in switch_names:
            if getattr(self, name) is None:
                setattr(self, name, base[name])

        if not self.use_image and (self.use_image_aware_word_representations or self.use_visual_gate or self.use_esd):
            raise ValueError(
                "UMTConfig: use_image=False is the text-only BERT-CRF, which has no ESD branch, image-aware word "
                "representations or visual gate; set use_esd, use_image_aware_word_representations and "
                "use_visual_gate to False too, or use variant='bert-crf'."
            )
        if self.use_conversion_matrix and not self.use_esd:
            raise ValueError(
                "UMTConfig: use_conversion_matrix=True needs the ESD branch (use_esd=True); set "
                "use_conversion_matrix=False or use variant='mt-bert-crf'."
            )
        if self.train_conversion_matrix and not self.use_conversion_matrix:
            raise ValueError("UMTConfig: train_conversion_matrix=True needs use_conversion_matrix=True.")
        self.variant = _variant_of({name: getattr(self, name) for name in switch_names})

    def _check_values(self) -> None:
        hidden_size = self.text_config.hidden_size
        for name in ("hidden_dropout_prob", "attention_dropout_prob"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"UMTConfig: {name} must be in [0, 1), got {getattr(self, name)}.")
        if not 0.0 <= self.conversion_weight <= 1.0:
            raise ValueError(f"UMTConfig: conversion_weight must be in [0, 1], got {self.conversion_weight}.")
        if self.esd_loss_weight < 0:
            raise ValueError(f"UMTConfig: esd_loss_weight (lambda) must be >= 0, got {self.esd_loss_weight}.")
        for name in ("vision_feature_size", "vision_grid_size", "image_size", "num_cross_attention_heads"):
            if getattr(self, name) <= 0:
                raise ValueError(f"UMTConfig: {name} must be a positive integer, got {getattr(self, name)}.")
        if hidden_size % self.num_cross_attention_heads:
            raise ValueError(
                f"UMTConfig: the text encoder's hidden_size ({hidden_size}) is not a multiple of "
                f"num_cross_attention_heads ({self.num_cross_attention_heads})."
            )
        if hidden_size % self.text_config.num_attention_heads:
            raise ValueError(
                f"UMTConfig: text_config.hidden_size ({hidden_size}) is not a multiple of "
                f"text_config.num_attention_heads ({self.text_config.num_attention_heads})."
            )

    def _check_labels(self) -> None:
        if sorted(self.id2label) != list(range(len(self.id2label))):
            raise ValueError(f"UMTConfig: id2label must number its labels 0..{len(self.id2label) - 1}, got {self.id2label}.")
        labels = self.labels
        for label in labels:
            if label != "O" and (label[:2] not in ("B-", "I-") or not label[2:]):
                raise ValueError(f"UMTConfig: label {label!r} is not BIO2 ('O', 'B-<type>' or 'I-<type>').")
        if labels.count("O") != 1 or len(set(labels)) != len(labels):
            raise ValueError(f"UMTConfig: the MNER labels need exactly one 'O' and no duplicates, got {labels}.")
        types = {label[2:] for label in labels if label != "O"}
        missing = sorted(f"{p}-{t}" for t in types for p in "BI" if f"{p}-{t}" not in labels)
        if not types or missing:
            raise ValueError(
                f"UMTConfig: the MNER labels need B- and I- tags for at least one entity type; got {labels}"
                + (f", missing {missing}." if missing else ".")
            )

    @property
    def labels(self) -> list[str]:
        """The MNER tags in id order."""
        return [self.id2label[index] for index in range(len(self.id2label))]

    @property
    def entity_types(self) -> list[str]:
        """The entity types, in the order of their B- tags."""
        return [label[2:] for label in self.labels if label.startswith("B-")]

    @property
    def span_labels(self) -> list[str]:
        """The ESD tags Z = [O, B, I]."""
        return list(SPAN_LABELS)

    def span_label_ids(self) -> list[int]:
        """For every MNER tag id, the id of its ESD tag (type removed)."""
        return [SPAN_LABELS.index(span_label_of(label)) for label in self.labels]

    def conversion_matrix(self) -> list[list[float]]:
        """Initial conversion matrix Wc, |Z| x |Y| (Sec. 2.4): Wc[z][y] = 1 / |C_z| if the typed tag y belongs
        to the span tag z (O -> O, B -> every B-type, I -> every I-type), else 0."""
        span_of_label = self.span_label_ids()
        matrix = []
        for span_id in range(len(SPAN_LABELS)):
            members = [label_id for label_id, span in enumerate(span_of_label) if span == span_id]
            matrix.append([1.0 / len(members) if span_of_label[label_id] == span_id else 0.0 for label_id in range(len(span_of_label))])
        return matrix

    @property
    def text_hidden_size(self) -> int:
        """d, the hidden size of the text encoder and of every UMT layer."""
        return self.text_config.hidden_size

    @property
    def num_visual_blocks(self) -> int:
        """The number of visual blocks, 49 for a 7x7 map."""
        return self.vision_grid_size**2


__all__ = ["UMTConfig", "DEFAULT_MNER_LABELS", "SPAN_LABELS", "PAPER_VARIANTS", "VARIANT_SWITCHES", "span_label_of"]
