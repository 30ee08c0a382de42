"""BERT for masked-language modelling, in one readable file.

The module tree and attribute names mirror transformers' modeling_bert.py so that state-dict keys
are identical (`bert.embeddings.word_embeddings.weight`, CamelCase `LayerNorm`,
`bert.encoder.layer.N.attention.self.query.weight`, `cls.predictions.decoder.weight`, ...):
checkpoints move between this file and `transformers.BertForMaskedLM` in both directions
(see checkpoint.py). The numbers are the same too (fp32, eval mode: within 1e-5).

What is different from transformers, on purpose:
- Attention goes through F.scaled_dot_product_attention; the additive padding mask is built once
  per forward and skipped entirely when nothing is padded. An explicit math path runs only when
  attention weights are requested, a head_mask is given, or for attention dropout on the CPU
  (where SDPA itself falls back to the same math).
- Training fast path: BertForMaskedLM in training mode with labels runs the MLM head (and its
  vocab-sized decoder, the largest matmul of a small model) only at labelled positions, and the
  last layer's attention output + FFN only there too (every position still serves as key/value).
- Dropout on the CPU draws its mask from a cheaper generator (_CPUDropout); CUDA uses F.dropout.
- Default position and token-type embeddings are broadcast slices, not gathers.
- A batch with no labelled position gets loss 0 (transformers returns NaN).
"""

from __future__ import annotations

import math
from functools import partial
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .config import BertConfig

IGNORE_INDEX = -100  # label value that the MLM loss skips

ACT2FN = {
    "gelu": F.gelu,  # exact (erf) GELU, transformers' "gelu"
    "gelu_new": partial(F.gelu, approximate="tanh"),
    "gelu_pytorch_tanh": partial(F.gelu, approximate="tanh"),
    "gelu_fast": partial(F.gelu, approximate="tanh"),
    "relu": F.relu,
    "silu": F.silu,
    "swish": F.silu,
    "tanh": torch.tanh,
}


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """F.dropout, except on the CPU where the keep-mask comes from _CPUDropout (same law, cheaper)."""
    if not training or p == 0.0:
        return x
    if x.device.type == "cpu" and round(p * 65536) < 65536:
        return _CPUDropout.apply(x, p)
    return F.dropout(x, p, True)


class _CPUDropout(torch.autograd.Function):
    """Dropout with a keep-mask cut from 64-bit random words: each int64 drawn over its full range
    gives four uniform int16 lanes, and a lane is kept when it clears a threshold. On a 2-core CPU
    this is ~5x cheaper than the bernoulli_ behind F.dropout, whose mask generation was ~10% of a
    small-model training step. p is rounded to a multiple of 1/65536 and the scale is
    1/(1 - rounded p), so E[out] = x exactly. Seeded by torch.manual_seed like any torch RNG (the
    draws differ from F.dropout's)."""

    @staticmethod
    def forward(ctx, x, p):
        n = x.numel()
        words = torch.empty((n + 3) // 4, dtype=torch.int64, device=x.device).random_(
            -(2**63), None
        )
        threshold = round(p * 65536)
        keep = (words.view(torch.int16)[:n] >= threshold - 32768).view(
            x.shape
        )  # P = 1 - threshold/65536
        ctx.scale = 65536 / (65536 - threshold)
        ctx.save_for_backward(keep)
        return torch.where(keep, x, 0.0).mul_(ctx.scale)

    @staticmethod
    def backward(ctx, grad):
        (keep,) = ctx.saved_tensors
        return torch.where(keep, grad, 0.0).mul_(ctx.scale), None


class BertModelOutput(NamedTuple):
    last_hidden_state: torch.Tensor  # (B, L, hidden), the sequence_output
    pooler_output: torch.Tensor | None  # (B, hidden), tanh(dense([CLS])) or None without pooler
    hidden_states: tuple[torch.Tensor, ...] | None  # embeddings + each layer, each (B, L, hidden)
    attentions: tuple[torch.Tensor, ...] | None  # each layer's probabilities, (B, H, L, L)


class MaskedLMOutput(NamedTuple):
    loss: torch.Tensor | None  # scalar mean cross-entropy over labels != -100, or None
    prediction_scores: (
        torch.Tensor
    )  # (B, L, V) logits; (N, V) at the N labelled positions in the fast path
    hidden_states: tuple[torch.Tensor, ...] | None
    attentions: tuple[torch.Tensor, ...] | None

    @property
    def logits(self) -> torch.Tensor:
        return self.prediction_scores


