"""Cross-modal Transformer layers and the multimodal interaction module of UMT (paper Sec. 2.3, spec 4-5).

Shapes: B posts, L word pieces, N = 49 visual blocks, d the text hidden size, m attention heads.
"""

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from transformers.activations import ACT2FN


class MultiHeadCrossAttention(nn.Module):
    """m-head attention with queries from one sequence and keys/values from another (MH-CA in Sec. 2.3.1).

    A query whose key mask is all False (e.g. a word of a post without image attending to image blocks)
    gets a zero context and zero attention weights instead of a softmax over nothing.
    """

    def __init__(self, hidden_size: int, num_heads: int, attention_dropout: float):
        super().__init__()
        if hidden_size % num_heads:
            raise ValueError(f"hidden size {hidden_size} is not a multiple of the number of heads {num_heads}.")
        self.num_heads = num_heads
        self.head_size = hidden_size // num_heads
        self.query = nn.Linear(hidden_size, hidden_size)
        self.key = nn.Linear(hidden_size, hidden_size)
        self.value = nn.Linear(hidden_size, hidden_size)
        self.attention_dropout = attention_dropout

    def _split_heads(self, states: torch.Tensor) -> torch.Tensor:
        """(B, S, d) -> (B, m, S, d/m)"""
        batch_size, length, _ = states.shape
        return states.view(batch_size, length, self.num_heads, self.head_size).transpose(1, 2)

    def forward(
        self, queries: torch.Tensor, keys_values: torch.Tensor, key_mask: torch.Tensor, output_attentions: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """
        Args:
            queries: (B, Lq, d); keys_values: (B, Lk, d); key_mask: (B, Lk) bool, True where a key may be attended.
        Returns:
            the context (B, Lq, d) and, if `output_attentions`, the attention weights (B, m, Lq, Lk).
        """
        has_keys = key_mask.any(dim=1)
        if not has_keys.any():  # e.g. a batch without any image: nothing to attend to, nothing to compute
            weights = queries.new_zeros(*queries.shape[:2], self.num_heads, keys_values.size(1)).transpose(1, 2)
            return torch.zeros_like(queries), weights if output_attentions else None
        # Rows with no key at all attend uniformly (finite), and their result is zeroed below.
        allowed = (key_mask | ~has_keys[:, None])[:, None, None, :]
        query, key, value = self._split_heads(self.query(queries)), self._split_heads(self.key(keys_values)), self._split_heads(self.value(keys_values))
        dropout = self.attention_dropout if self.training else 0.0
        keep = has_keys.to(query.dtype)[:, None, None, None]
        if output_attentions:
            scores = query @ key.transpose(-1, -2) / self.head_size**0.5
            weights = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min).softmax(dim=-1) * keep
            context = F.dropout(weights, dropout, self.training) @ value
        else:
            weights = None
            context = F.scaled_dot_product_attention(query, key, value, attn_mask=allowed, dropout_p=dropout) * keep
        batch_size, _, query_length, _ = context.shape
        return context.transpose(1, 2).reshape(batch_size, query_length, -1), weights


