"""bertmlm.flops: the FLOP count against a hand computation, MFU, and the GPU peak table."""

import pytest
from bertmlm import BertConfig, BertForMaskedLM
from bertmlm.flops import (
    estimate_mfu,
    matmul_params,
    peak_bf16_flops,
    training_flops_per_token,
)


def test_bert_base_seq128_by_hand():
    cfg = BertConfig(
        vocab_size=30522,
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
    )
    # per layer: Q, K, V, out = 4 * 768^2 = 2,359,296; FFN = 2 * 768 * 3072 = 4,718,592
    # 12 layers: 12 * 7,077,888 = 84,934,656; head: 768^2 + 768 * 30522 = 589,824 + 23,440,896
    n = 84_934_656 + 589_824 + 23_440_896
    assert matmul_params(cfg) == n == 108_965_376
    # attention: 12 * layers * hidden * T = 12 * 12 * 768 * 128 = 14,155,776
    per_token = 6 * n + 14_155_776
    assert training_flops_per_token(cfg, 128) == per_token == 667_948_032
    # 400k tokens/s on a 989 TFLOP/s device: 667,948,032 * 4e5 / 9.89e14 = 0.27015...
    assert estimate_mfu(cfg, 128, 400_000, 989e12) == pytest.approx(0.2701508, rel=1e-6)


def test_head_fraction_counts_the_head_only_where_it_runs():
    cfg = BertConfig.preset("small", vocab_size=1000)
    full = training_flops_per_token(cfg, 64)
    fast = training_flops_per_token(cfg, 64, head_fraction=0.15)
    head = cfg.hidden_size**2 + cfg.hidden_size * cfg.vocab_size
    assert full - fast == pytest.approx(6 * 0.85 * head)


def test_matmul_params_close_to_the_model_parameter_count():
    cfg = BertConfig.preset("tiny", vocab_size=500)
    model = BertForMaskedLM(cfg)
    lookups = (cfg.max_position_embeddings + cfg.type_vocab_size) * cfg.hidden_size
    elementwise = model.num_parameters() - lookups - matmul_params(cfg)  # biases and LayerNorm
    assert 0 < elementwise < 0.02 * matmul_params(cfg)


def test_peak_table():
    assert peak_bf16_flops("NVIDIA H100 80GB HBM3") == 989e12
    assert peak_bf16_flops("NVIDIA H100 PCIe") == 756e12
    assert peak_bf16_flops("NVIDIA H200") == 989e12
    assert peak_bf16_flops("NVIDIA A100-SXM4-80GB") == 312e12
    assert peak_bf16_flops("Some Future GPU") is None
    with pytest.raises(ValueError):
        estimate_mfu(BertConfig.preset("tiny", vocab_size=100), 128, 1.0, 0.0)