# ------------------------------------------------------------------------------------------------
# embeddings


class BertEmbeddings(nn.Module):
    """word + absolute position + token type embeddings, summed, then LayerNorm and dropout."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(
            config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id
        )
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids=None, token_type_ids=None, position_ids=None, inputs_embeds=None):
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)  # (B, L, hidden)
        seq_len = inputs_embeds.shape[1]
        # the defaults are broadcast rows, (hidden,) and (L, hidden): same sums as a gather of
        # zeros / arange(L), without materialising (B, L, hidden) lookups
        if token_type_ids is None:
            token_type = self.token_type_embeddings.weight[0]
        else:
            token_type = self.token_type_embeddings(token_type_ids)
        if position_ids is None:
            position = self.position_embeddings.weight[:seq_len]
        else:
            position = self.position_embeddings(position_ids)
        embeddings = inputs_embeds + token_type + position
        return dropout(self.LayerNorm(embeddings), self.dropout.p, self.training)


# ------------------------------------------------------------------------------------------------
# one encoder block


class BertSelfAttention(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.num_attention_heads = config.num_attention_heads
        self.attention_head_size = config.hidden_size // config.num_attention_heads
        self.all_head_size = self.num_attention_heads * self.attention_head_size
        self.query = nn.Linear(config.hidden_size, self.all_head_size)
        self.key = nn.Linear(config.hidden_size, self.all_head_size)
        self.value = nn.Linear(config.hidden_size, self.all_head_size)
        self.dropout = nn.Dropout(config.attention_probs_dropout_prob)

    def transpose_for_scores(self, x: torch.Tensor) -> torch.Tensor:
        B, L, _ = x.shape
        return x.view(B, L, self.num_attention_heads, self.attention_head_size).transpose(
            1, 2
        )  # (B, H, L, D)

    def forward(self, hidden_states, attention_mask=None, head_mask=None, output_attentions=False):
        # attention_mask: additive, (B, 1, 1, L) with 0 = attend and a huge negative = padding, or None
        # head_mask: (1, H, 1, 1) multiplier on the probabilities, or None
        projections = (self.query, self.key, self.value)
        if all(type(m) is nn.Linear for m in projections):
            # one GEMM for Q, K and V, weights concatenated on the fly (the state-dict keys stay
            # query/key/value): fewer, larger kernels, 1.02-1.19x per training step on a busy
            # 2-core CPU. Replaced modules (adapters, quantised layers) take the plain path.
            weight = torch.cat([m.weight for m in projections])  # (3 * all_head_size, hidden)
            bias = torch.cat([m.bias for m in projections])
            qkv = F.linear(hidden_states, weight, bias).split(
                self.all_head_size, dim=-1
            )  # 3 x (B, L, H*D)
        else:
            qkv = [m(hidden_states) for m in projections]
        q, k, v = (self.transpose_for_scores(x) for x in qkv)  # each (B, H, L, D)
        p = self.dropout.p if self.training else 0.0
        if attention_mask is not None and attention_mask.dtype != q.dtype:  # under autocast
            attention_mask = attention_mask.to(q.dtype).clamp_(min=torch.finfo(q.dtype).min)
        probs = None
        # SDPA falls back to its own math kernel for dropout on the CPU; ours is the same math with
        # the cheaper CPU dropout, and also serves attention weights and head_mask
        if output_attentions or head_mask is not None or (p > 0 and q.device.type == "cpu"):
            scores = torch.matmul(q, k.transpose(-1, -2)).mul_(
                1.0 / math.sqrt(self.attention_head_size)
            )  # (B, H, L, L)
            if attention_mask is not None:
                scores = scores.add_(attention_mask)
            probs = dropout(F.softmax(scores, dim=-1), p, self.training)
            if head_mask is not None:
                probs = probs * head_mask
            context = torch.matmul(probs, v)  # (B, H, L, D)
        else:
            context = F.scaled_dot_product_attention(q, k, v, attn_mask=attention_mask, dropout_p=p)
        B, H, L, D = context.shape
        context = context.transpose(1, 2).reshape(B, L, H * D)  # (B, L, hidden): heads concatenated
        return context, (probs if output_attentions else None)


class BertSelfOutput(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states, input_tensor):
        return self.LayerNorm(
            dropout(self.dense(hidden_states), self.dropout.p, self.training) + input_tensor
        )


class BertAttention(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.self = BertSelfAttention(config)
        self.output = BertSelfOutput(config)

    def forward(
        self,
        hidden_states,
        attention_mask=None,
        head_mask=None,
        output_attentions=False,
        output_positions=None,
    ):
        context, probs = self.self(hidden_states, attention_mask, head_mask, output_attentions)
        if output_positions is not None:  # (B, L) bool: keep only these rows from here on
            context, hidden_states = (
                context[output_positions],
                hidden_states[output_positions],
            )  # (N, hidden)
        return self.output(context, hidden_states), probs


class BertIntermediate(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.intermediate_act_fn = ACT2FN[config.hidden_act]

    def forward(self, hidden_states):
        return self.intermediate_act_fn(self.dense(hidden_states))  # (B, L, intermediate)


class BertOutput(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states, input_tensor):
        return self.LayerNorm(
            dropout(self.dense(hidden_states), self.dropout.p, self.training) + input_tensor
        )


class BertLayer(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.attention = BertAttention(config)
        self.intermediate = BertIntermediate(config)
        self.output = BertOutput(config)

    def forward(
        self,
        hidden_states,
        attention_mask=None,
        head_mask=None,
        output_attentions=False,
        output_positions=None,
    ):
        """output_positions (B, L) bool: every position still serves as key/value, but the attention
        output, FFN and result are computed only at these positions: returns (N, hidden) rows."""
        attention_output, probs = self.attention(
            hidden_states, attention_mask, head_mask, output_attentions, output_positions
        )
        layer_output = self.output(self.intermediate(attention_output), attention_output)
        return layer_output, probs


class BertEncoder(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(config) for _ in range(config.num_hidden_layers)])

    def forward(
        self,
        hidden_states,
        attention_mask=None,
        head_mask=None,
        output_hidden_states=False,
        output_attentions=False,
        output_positions=None,
    ):
        """Returns (sequence_output, all_hidden_states or None, all_attentions or None).
        With output_positions (B, L) bool, the last layer (and sequence_output) has only those rows."""
        all_hidden = (hidden_states,) if output_hidden_states else None
        all_attn = () if output_attentions else None
        last = len(self.layer) - 1
        for i, layer in enumerate(self.layer):
            hidden_states, probs = layer(
                hidden_states,
                attention_mask,
                None if head_mask is None else head_mask[i],
                output_attentions,
                output_positions if i == last else None,
            )
            if output_hidden_states:
                all_hidden = all_hidden + (hidden_states,)
            if output_attentions:
                all_attn = all_attn + (probs,)
        return hidden_states, all_hidden, all_attn


class BertPooler(nn.Module):
    """[CLS] hidden state -> dense -> tanh."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = nn.Tanh()

    def forward(self, hidden_states):
        return self.activation(self.dense(hidden_states[:, 0]))  # (B, hidden)


