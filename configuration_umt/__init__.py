"""UMT configuration; importing this package registers `UMTConfig` with `AutoConfig` (model type "umt")."""

from transformers import AutoConfig

from .configuration_umt import DEFAULT_MNER_LABELS, PAPER_VARIANTS, SPAN_LABELS, VARIANT_SWITCHES, UMTConfig, span_label_of

AutoConfig.register(UMTConfig.model_type, UMTConfig, exist_ok=True)

__all__ = ["UMTConfig", "DEFAULT_MNER_LABELS", "SPAN_LABELS", "PAPER_VARIANTS", "VARIANT_SWITCHES", "span_label_of"]
