"""The Unified Multimodal Transformer (UMT) for multimodal named entity recognition (Yu et al., ACL 2020).

Shapes: B posts, L word pieces (`[CLS] pieces [SEP]`, padded), W words (padded), N = 49 visual blocks,
d the text hidden size, Y the MNER tags, Z = 3 span tags.
"""

import inspect
import re
from dataclasses import dataclass
from pathlib import Path

import timm
import torch
from huggingface_hub import create_repo, upload_folder
from torch import nn
from transformers import AutoConfig, AutoModel, PreTrainedModel
from transformers import initialization as init
from transformers.dynamic_module_utils import get_relative_import_files
from transformers.models.auto.modeling_auto import MODEL_MAPPING
from transformers.utils import ModelOutput, logging

from configuration_umt.configuration_umt import UMTConfig

from .crf import LinearChainCRF
from .cross_modal import CrossModalTransformerLayer, MultimodalInteraction

#: `auto_map` written into every saved config, so `trust_remote_code=True` finds the classes in the folder.
REMOTE_AUTO_MAP = {
    "AutoConfig": "configuration_umt.UMTConfig",
    "AutoModel": "modeling_umt.UMTForMultimodalNER",
    "AutoModelForTokenClassification": "modeling_umt.UMTForMultimodalNER",
}
# `from configuration_umt.configuration_umt import X` -> `from .configuration_umt import X` in the saved copy.
_PROJECT_IMPORT = re.compile(r"^from (?:configuration_umt|modeling_umt|processing_umt)\.(\w+) import", re.MULTILINE)


@dataclass
class UMTModelOutput(ModelOutput):
    """
    Args:
        last_hidden_state: H = [A; B], (B, L, 2d); for the text-only BERT-CRF the encoder output C, (B, L, d).
        span_hidden_state: T of the ESD branch, (B, L, d), when the model has one.
        visual_gate: g of Eq. 3, (B, L, d), when asked for (`output_visual_gate=True`).
        image_text_attentions: P's image blocks over words, (B, m, N, L), when `output_attentions=True`.
        coupled_attentions: A's words over P, (B, m, L, N), when `output_attentions=True`.
        text_image_attentions: Q's words over image blocks, (B, m, L, N), when `output_attentions=True`.
    """

    last_hidden_state: torch.FloatTensor | None = None
    span_hidden_state: torch.FloatTensor | None = None
    visual_gate: torch.FloatTensor | None = None
    image_text_attentions: torch.FloatTensor | None = None
    coupled_attentions: torch.FloatTensor | None = None
    text_image_attentions: torch.FloatTensor | None = None


@dataclass
class UMTTokenClassifierOutput(ModelOutput):
    """
    Args:
        loss: NLL_MNER + lambda * NLL_ESD averaged over the batch, when `labels` are given.
        mner_loss / esd_loss: the two negative log-likelihoods (batch means).
        logits: MNER emissions per word after the conversion matrix (Eq. 7), (B, W, Y).
        predicted_tags: Viterbi tags of the MNER CRF, (B, W) long, -100 on padding words; computed in eval mode.
        esd_logits: ESD emissions per word, (B, W, 3), when the model has an ESD branch.
        marginals: P(y_i = t) from the MNER CRF (forward-backward), (B, W, Y), when `output_marginals=True`.
        visual_gate, image_text_attentions, coupled_attentions, text_image_attentions: as in `UMTModelOutput`.
    """

    loss: torch.FloatTensor | None = None
    mner_loss: torch.FloatTensor | None = None
    esd_loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    predicted_tags: torch.LongTensor | None = None
    esd_logits: torch.FloatTensor | None = None
    marginals: torch.FloatTensor | None = None
    visual_gate: torch.FloatTensor | None = None
    image_text_attentions: torch.FloatTensor | None = None
    coupled_attentions: torch.FloatTensor | None = None
    text_image_attentions: torch.FloatTensor | None = None