# ------------------------------------------------------------------------------------------------
# MLM head


class BertPredictionHeadTransform(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.transform_act_fn = ACT2FN[config.hidden_act]
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden_states):
        return self.LayerNorm(self.transform_act_fn(self.dense(hidden_states)))


class BertLMPredictionHead(nn.Module):
    """dense + act + LayerNorm, then the decoder over the vocabulary (weight tied to the word embeddings)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.transform = BertPredictionHeadTransform(config)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size, bias=True)
        # output-only bias per token; decoder.bias is this same Parameter (keys match transformers)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))
        self.decoder.bias = self.bias

    def forward(self, hidden_states):
        return self.decoder(self.transform(hidden_states))  # (..., V)


class BertOnlyMLMHead(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.predictions = BertLMPredictionHead(config)

    def forward(self, sequence_output):
        return self.predictions(sequence_output)


# ------------------------------------------------------------------------------------------------
# models


class BertPreTrainedModel(nn.Module):
    """Shared init, checkpoint IO (checkpoint.py) and helpers of BertModel and BertForMaskedLM."""

    def __init__(self, config: BertConfig):
        super().__init__()
        if not isinstance(config, BertConfig):
            raise TypeError(f"config must be a bertmlm.BertConfig, got {type(config).__name__}")
        self.config = config

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.padding_idx is not None:
                module.weight[module.padding_idx].zero_()
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, BertLMPredictionHead):
            nn.init.zeros_(module.bias)

    def post_init(self) -> None:
        self.apply(self._init_weights)
        self.tie_weights()

    def tie_weights(self) -> None:
        """Share the MLM decoder weight with the word embeddings (no-op without an MLM head)."""

    def num_parameters(self, exclude_embeddings: bool = False) -> int:
        params = {id(p): p for p in self.parameters()}  # tied parameters counted once
        if exclude_embeddings:
            for m in self.modules():
                if isinstance(m, nn.Embedding):
                    params.pop(id(m.weight), None)
        return sum(p.numel() for p in params.values())

    def configure_optimizers(
        self,
        weight_decay: float,
        learning_rate: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-6,
        **adamw_kwargs,
    ) -> torch.optim.AdamW:
        """AdamW with weight decay on >= 2-D parameters only (matrices, embeddings), not biases/LayerNorm."""
        params = [p for p in self.parameters() if p.requires_grad]
        groups = [
            {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
        ]
        return torch.optim.AdamW(groups, lr=learning_rate, betas=betas, eps=eps, **adamw_kwargs)

    @classmethod
    def _build_for_checkpoint(cls, config: BertConfig, keys: set[str], **kwargs):
        return cls(config, **kwargs)

    @classmethod
    def from_pretrained(
        cls,
        directory,
        *,
        strict: bool = True,
        device=None,
        output_loading_info: bool = False,
        **kwargs,
    ):
        """Load a transformers-style directory; see checkpoint.from_pretrained."""
        from .checkpoint import from_pretrained

        return from_pretrained(
            cls,
            directory,
            strict=strict,
            device=device,
            output_loading_info=output_loading_info,
            **kwargs,
        )

    def save_pretrained(self, directory) -> None:
        """Write config.json + model.safetensors (atomically); transformers can load the directory."""
        from .checkpoint import save_pretrained

        save_pretrained(self, directory)


class BertModel(BertPreTrainedModel):
    """Embeddings + encoder (+ optional pooler). Returns BertModelOutput."""

    def __init__(self, config: BertConfig, add_pooling_layer: bool = True):
        super().__init__(config)
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(config)
        self.pooler = BertPooler(config) if add_pooling_layer else None
        self.post_init()

    @classmethod
    def _build_for_checkpoint(cls, config, keys, add_pooling_layer=None, **kwargs):
        # default: a pooler exactly when the checkpoint has pooler weights
        if add_pooling_layer is None:
            add_pooling_layer = any(k.startswith(("pooler.", "bert.pooler.")) for k in keys)
        return cls(config, add_pooling_layer=add_pooling_layer, **kwargs)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings.word_embeddings

    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        head_mask=None,
        inputs_embeds=None,
        output_hidden_states=False,
        output_attentions=False,
        *,
        output_positions=None,
    ):
        """
        input_ids (B, L) int, or inputs_embeds (B, L, hidden): exactly one of the two.
        attention_mask (B, L): 1/True = real token, 0/False = padding; default all ones.
        token_type_ids, position_ids (B, L): default zeros and arange(L).
        head_mask (H,) or (num_layers, H): 1 keeps a head, 0 silences it (uses the math path).
        output_positions (B, L) bool: only these rows of last_hidden_state are wanted; the last
            layer computes its post-attention part for them alone and last_hidden_state is
            (N, hidden) in row-major order (the MLM fast path). Needs no pooler and no
            output_hidden_states.
        """
        if output_positions is not None:
            if self.pooler is not None or output_hidden_states:
                raise ValueError(
                    "output_positions cannot be combined with a pooler or output_hidden_states"
                )
            if output_positions.dtype != torch.bool:
                raise TypeError(
                    f"output_positions must be a bool tensor, got {output_positions.dtype}"
                )
        _, device = _check_inputs(
            self.config,
            input_ids,
            inputs_embeds,
            attention_mask,
            token_type_ids,
            position_ids,
            output_positions,
        )
        embedding_output = self.embeddings(input_ids, token_type_ids, position_ids, inputs_embeds)
        dtype = embedding_output.dtype
        # additive mask, built once for all layers; None when nothing is padded (no mask at all)
        extended_mask = None
        if attention_mask is not None and not bool(attention_mask.all()):
            keep = attention_mask.to(torch.bool)[:, None, None, :]  # (B, 1, 1, L)
            extended_mask = torch.zeros(keep.shape, dtype=dtype, device=device).masked_fill_(
                ~keep, torch.finfo(dtype).min
            )
        head_mask = self._expand_head_mask(head_mask, dtype)
        sequence_output, all_hidden, all_attn = self.encoder(
            embedding_output,
            extended_mask,
            head_mask,
            output_hidden_states,
            output_attentions,
            output_positions,
        )
        pooled_output = self.pooler(sequence_output) if self.pooler is not None else None
        return BertModelOutput(sequence_output, pooled_output, all_hidden, all_attn)

    def _expand_head_mask(self, head_mask, dtype):
        """(H,) or (num_layers, H) -> num_layers x (1, H, 1, 1), or None."""
        if head_mask is None:
            return None
        n, H = self.config.num_hidden_layers, self.config.num_attention_heads
        head_mask = torch.as_tensor(
            head_mask, dtype=dtype, device=self.embeddings.word_embeddings.weight.device
        )
        if head_mask.shape == (H,):
            head_mask = head_mask.expand(n, H)
        if head_mask.shape != (n, H):
            raise ValueError(
                f"head_mask must have shape ({H},) or ({n}, {H}), got {tuple(head_mask.shape)}"
            )
        return head_mask[:, None, :, None, None]  # (num_layers, 1, H, 1, 1)


class BertForMaskedLM(BertPreTrainedModel):
    """BertModel without pooler + MLM head. Returns MaskedLMOutput.

    Training fast path: with `labels` in training mode (or `masked_only=True`), the MLM head runs
    only at the N positions where labels != -100 and `prediction_scores` is (N, V), row i being
    the i-th labelled position in row-major order, i.e. it lines up with labels[labels != -100].
    The last layer's post-attention half also runs only at those positions (unless
    output_hidden_states is asked for). In eval mode (or `masked_only=False`) prediction_scores is
    the full (B, L, V). The loss is the same either way (mean cross-entropy over labelled positions).
    """

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.bert = BertModel(config, add_pooling_layer=False)  # initialised by its own post_init
        self.cls = BertOnlyMLMHead(config)
        self.cls.apply(self._init_weights)
        self.tie_weights()

    def tie_weights(self) -> None:
        self.cls.predictions.decoder.weight = self.bert.embeddings.word_embeddings.weight
        self.cls.predictions.decoder.bias = self.cls.predictions.bias

    def get_input_embeddings(self) -> nn.Embedding:
        return self.bert.embeddings.word_embeddings

    def get_output_embeddings(self) -> nn.Linear:
        return self.cls.predictions.decoder

    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        head_mask=None,
        inputs_embeds=None,
        labels=None,
        output_hidden_states=False,
        output_attentions=False,
        masked_only: bool | None = None,
    ):
        """labels (B, L): target id at positions to predict, -100 elsewhere.
        masked_only: None = fast path when training with labels; True/False forces it on/off."""
        if masked_only is None:
            masked_only = self.training and labels is not None
        if masked_only and labels is None:
            raise ValueError(
                "masked_only=True needs labels (it keeps only positions where labels != -100)"
            )
        if labels is not None:
            shape = input_ids.shape if input_ids is not None else inputs_embeds.shape[:2]
            _check_labels(labels, shape, self.config.vocab_size)
        selected = labels != IGNORE_INDEX if masked_only else None  # (B, L) bool
        # fast path: the last layer's attention output + FFN and the MLM head run only at labelled
        # positions (hidden_states wants every row of every layer, so it keeps the full last layer)
        prune = selected if masked_only and not output_hidden_states else None
        outputs = self.bert(
            input_ids,
            attention_mask,
            token_type_ids,
            position_ids,
            head_mask,
            inputs_embeds,
            output_hidden_states,
            output_attentions,
            output_positions=prune,
        )
        sequence_output = outputs.last_hidden_state  # (B, L, hidden), or (N, hidden) when pruned

        loss = None
        if masked_only:
            targets = labels[selected]  # (N,)
            if prune is None:
                sequence_output = sequence_output[selected]  # (N, hidden)
            prediction_scores = self.cls(sequence_output)  # (N, V)
            loss = _mlm_loss(prediction_scores, targets)
        else:
            prediction_scores = self.cls(sequence_output)  # (B, L, V)
            if labels is not None:
                loss = _mlm_loss(
                    prediction_scores.view(-1, self.config.vocab_size), labels.reshape(-1)
                )
        return MaskedLMOutput(loss, prediction_scores, outputs.hidden_states, outputs.attentions)


def _mlm_loss(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over targets != -100; 0 (still in the graph) when there are none."""
    if targets.numel() == 0 or not bool((targets != IGNORE_INDEX).any()):
        return scores.sum() * 0.0
    return F.cross_entropy(scores, targets, ignore_index=IGNORE_INDEX)