class CrossModalTransformerLayer(nn.Module):
    """The cross-modal Transformer (CMT) layer, Eq. 1-2:
    P~ = LN(X + MH-CA(X, Y)),  P = LN(P~ + FFN(P~)).

    With the same sequence as queries and keys/values it is a standard (post-LN, BERT) Transformer layer,
    which is how UMT's two text layers R and T are built.
    """

    def __init__(
        self,
        hidden_size: int,
        num_heads: int,
        intermediate_size: int,
        hidden_act: str,
        hidden_dropout: float,
        attention_dropout: float,
        layer_norm_eps: float,
    ):
        super().__init__()
        self.attention = MultiHeadCrossAttention(hidden_size, num_heads, attention_dropout)
        self.attention_output = nn.Linear(hidden_size, hidden_size)  # W' of MH-CA
        self.attention_norm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.intermediate = nn.Linear(hidden_size, intermediate_size)
        self.activation = ACT2FN[hidden_act]
        self.output = nn.Linear(intermediate_size, hidden_size)
        self.output_norm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.dropout = nn.Dropout(hidden_dropout)

    def forward(
        self, queries: torch.Tensor, keys_values: torch.Tensor, key_mask: torch.Tensor, output_attentions: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(B, Lq, d), (B, Lk, d), (B, Lk) -> (B, Lq, d) and optional weights (B, m, Lq, Lk)."""
        context, weights = self.attention(queries, keys_values, key_mask, output_attentions)
        attended = self.attention_norm(queries + self.dropout(self.attention_output(context)))
        feed_forward = self.output(self.activation(self.intermediate(attended)))
        return self.output_norm(attended + self.dropout(feed_forward)), weights


@dataclass
class MultimodalInteractionOutput:
    """H = [A; B] (B, L, 2d), the gate g (B, L, d) or None, and the attention weights when asked for:
    P's image-over-words (B, m, N, L), A's words-over-P (B, m, L, N), Q's words-over-image (B, m, L, N)."""

    hidden_states: torch.Tensor
    visual_gate: torch.Tensor | None
    image_text_attentions: torch.Tensor | None = None
    coupled_attentions: torch.Tensor | None = None
    text_image_attentions: torch.Tensor | None = None


class MultimodalInteraction(nn.Module):
    """The multimodal interaction (MMI) module (Sec. 2.3.1-2.3.2, Fig. 2.b).

    - P = CMT(queries=V, kv=R): visual blocks that have read the words;
    - A = CMT(queries=R, kv=P): image-aware word representations (the coupled CMT layer);
    - Q = CMT(queries=R, kv=V'): word-aware visual representations;
    - g = sigmoid(W [A; Q]) (Eq. 3, one linear over the concatenation), B = g * Q, H = [A; B].

    V and V' are two separate linear projections of the ResNet blocks U to d (as in the public code).
    Ablations: without image-aware word representations A is R (no P, no coupled layer); without the
    visual gate B = Q.
    """

    def __init__(
        self,
        hidden_size: int,
        vision_feature_size: int,
        layer_kwargs: dict,
        use_image_aware_word_representations: bool,
        use_visual_gate: bool,
    ):
        super().__init__()
        self.text_image_projection = nn.Linear(vision_feature_size, hidden_size)
        self.text_image_layer = CrossModalTransformerLayer(hidden_size, **layer_kwargs)
        if use_image_aware_word_representations:
            self.image_text_projection = nn.Linear(vision_feature_size, hidden_size)
            self.image_text_layer = CrossModalTransformerLayer(hidden_size, **layer_kwargs)
            self.coupled_layer = CrossModalTransformerLayer(hidden_size, **layer_kwargs)
        else:
            self.image_text_projection = self.image_text_layer = self.coupled_layer = None
        self.visual_gate = nn.Linear(2 * hidden_size, hidden_size) if use_visual_gate else None

    def forward(
        self,
        text_states: torch.Tensor,
        text_mask: torch.Tensor,
        image_features: torch.Tensor,
        has_image: torch.Tensor,
        output_attentions: bool = False,
    ) -> MultimodalInteractionOutput:
        """
        Args:
            text_states: R, (B, L, d).
            text_mask: (B, L) bool, True on real pieces.
            image_features: U, (B, N, vision_feature_size); rows of posts without image are ignored.
            has_image: (B,) bool.
        """
        block_mask = has_image[:, None].expand(-1, image_features.size(1))
        visual = self.text_image_projection(image_features)
        word_aware_visual, text_image_attentions = self.text_image_layer(text_states, visual, block_mask, output_attentions)
        image_text_attentions = coupled_attentions = None
        if self.coupled_layer is not None:
            if has_image.any():
                visual_queries = self.image_text_projection(image_features)
                blocks_after_words, image_text_attentions = self.image_text_layer(visual_queries, text_states, text_mask, output_attentions)
            else:  # no post has an image: P is never attended to, skip computing it
                blocks_after_words = visual
            image_aware_words, coupled_attentions = self.coupled_layer(text_states, blocks_after_words, block_mask, output_attentions)
        else:
            image_aware_words = text_states
        gate = None
        if self.visual_gate is not None:
            gate = torch.sigmoid(self.visual_gate(torch.cat([image_aware_words, word_aware_visual], dim=-1)))
            word_aware_visual = gate * word_aware_visual
        return MultimodalInteractionOutput(
            hidden_states=torch.cat([image_aware_words, word_aware_visual], dim=-1),
            visual_gate=gate,
            image_text_attentions=image_text_attentions,
            coupled_attentions=coupled_attentions,
            text_image_attentions=text_image_attentions,
        )