def _text_encoder_kwargs(text_config) -> dict:
    """Build BERT-family encoders without their unused pooler when the class allows it."""
    encoder_class = MODEL_MAPPING[type(text_config)]
    return {"add_pooling_layer": False} if "add_pooling_layer" in inspect.signature(encoder_class.__init__).parameters else {}


def build_vision_backbone(config: UMTConfig, pretrained: bool = False, weights_file: str | None = None) -> nn.Module:
    """The timm CNN without pooling and classifier (its `forward_features` gives (B, F, 7, 7)), frozen.

    `pretrained=True` loads the backbone's weights: from `weights_file` if given, else from the Hub.
    """
    overlay = {"file": str(weights_file)} if weights_file is not None else None
    backbone = timm.create_model(
        config.vision_backbone, pretrained=pretrained, num_classes=0, global_pool="", pretrained_cfg_overlay=overlay
    )
    if backbone.num_features != config.vision_feature_size:
        raise ValueError(
            f"The vision backbone {config.vision_backbone!r} gives {backbone.num_features}-channel feature maps, but "
            f"the config's vision_feature_size is {config.vision_feature_size}: set vision_feature_size="
            f"{backbone.num_features} (UMTForMultimodalNER.from_text_vision_pretrained and umt-train do so from the "
            "backbone's name)."
        )
    backbone.requires_grad_(False)
    return backbone.eval()


def vision_feature_size_of(vision_backbone: str) -> int:
    """Channels of a timm backbone's last feature map, read from the architecture built on the meta device (no
    weights are made or loaded)."""
    with torch.device("meta"):
        return timm.create_model(vision_backbone, pretrained=False, num_classes=0, global_pool="").num_features


class UMTPreTrainedModel(PreTrainedModel):
    """Weight initialisation, loading and saving (with the code `trust_remote_code=True` needs)."""

    config_class = UMTConfig
    base_model_prefix = "umt"
    main_input_name = "input_ids"
    # The loss is a batch mean of CRF NLLs: Trainer must not rescale it by a token count.
    accepts_loss_kwargs = False

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, (nn.Conv2d, nn.BatchNorm2d)):
            return  # the timm backbone keeps its own initialisation (or its pretrained weights)
        if isinstance(module, LinearChainCRF):
            for parameter in (module.transitions, module.start_transitions, module.end_transitions):
                init.uniform_(parameter, -0.1, 0.1)
            return
        super()._init_weights(module)
        if isinstance(module, UMTForMultimodalNER) and module.conversion_matrix is not None:
            init.copy_(module.conversion_matrix, torch.tensor(self.config.conversion_matrix()))

    def save_pretrained(self, save_directory: str | Path, *args, push_to_hub: bool = False, **kwargs) -> None:
        """`PreTrainedModel.save_pretrained`, plus the model's source files (flattened, imports made relative) and
        an `auto_map`, so that `AutoModel.from_pretrained(folder, trust_remote_code=True)` works where this
        project is not installed. With `push_to_hub=True` the folder is then uploaded to `repo_id`."""
        self.config.auto_map = dict(REMOTE_AUTO_MAP)
        hub_kwargs = {name: kwargs.pop(name) for name in ("repo_id", "commit_message", "private", "token", "create_pr") if name in kwargs}
        super().save_pretrained(save_directory, *args, **kwargs)
        write_remote_code(save_directory)
        if push_to_hub:
            repo_id = hub_kwargs.get("repo_id", Path(save_directory).name)
            repo = create_repo(repo_id, private=hub_kwargs.get("private"), token=hub_kwargs.get("token"), exist_ok=True)
            upload_folder(
                repo_id=repo.repo_id,
                folder_path=save_directory,
                commit_message=hub_kwargs.get("commit_message", "Upload UMT model"),
                token=hub_kwargs.get("token"),
                create_pr=hub_kwargs.get("create_pr", False),
            )


