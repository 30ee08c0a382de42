"""bertmlm.modeling: numerical parity with transformers, the MLM fast path, init, bad inputs.

transformers is a test-only dependency: every parity test skips without it. Models are tiny
(hidden <= 96) so the file runs in seconds on a 2-core CPU.
"""

import math

import pytest
import torch
import torch.nn.functional as F
from bertmlm import BertConfig, BertForMaskedLM, BertModel
from bertmlm.checkpoint import load_into

ATOL = 1e-5

# (name, config fields): odd head counts, one head, several activations, 3 token types
CONFIGS = {
    "h96x3": dict(
        vocab_size=97,
        hidden_size=96,
        num_hidden_layers=2,
        num_attention_heads=3,
        intermediate_size=160,
        max_position_embeddings=40,
        type_vocab_size=3,
    ),
    "h64x4_tanh_gelu": dict(
        vocab_size=211,
        hidden_size=64,
        num_hidden_layers=3,
        num_attention_heads=4,
        intermediate_size=96,
        max_position_embeddings=24,
        hidden_act="gelu_new",
    ),
    "h30x5_relu": dict(
        vocab_size=50,
        hidden_size=30,
        num_hidden_layers=1,
        num_attention_heads=5,
        intermediate_size=40,
        max_position_embeddings=16,
        hidden_act="relu",
        pad_token_id=3,
        layer_norm_eps=1e-5,
    ),
    "h32x1": dict(
        vocab_size=64,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=1,
        intermediate_size=64,
        max_position_embeddings=20,
    ),
}


@pytest.fixture(autouse=True)
def _few_threads():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def hf_model(cfg: BertConfig, kind="mlm", attn="eager", pooler=True, seed=0):
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(seed)
    hf_cfg = transformers.BertConfig(**cfg.to_dict(), attn_implementation=attn)
    if kind == "mlm":
        model = transformers.BertForMaskedLM(hf_cfg)
    else:
        model = transformers.BertModel(hf_cfg, add_pooling_layer=pooler)
    with torch.no_grad():  # non-zero biases and LayerNorm params so the parity test sees them
        for p in model.parameters():
            if p.dim() == 1:
                p.add_(torch.randn_like(p) * 0.1)
    return model.eval()


def ours_from(hf, cfg, kind="mlm", pooler=True):
    model = BertForMaskedLM(cfg) if kind == "mlm" else BertModel(cfg, add_pooling_layer=pooler)
    info = load_into(model, dict(hf.state_dict()))
    assert info["missing_keys"] == [] and info["unexpected_keys"] == []
    return model.eval()


def make_batch(cfg: BertConfig, B=3, L=None, seed=1):
    g = torch.Generator().manual_seed(seed)
    L = L or cfg.max_position_embeddings - 3
    ids = torch.randint(0, cfg.vocab_size, (B, L), generator=g)
    mask = torch.ones(B, L, dtype=torch.long)
    for b in range(1, B):  # row 0 unpadded, others padded to shorter lengths
        mask[b, L - 2 * b - 1 :] = 0
    types = torch.randint(0, cfg.type_vocab_size, (B, L), generator=g)
    labels = torch.where(torch.rand(B, L, generator=g) < 0.3, ids, torch.full_like(ids, -100))
    labels[mask == 0] = -100
    labels[0, 0] = ids[0, 0]  # at least one label
    return ids, mask, types, labels


def assert_close(a, b, atol=ATOL, what=""):
    assert a.shape == b.shape, (what, a.shape, b.shape)
    diff = (a - b).abs().max().item() if a.numel() else 0.0
    assert diff <= atol, f"{what}: max abs diff {diff:.3g} > {atol}"


# ------------------------------------------------------------------------------------------------
# structure


@pytest.mark.parametrize("kind,pooler", [("mlm", False), ("base", True), ("base", False)])
def test_state_dict_keys_equal_transformers(kind, pooler):
    cfg = BertConfig(**CONFIGS["h96x3"])
    hf = hf_model(cfg, kind, pooler=pooler)
    ours = BertForMaskedLM(cfg) if kind == "mlm" else BertModel(cfg, add_pooling_layer=pooler)
    assert list(ours.state_dict()) == list(hf.state_dict())
    for k, v in hf.state_dict().items():
        assert ours.state_dict()[k].shape == v.shape, k


