"""Model FLOPs of a BERT MLM training step, and model FLOPs utilisation (MFU).

The count follows nanoGPT's `estimate_mfu` (PaLM paper, appendix B): a training step costs
6 FLOPs per matmul weight per token (2 forward, 4 backward) plus the attention matmuls, which
have no weights: QK^T and PV are 2 x 2 x T x hidden FLOPs per token per layer forward, so
12 x layers x hidden x T per token for forward + backward.

Only matmul weights count (`matmul_params`): Q, K, V, attention output, the two FFN matrices per
layer, the MLM head's transform and its vocab-sized decoder (tied to the word embeddings, so that
matrix is counted once, as the decoder). Position and token-type embeddings are lookups (no
FLOPs); biases, LayerNorm, GELU and softmax are elementwise (about 0.1% of the total, left out
like nanoGPT leaves them out).

`head_fraction` is the share of positions at which the MLM head runs. 1.0 is the usual
convention (transformers computes logits at every position) and is what MFU figures elsewhere
use; bertmlm's training fast path runs the head only at masked positions (about 0.15), so
`head_fraction=mlm_probability` counts the FLOPs it actually performs ("hardware" FLOPs). The
fast path also prunes the last layer's post-attention half to masked positions; that saving is
not subtracted (a few % for 12 layers).

    >>> from bertmlm import BertConfig
    >>> from bertmlm.flops import estimate_mfu
    >>> estimate_mfu(BertConfig.preset("base"), seq_len=128, tokens_per_second=400_000,
    ...              peak_flops=989e12)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

# bf16 dense tensor-core peak (no sparsity), FLOP/s, from the vendors' data sheets; first match wins
PEAK_BF16_FLOPS: list[tuple[tuple[str, ...], float]] = [
    (("H100", "PCIE"), 756e12),
    (("H100", "NVL"), 835e12),
    (("H100",), 989e12),  # SXM
    (("H200",), 989e12),  # same compute as H100 SXM, more and faster memory
    (("GH200",), 989e12),
    (("B200",), 2250e12),
    (("A100",), 312e12),
    (("L40S",), 362e12),
    (("A10G",), 70e12),
    (("L4",), 121e12),
]


def matmul_params(config: Any) -> int:
    """Weights of every matmul a forward pass runs per token (see the module docstring)."""
    h, i, L, V = (
        config.hidden_size,
        config.intermediate_size,
        config.num_hidden_layers,
        config.vocab_size,
    )
    per_layer = 4 * h * h + 2 * h * i  # Q, K, V, attention output; FFN up and down
    head = h * h + h * V  # MLM transform dense; decoder (the tied word embeddings)
    return L * per_layer + head


def training_flops_per_token(config: Any, seq_len: int, *, head_fraction: float = 1.0) -> float:
    """FLOPs of one training step (forward + backward) per token of a `seq_len`-token sequence."""
    h, i, L, V = (
        config.hidden_size,
        config.intermediate_size,
        config.num_hidden_layers,
        config.vocab_size,
    )
    encoder = L * (4 * h * h + 2 * h * i)
    head = h * h + h * V
    attention = 12 * L * h * seq_len
    return 6 * (encoder + head_fraction * head) + attention


def estimate_mfu(
    config: Any,
    seq_len: int,
    tokens_per_second: float,
    peak_flops: float,
    *,
    head_fraction: float = 1.0,
) -> float:
    """Model FLOPs utilisation: achieved model FLOP/s over the device's peak FLOP/s (0..1)."""
    if peak_flops <= 0:
        raise ValueError(f"peak_flops must be positive, got {peak_flops}")
    return (
        training_flops_per_token(config, seq_len, head_fraction=head_fraction)
        * tokens_per_second
        / peak_flops
    )


def peak_bf16_flops(device_name: str) -> float | None:
    """The bf16 dense peak of a GPU named like torch.cuda.get_device_name(); None when unknown."""
    name = device_name.upper()
    for keys, flops in PEAK_BF16_FLOPS:
        if all(k in name for k in keys):
            return flops
    return None