# ------------------------------------------------------------------------------------------------
# input validation: clear errors instead of silent out-of-range gathers or CUDA device asserts


def _check_inputs(
    config,
    input_ids,
    inputs_embeds,
    attention_mask,
    token_type_ids,
    position_ids,
    output_positions=None,
):
    """Raises on inconsistent inputs; returns ((batch, seq_len), device)."""
    if (input_ids is None) == (inputs_embeds is None):
        raise ValueError("pass exactly one of input_ids or inputs_embeds")
    if input_ids is not None:
        if input_ids.dim() != 2:
            raise ValueError(
                f"input_ids must be (batch, seq_len), got shape {tuple(input_ids.shape)}; "
                "use input_ids[None] for a single sequence"
            )
        _check_ids("input_ids", input_ids, config.vocab_size, "vocab_size")
        shape, device = tuple(input_ids.shape), input_ids.device
    else:
        if inputs_embeds.dim() != 3 or inputs_embeds.shape[-1] != config.hidden_size:
            raise ValueError(
                f"inputs_embeds must be (batch, seq_len, {config.hidden_size}), "
                f"got shape {tuple(inputs_embeds.shape)}"
            )
        shape, device = tuple(inputs_embeds.shape[:2]), inputs_embeds.device
    B, L = shape
    if B == 0 or L == 0:
        raise ValueError(
            f"empty input of shape (batch, seq_len) = {shape}: need at least one token"
        )
    if L > config.max_position_embeddings:
        raise ValueError(
            f"sequence length {L} exceeds max_position_embeddings={config.max_position_embeddings}; "
            f"truncate the input to at most {config.max_position_embeddings} tokens"
        )
    for name, t in (
        ("attention_mask", attention_mask),
        ("token_type_ids", token_type_ids),
        ("position_ids", position_ids),
        ("output_positions", output_positions),
    ):
        if t is not None and tuple(t.shape) != shape:
            raise ValueError(
                f"{name} has shape {tuple(t.shape)} but the input is (batch, seq_len) = {shape}"
            )
    if token_type_ids is not None:
        _check_ids("token_type_ids", token_type_ids, config.type_vocab_size, "type_vocab_size")
    if position_ids is not None:
        _check_ids(
            "position_ids", position_ids, config.max_position_embeddings, "max_position_embeddings"
        )
    return shape, device


def _check_ids(name, ids, limit, limit_name):
    if ids.dtype.is_floating_point or ids.dtype.is_complex or ids.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer tensor, got dtype {ids.dtype}")
    if ids.numel():
        lo, hi = torch.aminmax(ids)
        lo, hi = int(lo), int(hi)
        if lo < 0 or hi >= limit:
            bad = lo if lo < 0 else hi
            raise ValueError(
                f"{name} contains {bad}, outside [0, {limit_name}={limit}); "
                f"check that the tokenizer and the model config agree"
            )


def _check_labels(labels, shape, vocab_size):
    if tuple(labels.shape) != tuple(shape):
        raise ValueError(
            f"labels has shape {tuple(labels.shape)} but the input is (batch, seq_len) = {tuple(shape)}"
        )
    if labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise TypeError(f"labels must be an integer tensor, got dtype {labels.dtype}")
    bad = (labels >= vocab_size) | ((labels < 0) & (labels != IGNORE_INDEX))
    if bool(bad.any()):
        value = int(labels[bad][0])
        raise ValueError(
            f"labels contains {value}; use ids in [0, vocab_size={vocab_size}) or "
            f"{IGNORE_INDEX} for positions to ignore"
        )