def test_tied_weights_share_storage_after_init():
    model = BertForMaskedLM(BertConfig(**CONFIGS["h96x3"]))
    emb = model.bert.embeddings.word_embeddings.weight
    assert model.cls.predictions.decoder.weight is emb
    assert model.cls.predictions.decoder.bias is model.cls.predictions.bias
    sd = model.state_dict()
    assert (
        sd["cls.predictions.decoder.weight"].data_ptr()
        == sd["bert.embeddings.word_embeddings.weight"].data_ptr()
    )
    # counted once
    assert model.num_parameters() == sum(p.numel() for p in model.parameters())


def test_init_follows_the_spec():
    cfg = BertConfig.preset("tiny", vocab_size=500, pad_token_id=7, initializer_range=0.05)
    torch.manual_seed(0)
    model = BertForMaskedLM(cfg)
    emb = model.bert.embeddings.word_embeddings.weight
    assert torch.count_nonzero(emb[7]) == 0  # padding row zeroed
    assert abs(emb.std().item() - 0.05) < 0.005
    q = model.bert.encoder.layer[0].attention.self.query
    assert abs(q.weight.std().item() - 0.05) < 0.005 and torch.count_nonzero(q.bias) == 0
    ln = model.bert.encoder.layer[1].output.LayerNorm
    assert torch.all(ln.weight == 1) and torch.all(ln.bias == 0)
    assert torch.count_nonzero(model.cls.predictions.bias) == 0


def test_step0_loss_is_near_ln_vocab():
    cfg = BertConfig.preset("tiny", vocab_size=8192, max_position_embeddings=64)
    torch.manual_seed(0)
    model = BertForMaskedLM(cfg).train()
    ids = torch.randint(5, cfg.vocab_size, (8, 64))
    labels = torch.where(torch.rand(8, 64) < 0.15, ids, torch.full_like(ids, -100))
    loss = model(ids, labels=labels).loss.item()
    assert abs(loss - math.log(cfg.vocab_size)) < 0.3, loss


# ------------------------------------------------------------------------------------------------
# forward parity


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_mlm_forward_parity(name, attn):
    cfg = BertConfig(**CONFIGS[name])
    hf = hf_model(cfg, "mlm", attn)
    ours = ours_from(hf, cfg)
    ids, mask, types, labels = make_batch(cfg)
    want_attn = attn == "eager"  # transformers' sdpa path cannot return attention weights
    with torch.no_grad():
        ref = hf(
            input_ids=ids,
            attention_mask=mask,
            token_type_ids=types,
            labels=labels,
            output_hidden_states=True,
            output_attentions=want_attn,
        )
        out = ours(
            ids,
            attention_mask=mask,
            token_type_ids=types,
            labels=labels,
            output_hidden_states=True,
            output_attentions=want_attn,
        )
    assert_close(out.logits, ref.logits, what="logits")
    assert_close(out.loss, ref.loss, what="loss")
    assert len(out.hidden_states) == len(ref.hidden_states) == cfg.num_hidden_layers + 1
    for i, (a, b) in enumerate(zip(out.hidden_states, ref.hidden_states)):
        assert_close(a, b, what=f"hidden_states[{i}]")
    if want_attn:
        assert len(out.attentions) == len(ref.attentions) == cfg.num_hidden_layers
        for i, (a, b) in enumerate(zip(out.attentions, ref.attentions)):
            assert_close(a, b, what=f"attentions[{i}]")
    else:
        assert out.attentions is None
    # unpacks as (loss, prediction_scores, hidden_states, attentions)
    loss, scores, hidden, attns = out
    assert scores is out.prediction_scores is out.logits and loss is out.loss


@pytest.mark.parametrize("pooler", [True, False])
@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_bert_model_parity_pooler_positions_and_embeds(attn, pooler):
    cfg = BertConfig(**CONFIGS["h96x3"])
    hf = hf_model(cfg, "base", attn, pooler=pooler)
    ours = ours_from(hf, cfg, "base", pooler=pooler)
    ids, mask, types, _ = make_batch(cfg, B=4, L=20)
    positions = torch.randint(0, cfg.max_position_embeddings, ids.shape)
    with torch.no_grad():
        for kwargs in (
            dict(input_ids=ids),
            dict(input_ids=ids, attention_mask=mask, token_type_ids=types),
            dict(input_ids=ids, attention_mask=mask, position_ids=positions),
            dict(inputs_embeds=hf.embeddings.word_embeddings(ids), attention_mask=mask),
        ):
            ref, out = hf(**kwargs), ours(**kwargs)
            assert_close(
                out.last_hidden_state, ref.last_hidden_state, what=f"sequence_output {list(kwargs)}"
            )
            if pooler:
                assert_close(out.pooler_output, ref.pooler_output, what="pooler_output")
            else:
                assert out.pooler_output is None and ref.pooler_output is None