def write_remote_code(folder: str | Path) -> list[Path]:
    """Copy the files defining `UMTConfig` and the models into `folder`, flat, with the project's absolute
    imports rewritten to relative ones. Returns the written paths."""
    modeling_file = Path(inspect.getfile(UMTForMultimodalNER))
    sources = [Path(inspect.getfile(UMTConfig)), modeling_file, *map(Path, get_relative_import_files(modeling_file))]
    written = []
    for source in dict.fromkeys(sources):
        target = Path(folder) / source.name
        target.write_text(_PROJECT_IMPORT.sub(r"from .\1 import", source.read_text(encoding="utf-8")), encoding="utf-8")
        written.append(target)
    return written


class UMTModel(UMTPreTrainedModel):
    """The UMT encoder: BERT (C), the MNER text layer (R), the frozen ResNet (U) with the multimodal
    interaction module (H = [A; B]), and the ESD text layer (T). For the text-only BERT-CRF it is the
    BERT encoder alone (H = C)."""

    def __init__(self, config: UMTConfig):
        super().__init__(config)
        text_config = config.text_config
        self.text_encoder = AutoModel.from_config(text_config, **_text_encoder_kwargs(text_config))
        layer_kwargs = {
            "intermediate_size": text_config.intermediate_size,
            "hidden_act": text_config.hidden_act,
            "hidden_dropout": config.hidden_dropout_prob,
            "attention_dropout": config.attention_dropout_prob,
            "layer_norm_eps": text_config.layer_norm_eps,
        }
        text_layer_kwargs = {"num_heads": text_config.num_attention_heads, **layer_kwargs}
        hidden_size = config.text_hidden_size
        self.vision_backbone = build_vision_backbone(config) if config.use_image else None
        self.text_layer = CrossModalTransformerLayer(hidden_size, **text_layer_kwargs) if config.use_image else None
        self.multimodal_interaction = (
            MultimodalInteraction(
                hidden_size,
                config.vision_feature_size,
                {"num_heads": config.num_cross_attention_heads, **layer_kwargs},
                config.use_image_aware_word_representations,
                config.use_visual_gate,
            )
            if config.use_image
            else None
        )
        self.span_text_layer = CrossModalTransformerLayer(hidden_size, **text_layer_kwargs) if config.use_esd else None
        self.post_init()

    def train(self, mode: bool = True) -> "UMTModel":
        """Train mode for everything but the ResNet, which stays frozen: eval mode (BatchNorm statistics never
        change) and no gradient. Re-applied on every `train()`/`eval()` because loading replaces parameters."""
        super().train(mode)
        if self.vision_backbone is not None:
            self.vision_backbone.eval().requires_grad_(False)
        return self

    @torch.no_grad()
    def get_image_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Frozen ResNet features U: (B, 3, H, W) pixels -> (B, N, F) blocks (last conv map, row-major)."""
        if self.vision_backbone is None:
            raise ValueError(f"This UMT model (variant {self.config.variant!r}) has no image branch.")
        if pixel_values.dim() != 4 or pixel_values.size(1) != 3:
            raise ValueError(f"pixel_values must be (batch, 3, height, width), got {tuple(pixel_values.shape)}.")
        backbone_dtype = next(self.vision_backbone.parameters()).dtype
        feature_map = self.vision_backbone.forward_features(pixel_values.to(backbone_dtype))
        expected = (self.config.vision_feature_size, self.config.vision_grid_size, self.config.vision_grid_size)
        if tuple(feature_map.shape[1:]) != expected:
            raise ValueError(
                f"The vision backbone gave a {tuple(feature_map.shape[1:])} map for pixel_values of shape "
                f"{tuple(pixel_values.shape)}; the model expects {expected}: give {self.config.image_size}x"
                f"{self.config.image_size} images (the processor resizes them)."
            )
        return feature_map.flatten(2).transpose(1, 2)

    def _visual_blocks(
        self,
        batch_size: int,
        pixel_values: torch.Tensor | None,
        image_features: torch.Tensor | None,
        has_image: torch.Tensor | None,
        device: torch.device,
        dtype: torch.dtype,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """U for the batch, (B, N, F), zero for posts without image, and the has-image flags (B,) bool."""
        if pixel_values is not None and image_features is not None:
            raise ValueError("Give either pixel_values or image_features (precomputed backbone features), not both.")
        given = pixel_values if pixel_values is not None else image_features
        if has_image is None:
            has_image = torch.full((batch_size,), given is not None, dtype=torch.bool, device=device)
        if has_image.shape != (batch_size,):
            raise ValueError(f"has_image must have shape ({batch_size},), one flag per post; got {tuple(has_image.shape)}.")
        has_image = has_image.to(device=device, dtype=torch.bool)
        blocks = torch.zeros(batch_size, self.config.num_visual_blocks, self.config.vision_feature_size, device=device, dtype=dtype)
        if given is None:
            if has_image.any():
                raise ValueError("has_image marks posts with an image, but neither pixel_values nor image_features was given.")
            return blocks, has_image
        if given.size(0) != batch_size:
            raise ValueError(f"{'pixel_values' if pixel_values is not None else 'image_features'} has {given.size(0)} rows for {batch_size} posts.")
        if image_features is not None:
            expected = (batch_size, self.config.num_visual_blocks, self.config.vision_feature_size)
            if tuple(image_features.shape) != expected:
                raise ValueError(
                    f"image_features must be (batch, {expected[1]}, {expected[2]}) backbone features of "
                    f"{self.config.vision_backbone}; got {tuple(image_features.shape)}."
                )
        if has_image.any():
            features = self.get_image_features(pixel_values[has_image]) if pixel_values is not None else image_features[has_image]
            blocks[has_image] = features.to(dtype)
        return blocks, has_image

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        pixel_values: torch.Tensor | None = None,
        image_features: torch.Tensor | None = None,
        has_image: torch.Tensor | None = None,
        output_attentions: bool = False,
        output_visual_gate: bool = False,
    ) -> UMTModelOutput:
        """
        Args:
            input_ids, attention_mask, token_type_ids: (B, L) word pieces of `[CLS] post [SEP]`.
            pixel_values: (B, 3, 224, 224) normalised images, or
            image_features: (B, 49, 2048) precomputed backbone features.
            has_image: (B,) 1 for posts with an image; their image slot is ignored otherwise.
        """
        if input_ids.dim() != 2:
            raise ValueError(f"input_ids must be (batch, pieces), got {tuple(input_ids.shape)}.")
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if attention_mask.shape != input_ids.shape:
            raise ValueError(f"attention_mask {tuple(attention_mask.shape)} does not match input_ids {tuple(input_ids.shape)}.")
        encoder_inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            encoder_inputs["token_type_ids"] = token_type_ids
        text = self.text_encoder(**encoder_inputs).last_hidden_state  # C
        text_mask = attention_mask.bool()
        span_states = self.span_text_layer(text, text, text_mask)[0] if self.span_text_layer is not None else None  # T
        if self.multimodal_interaction is None:
            if pixel_values is not None or image_features is not None:
                raise ValueError(f"This UMT model (variant {self.config.variant!r}) has no image branch; do not pass images.")
            return UMTModelOutput(last_hidden_state=text, span_hidden_state=span_states)
        blocks, has_image = self._visual_blocks(input_ids.size(0), pixel_values, image_features, has_image, text.device, text.dtype)
        text_states = self.text_layer(text, text, text_mask)[0]  # R
        interaction = self.multimodal_interaction(text_states, text_mask, blocks, has_image, output_attentions)
        return UMTModelOutput(
            last_hidden_state=interaction.hidden_states,
            span_hidden_state=span_states,
            visual_gate=interaction.visual_gate if output_visual_gate else None,
            image_text_attentions=interaction.image_text_attentions,
            coupled_attentions=interaction.coupled_attentions,
            text_image_attentions=interaction.text_image_attentions,
        )


class UMTForMultimodalNER(UMTPreTrainedModel):
    """UMT with its taggers: MNER emissions over H (Eq. 6), ESD emissions over T, the conversion matrix
    (Eq. 7), and two linear-chain CRFs. Loss L = NLL_MNER + lambda * NLL_ESD (Sec. 2.5); prediction is
    Viterbi decoding of the MNER CRF. Positions are words (each word's first piece), not pieces."""

    def __init__(self, config: UMTConfig):
        super().__init__(config)
        self.umt = UMTModel(config)
        hidden_size = config.text_hidden_size
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.classifier = nn.Linear(2 * hidden_size if config.use_image else hidden_size, len(config.labels))
        self.crf = LinearChainCRF(len(config.labels))
        self.span_classifier = nn.Linear(hidden_size, len(config.span_labels)) if config.use_esd else None
        self.span_crf = LinearChainCRF(len(config.span_labels)) if config.use_esd else None
        # Wc, (Z, Y): a parameter when it trains, a (saved) buffer when it stays fixed.
        conversion_matrix = torch.tensor(config.conversion_matrix()) if config.use_conversion_matrix else None
        if config.train_conversion_matrix:
            self.conversion_matrix = nn.Parameter(conversion_matrix)
        else:
            self.register_buffer("conversion_matrix", conversion_matrix)
        self.post_init()

    @classmethod
    def from_text_vision_pretrained(
        cls,
        text_model_name_or_path: str | Path,
        vision_backbone: str | None = None,
        vision_weights_file: str | Path | None = None,
        **config_kwargs,
    ) -> "UMTForMultimodalNER":
        """Build a model from pretrained parts: a text encoder (Hub id or folder) and a timm backbone.

        The backbone's weights come from `vision_weights_file` (a timm/torchvision state dict file) if given,
        else from the Hub when `load_pretrained_vision_weights` (default True), else stay random. The UMT
        layers, classifiers and CRFs are initialised randomly. `config_kwargs` go to `UMTConfig`
        (`variant=`, `id2label=`, ...); with `vision_backbone`, `vision_feature_size` defaults to that backbone's
        channel count.
        """
        text_config = AutoConfig.from_pretrained(text_model_name_or_path)
        if vision_backbone is not None:
            config_kwargs["vision_backbone"] = vision_backbone
            config_kwargs.setdefault("vision_feature_size", vision_feature_size_of(vision_backbone))
        config = UMTConfig(text_config=text_config, **config_kwargs)
        model = cls(config)
        verbosity = logging.get_verbosity()
        logging.set_verbosity_error()  # the checkpoint's unused pooler is expected to be left out
        try:
            text_encoder, loading_info = AutoModel.from_pretrained(
                text_model_name_or_path, output_loading_info=True, **_text_encoder_kwargs(text_config)
            )
        finally:
            logging.set_verbosity(verbosity)
        if loading_info["missing_keys"]:
            raise ValueError(
                f"{text_model_name_or_path} has no weights for {sorted(loading_info['missing_keys'])[:5]}...: "
                "is it a BERT-family encoder checkpoint?"
            )
        model.umt.text_encoder.load_state_dict(text_encoder.state_dict())
        if config.use_image and (vision_weights_file is not None or config.load_pretrained_vision_weights):
            pretrained = build_vision_backbone(config, pretrained=True, weights_file=vision_weights_file)
            model.umt.vision_backbone.load_state_dict(pretrained.state_dict())
        return model

    def get_image_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Frozen backbone features, (B, 3, H, W) -> (B, 49, 2048); see `UMTModel.get_image_features`."""
        return self.umt.get_image_features(pixel_values)

    def _word_mask(self, first_piece_index: torch.Tensor, num_pieces: int, batch_size: int) -> torch.Tensor:
        if first_piece_index.dim() != 2 or first_piece_index.size(0) != batch_size:
            raise ValueError(f"first_piece_index must be (batch={batch_size}, words), got {tuple(first_piece_index.shape)}.")
        if bool(((first_piece_index < -1) | (first_piece_index >= num_pieces)).any()):
            raise ValueError(f"first_piece_index values must be piece positions in [0, {num_pieces}) or -1 for padding words.")
        word_mask = first_piece_index >= 0
        if word_mask.size(1) > 1 and bool((word_mask[:, 1:] & ~word_mask[:, :-1]).any()):
            raise ValueError("first_piece_index must list a post's words first and pad with -1 after them.")
        return word_mask

    def _check_labels(self, labels: torch.Tensor, word_mask: torch.Tensor) -> None:
        if labels.shape != word_mask.shape:
            raise ValueError(f"labels {tuple(labels.shape)} must have the shape of first_piece_index {tuple(word_mask.shape)}.")
        num_labels = len(self.config.labels)
        bad = word_mask & ((labels < 0) | (labels >= num_labels))
        if bool(bad.any()):
            post, word = (int(i) for i in bad.nonzero()[0])
            raise ValueError(
                f"labels[{post}, {word}] = {int(labels[post, word])} is not a tag id in [0, {num_labels}); every real word "
                "needs a tag for the CRF (-100 is only for padding words)."
            )

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        first_piece_index: torch.Tensor | None = None,
        pixel_values: torch.Tensor | None = None,
        image_features: torch.Tensor | None = None,
        has_image: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_attentions: bool = False,
        output_visual_gate: bool = False,
        output_marginals: bool = False,
    ) -> UMTTokenClassifierOutput:
        """
        Args:
            input_ids, attention_mask, token_type_ids: (B, L) word pieces.
            first_piece_index: (B, W) position of each word's first piece, -1 for padding words.
            pixel_values: (B, 3, 224, 224), or image_features: (B, 49, 2048); has_image: (B,).
            labels: (B, W) MNER tag ids, -100 on padding words.
        """
        if first_piece_index is None:
            raise ValueError("first_piece_index is required: the word positions the CRFs tag (UMTProcessor returns it).")
        word_mask = self._word_mask(first_piece_index, input_ids.size(1), input_ids.size(0))
        if labels is not None:
            self._check_labels(labels, word_mask)
        outputs = self.umt(
            input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            pixel_values=pixel_values,
            image_features=image_features,
            has_image=has_image,
            output_attentions=output_attentions,
            output_visual_gate=output_visual_gate,
        )
        gather_index = first_piece_index.clamp(min=0).unsqueeze(-1)

        def words(states: torch.Tensor) -> torch.Tensor:
            """(B, L, D) piece states -> (B, W, D) first-piece states."""
            return states.gather(1, gather_index.expand(-1, -1, states.size(-1)))

        logits = self.classifier(self.dropout(words(outputs.last_hidden_state)))
        esd_logits = None
        if self.span_classifier is not None:
            esd_logits = self.span_classifier(self.dropout(words(outputs.span_hidden_state)))
            if self.conversion_matrix is not None:
                weight = self.config.conversion_weight
                logits = (1 - weight) * logits + weight * esd_logits @ self.conversion_matrix.to(esd_logits.dtype)

        loss = mner_loss = esd_loss = None
        if labels is not None:
            gold = torch.where(word_mask, labels, torch.zeros_like(labels))
            mner_loss = -self.crf.log_likelihood(logits, gold, word_mask).mean()
            loss = mner_loss
            if self.span_crf is not None:
                span_of_tag = torch.tensor(self.config.span_label_ids(), device=gold.device)
                esd_loss = -self.span_crf.log_likelihood(esd_logits, span_of_tag[gold], word_mask).mean()
                loss = mner_loss + self.config.esd_loss_weight * esd_loss

        return UMTTokenClassifierOutput(
            loss=loss,
            mner_loss=mner_loss,
            esd_loss=esd_loss,
            logits=logits,
            predicted_tags=None if self.training else self.crf.decode(logits, word_mask),
            esd_logits=esd_logits,
            marginals=self.crf.marginals(logits, word_mask) if output_marginals else None,
            visual_gate=outputs.visual_gate,
            image_text_attentions=outputs.image_text_attentions,
            coupled_attentions=outputs.coupled_attentions,
            text_image_attentions=outputs.text_image_attentions,
        )


__all__ = [
    "UMTPreTrainedModel",
    "UMTModel",
    "UMTForMultimodalNER",
    "UMTModelOutput",
    "UMTTokenClassifierOutput",
    "write_remote_code",
    "build_vision_backbone",
]
