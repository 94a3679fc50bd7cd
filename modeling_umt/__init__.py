"""UMT networks: the CRF, the cross-modal layers and the models.

Importing this package registers UMT with `AutoConfig`, `AutoModel` and `AutoModelForTokenClassification`.
`AutoModel` gives the tagger `UMTForMultimodalNER` (the model users load from a UMT folder); the
encoder alone is `UMTModel`.
"""

from transformers import AutoModel, AutoModelForTokenClassification

from configuration_umt import UMTConfig

from .crf import LinearChainCRF
from .cross_modal import CrossModalTransformerLayer, MultiHeadCrossAttention, MultimodalInteraction
from .modeling_umt import (
    UMTForMultimodalNER,
    UMTModel,
    UMTModelOutput,
    UMTPreTrainedModel,
    UMTTokenClassifierOutput,
    build_vision_backbone,
    write_remote_code,
)

AutoModel.register(UMTConfig, UMTForMultimodalNER, exist_ok=True)
AutoModelForTokenClassification.register(UMTConfig, UMTForMultimodalNER, exist_ok=True)

__all__ = [
    "LinearChainCRF",
    "CrossModalTransformerLayer",
    "MultiHeadCrossAttention",
    "MultimodalInteraction",
    "UMTForMultimodalNER",
    "UMTModel",
    "UMTModelOutput",
    "UMTPreTrainedModel",
    "UMTTokenClassifierOutput",
    "build_vision_backbone",
    "write_remote_code",
]