def test_no_padding_mask_equals_no_mask_and_sdpa_equals_math_path():
    cfg = BertConfig(**CONFIGS["h96x3"])
    model = BertForMaskedLM(cfg).eval()
    ids, mask, types, _ = make_batch(cfg)
    with torch.no_grad():
        a = model(ids[:1]).logits
        b = model(ids[:1], attention_mask=torch.ones_like(ids[:1])).logits
        assert torch.equal(a, b)
        sdpa = model(ids, attention_mask=mask, token_type_ids=types)
        math_path = model(ids, attention_mask=mask, token_type_ids=types, output_attentions=True)
    assert_close(sdpa.logits, math_path.logits, 1e-5, "sdpa vs math")
    # probabilities of padded keys are exactly zero, rows sum to one
    probs = math_path.attentions[0]
    assert torch.all(probs[1][..., mask[1] == 0] == 0)
    assert_close(probs.sum(-1), torch.ones(probs.shape[:-1]), 1e-5, "row sums")


def test_head_mask_silences_a_head_like_zeroing_its_output_columns():
    cfg = BertConfig(**CONFIGS["h96x3"])
    torch.manual_seed(0)
    model = BertForMaskedLM(cfg).eval()
    ids, mask, _, _ = make_batch(cfg)
    head_mask = torch.ones(cfg.num_hidden_layers, cfg.num_attention_heads)
    head_mask[0, 1] = 0
    with torch.no_grad():
        ones = model(ids, attention_mask=mask, head_mask=torch.ones(cfg.num_attention_heads)).logits
        assert_close(ones, model(ids, attention_mask=mask).logits, 1e-5, "head_mask of ones")
        masked = model(ids, attention_mask=mask, head_mask=head_mask, output_attentions=True)
        assert torch.all(masked.attentions[0][:, 1] == 0)
        # reference: head 1 of layer 0 contributes nothing -> zero its input columns of the output dense
        D = cfg.hidden_size // cfg.num_attention_heads
        model.bert.encoder.layer[0].attention.output.dense.weight[:, D : 2 * D] = 0
        ref = model(ids, attention_mask=mask).logits
    assert_close(masked.logits, ref, 1e-5, "head_mask vs zeroed columns")
    with pytest.raises(ValueError, match="head_mask must have shape"):
        model(ids, head_mask=torch.ones(5))


# ------------------------------------------------------------------------------------------------
# gradients, loss, fast path


@pytest.mark.parametrize("masked_only", [False, True])
@pytest.mark.parametrize("name", ["h96x3", "h30x5_relu"])
def test_gradient_parity(name, masked_only):
    cfg = BertConfig(**CONFIGS[name], hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    hf = hf_model(cfg, "mlm", "sdpa").train()
    ours = ours_from(hf, cfg).train()
    ids, mask, types, labels = make_batch(cfg)
    ref = hf(input_ids=ids, attention_mask=mask, token_type_ids=types, labels=labels)
    out = ours(
        ids, attention_mask=mask, token_type_ids=types, labels=labels, masked_only=masked_only
    )
    assert_close(out.loss, ref.loss, 1e-6, "loss")
    ref.loss.backward()
    out.loss.backward()
    ours_params = dict(ours.named_parameters())
    for key, p in hf.named_parameters():
        assert ours_params[key].grad is not None, key
        assert_close(ours_params[key].grad, p.grad, ATOL, f"grad {key}")


def test_fast_path_in_training_gives_same_loss_and_labelled_rows():
    cfg = BertConfig(
        **CONFIGS["h64x4_tanh_gelu"], hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0
    )
    torch.manual_seed(0)
    model = BertForMaskedLM(cfg)
    ids, mask, types, labels = make_batch(cfg)
    selected = labels != -100
    with torch.no_grad():
        fast = model.train()(ids, attention_mask=mask, token_type_ids=types, labels=labels)
        full = model.eval()(ids, attention_mask=mask, token_type_ids=types, labels=labels)
        forced = model(
            ids, attention_mask=mask, token_type_ids=types, labels=labels, masked_only=True
        )
    n = int(selected.sum())
    assert fast.logits.shape == (n, cfg.vocab_size) == forced.logits.shape
    assert full.logits.shape == (*ids.shape, cfg.vocab_size)
    assert abs(fast.loss.item() - full.loss.item()) <= 1e-6
    assert_close(fast.logits, full.logits[selected], 1e-5, "fast rows")
    # training without labels: full logits
    assert model.train()(ids).logits.shape == (*ids.shape, cfg.vocab_size)
    with pytest.raises(ValueError, match="needs labels"):
        model(ids, masked_only=True)


def test_loss_ignores_minus_100():
    cfg = BertConfig(**CONFIGS["h32x1"])
    torch.manual_seed(0)
    model = BertForMaskedLM(cfg).eval()
    ids, mask, _, labels = make_batch(cfg)
    with torch.no_grad():
        out = model(ids, attention_mask=mask, labels=labels)
        sel = labels != -100
        manual = F.cross_entropy(out.logits[sel], labels[sel])
        assert_close(out.loss, manual, 1e-6, "loss")
        # only labelled rows count: scrambling the logits' targets elsewhere cannot matter
        one = torch.full_like(labels, -100)
        one[0, 2] = ids[0, 2]
        single = model(ids, attention_mask=mask, labels=one).loss
        assert_close(single, F.cross_entropy(out.logits[0, 2:3], ids[0, 2:3]), 1e-6, "single label")
        assert (
            model(ids, attention_mask=mask, labels=torch.full_like(labels, -100)).loss.item() == 0.0
        )
    # no labelled position: loss 0, still differentiable (transformers returns NaN here)
    model.train()
    loss = model(ids, labels=torch.full_like(labels, -100)).loss
    loss.backward()
    assert loss.item() == 0.0


# ------------------------------------------------------------------------------------------------
# bad inputs


def test_bad_inputs_raise_clear_errors():
    cfg = BertConfig(**CONFIGS["h32x1"])
    model = BertForMaskedLM(cfg).eval()
    ids = torch.randint(0, cfg.vocab_size, (2, 8))
    cases = [
        (dict(input_ids=torch.tensor([[1, cfg.vocab_size]])), ValueError, "input_ids contains 64"),
        (dict(input_ids=torch.tensor([[-1, 2]])), ValueError, "input_ids contains -1"),
        (
            dict(input_ids=torch.zeros(1, cfg.max_position_embeddings + 1, dtype=torch.long)),
            ValueError,
            "exceeds max_position_embeddings=20",
        ),
        (
            dict(input_ids=ids, attention_mask=torch.ones(2, 7)),
            ValueError,
            "attention_mask has shape",
        ),
        (dict(input_ids=ids, attention_mask=torch.ones(8)), ValueError, "attention_mask has shape"),
        (
            dict(input_ids=ids, token_type_ids=torch.zeros(2, 9, dtype=torch.long)),
            ValueError,
            "token_type_ids has shape",
        ),
        (
            dict(input_ids=ids, token_type_ids=torch.full((2, 8), 2)),
            ValueError,
            "token_type_ids contains 2",
        ),
        (
            dict(input_ids=ids, position_ids=torch.full((2, 8), 20)),
            ValueError,
            "position_ids contains 20",
        ),
        (dict(input_ids=ids.float()), TypeError, "integer tensor"),
        (dict(input_ids=ids[0]), ValueError, "input_ids must be"),
        (dict(), ValueError, "exactly one of input_ids or inputs_embeds"),
        (dict(input_ids=ids, inputs_embeds=torch.zeros(2, 8, 32)), ValueError, "exactly one"),
        (dict(inputs_embeds=torch.zeros(2, 8, 31)), ValueError, "inputs_embeds must be"),
        (
            dict(input_ids=ids, labels=torch.full((2, 8), cfg.vocab_size)),
            ValueError,
            "labels contains 64",
        ),
        (dict(input_ids=ids, labels=torch.full((2, 8), -5)), ValueError, "labels contains -5"),
        (
            dict(input_ids=ids, labels=torch.zeros(2, 7, dtype=torch.long)),
            ValueError,
            "labels has shape",
        ),
    ]
    for kwargs, exc, match in cases:
        with pytest.raises(exc, match=match):
            model(**kwargs)


# ------------------------------------------------------------------------------------------------
# training-mode details: CPU dropout, pruned last layer


def test_cpu_dropout_law_and_backward():
    from bertmlm.modeling import dropout

    torch.manual_seed(0)
    x = torch.randn(400, 500, requires_grad=True)
    y = dropout(x, 0.1, True)
    kept = y != 0
    assert abs(kept.float().mean().item() - 0.9) < 0.005
    assert_close(y[kept], x[kept] / 0.9, 1e-4, "kept values scaled by 1/(1-p)")
    y.backward(torch.ones_like(y))
    assert torch.equal(x.grad != 0, kept)  # same mask in backward
    # reproducible under the torch seed, fresh draws otherwise, identity when off
    torch.manual_seed(1)
    a = dropout(x, 0.3, True)
    torch.manual_seed(1)
    assert torch.equal(a, dropout(x, 0.3, True))
    assert not torch.equal(a, dropout(x, 0.3, True))
    assert dropout(x, 0.3, False) is x and dropout(x, 0.0, True) is x


def test_training_with_dropout_is_seeded_and_learns_something():
    cfg = BertConfig(**CONFIGS["h64x4_tanh_gelu"])
    torch.manual_seed(0)
    model = BertForMaskedLM(cfg).train()
    ids, mask, types, labels = make_batch(cfg)
    losses = []
    for _ in range(2):
        torch.manual_seed(5)
        losses.append(model(ids, attention_mask=mask, token_type_ids=types, labels=labels).loss)
    assert torch.equal(losses[0], losses[1]) and torch.isfinite(losses[0])
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(8):
        loss = model(ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    assert model(ids, attention_mask=mask, labels=labels).loss.item() < losses[0].item() - 0.5
    assert model.cls.predictions.decoder.weight is model.bert.embeddings.word_embeddings.weight


def test_pruned_last_layer_equals_full_rows():
    cfg = BertConfig(**CONFIGS["h96x3"])
    torch.manual_seed(0)
    model = BertForMaskedLM(cfg).eval()
    ids, mask, types, labels = make_batch(cfg)
    selected = labels != -100
    with torch.no_grad():
        pruned = model(
            ids, attention_mask=mask, token_type_ids=types, labels=labels, masked_only=True
        )
        unpruned = model(
            ids,
            attention_mask=mask,
            token_type_ids=types,
            labels=labels,
            masked_only=True,
            output_hidden_states=True,
        )
        rows = model.bert(ids, mask, types, output_positions=selected).last_hidden_state
        full = model.bert(ids, mask, types).last_hidden_state
    assert_close(pruned.logits, unpruned.logits, 1e-5, "pruned vs unpruned logits")
    assert abs(pruned.loss.item() - unpruned.loss.item()) <= 1e-6
    assert_close(rows, full[selected], 1e-5, "pruned rows")
    with pytest.raises(ValueError, match="output_positions"):
        BertModel(cfg)(ids, output_positions=selected)  # has a pooler
    with pytest.raises(TypeError, match="bool"):
        model.bert(ids, output_positions=selected.long())


def test_replaced_projection_modules_take_the_plain_path():
    class Recording(torch.nn.Linear):
        calls = 0

        def forward(self, x):
            Recording.calls += 1
            return super().forward(x)

    cfg = BertConfig(**CONFIGS["h96x3"])
    torch.manual_seed(0)
    model = BertForMaskedLM(cfg).eval()
    ids, mask, _, _ = make_batch(cfg)
    with torch.no_grad():
        fused = model(ids, attention_mask=mask).logits
        attn = model.bert.encoder.layer[0].attention.self
        replaced = Recording(cfg.hidden_size, cfg.hidden_size)
        replaced.load_state_dict(attn.query.state_dict())
        attn.query = replaced
        plain = model(ids, attention_mask=mask).logits
    assert Recording.calls == 1
    assert_close(plain, fused, 1e-5, "plain vs fused QKV")
