"""bertmlm config + checkpoint IO: transformers directories in both directions, safety, errors."""

import json
import os

import pytest
import torch
from bertmlm import BertConfig, BertForMaskedLM, BertModel
from safetensors.torch import load_file, save_file

SMALL = dict(
    vocab_size=97,
    hidden_size=96,
    num_hidden_layers=2,
    num_attention_heads=3,
    intermediate_size=160,
    max_position_embeddings=40,
    type_vocab_size=3,
)


@pytest.fixture(autouse=True)
def _few_threads():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def model_and_batch(seed=0):
    torch.manual_seed(seed)
    cfg = BertConfig(**SMALL)
    model = BertForMaskedLM(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 1:
                p.add_(torch.randn_like(p) * 0.1)
    ids = torch.randint(0, cfg.vocab_size, (2, 12))
    mask = torch.ones_like(ids)
    mask[1, 8:] = 0
    return model, ids, mask


def hf_transformers():
    return pytest.importorskip("transformers")


# ------------------------------------------------------------------------------------------------
# config


def test_config_defaults_presets_and_validation():
    assert BertConfig().to_dict() == dict(
        vocab_size=30522,
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        hidden_act="gelu",
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
        max_position_embeddings=512,
        type_vocab_size=2,
        initializer_range=0.02,
        layer_norm_eps=1e-12,
        pad_token_id=0,
    )
    tiny = BertConfig.preset("tiny", vocab_size=1000)
    assert (
        tiny.hidden_size,
        tiny.num_hidden_layers,
        tiny.num_attention_heads,
        tiny.intermediate_size,
        tiny.vocab_size,
    ) == (128, 2, 2, 512, 1000)
    small = BertConfig.preset("small")
    assert (
        small.hidden_size,
        small.num_hidden_layers,
        small.num_attention_heads,
        small.intermediate_size,
    ) == (256, 4, 4, 1024)
    assert BertConfig.preset("base") == BertConfig()
    with pytest.raises(ValueError, match="unknown preset"):
        BertConfig.preset("huge")
    with pytest.raises(ValueError, match="multiple of num_attention_heads"):
        BertConfig(hidden_size=100, num_attention_heads=3)
    with pytest.raises(ValueError, match="vocab_size must be a positive integer"):
        BertConfig(vocab_size=0)
    with pytest.raises(ValueError, match="hidden_act"):
        BertConfig(hidden_act="mish")
    with pytest.raises(ValueError, match="hidden_dropout_prob"):
        BertConfig(hidden_dropout_prob=1.5)
    with pytest.raises(ValueError, match="pad_token_id"):
        BertConfig(vocab_size=10, pad_token_id=10)


def test_config_json_round_trip_and_transformers_keys(tmp_path):
    cfg = BertConfig(**SMALL)
    path = cfg.save(tmp_path)
    d = json.loads(path.read_text())
    assert d["architectures"] == ["BertForMaskedLM"] and d["model_type"] == "bert"
    assert BertConfig.load(tmp_path) == cfg == BertConfig.load(path)
    assert BertConfig.from_dict(cfg.to_dict()) == cfg
    # unknown keys (transformers writes many) are ignored; architecture-changing ones are refused
    assert (
        BertConfig.from_dict({**cfg.to_dict(), "classifier_dropout": None, "use_cache": True})
        == cfg
    )
    with pytest.raises(ValueError, match="model_type"):
        BertConfig.from_dict({"model_type": "roberta"})
    with pytest.raises(ValueError, match="position_embedding_type"):
        BertConfig.from_dict({"position_embedding_type": "relative_key"})
    with pytest.raises(ValueError, match="decoder"):
        BertConfig.from_dict({"is_decoder": True})
    with pytest.raises(FileNotFoundError, match="no BERT config"):
        BertConfig.load(tmp_path / "nowhere")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        BertConfig.load(tmp_path / "bad")
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_config_reads_transformers_config_json(tmp_path):
    transformers = hf_transformers()
    transformers.BertConfig(**SMALL).save_pretrained(tmp_path)
    assert BertConfig.load(tmp_path) == BertConfig(**SMALL)


# ------------------------------------------------------------------------------------------------
# ours -> disk -> ours / transformers


def test_save_load_round_trip_keeps_ties(tmp_path):
    model, ids, mask = model_and_batch()
    model.save_pretrained(tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["config.json", "model.safetensors"]
    stored = load_file(tmp_path / "model.safetensors")
    assert "cls.predictions.decoder.weight" not in stored and "cls.predictions.bias" in stored
    loaded, info = BertForMaskedLM.from_pretrained(tmp_path, output_loading_info=True)
    assert info["missing_keys"] == info["unexpected_keys"] == []
    assert not loaded.training
    assert loaded.cls.predictions.decoder.weight is loaded.bert.embeddings.word_embeddings.weight
    assert loaded.cls.predictions.decoder.bias is loaded.cls.predictions.bias
    with torch.no_grad():
        assert torch.equal(
            loaded(ids, attention_mask=mask).logits, model(ids, attention_mask=mask).logits
        )
    # the model that was saved is still tied
    assert model.cls.predictions.decoder.weight is model.bert.embeddings.word_embeddings.weight


def test_transformers_loads_our_directory_with_same_logits(tmp_path):
    transformers = hf_transformers()
    model, ids, mask = model_and_batch()
    model.save_pretrained(tmp_path)
    hf, info = transformers.BertForMaskedLM.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    hf.eval()
    assert (
        hf.cls.predictions.decoder.weight.data_ptr()
        == hf.bert.embeddings.word_embeddings.weight.data_ptr()
    )
    with torch.no_grad():
        diff = (
            (hf(input_ids=ids, attention_mask=mask).logits - model(ids, attention_mask=mask).logits)
            .abs()
            .max()
        )
    assert diff <= 1e-5


def test_bert_model_round_trip_and_pooler_auto(tmp_path):
    torch.manual_seed(0)
    base = BertModel(BertConfig(**SMALL)).eval()
    base.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["architectures"] == ["BertModel"]
    loaded = BertModel.from_pretrained(tmp_path)
    assert loaded.pooler is not None
    ids = torch.randint(0, 97, (2, 5))
    with torch.no_grad():
        assert torch.equal(loaded(ids).pooler_output, base(ids).pooler_output)
    # an MLM directory has no pooler: BertModel loads it without one, ignoring the head
    mlm, _, _ = model_and_batch()
    mlm.save_pretrained(tmp_path / "mlm")
    with pytest.warns(UserWarning, match="ignored 5 checkpoint weights"):
        enc = BertModel.from_pretrained(tmp_path / "mlm")
    assert enc.pooler is None
    with torch.no_grad():
        assert torch.equal(enc(ids).last_hidden_state, mlm.bert(ids).last_hidden_state)
    # BertModel weights into an MLM model: the head is missing
    with pytest.raises(ValueError, match="missing 5 weights"):
        BertForMaskedLM.from_pretrained(tmp_path)
    with pytest.warns(UserWarning) as record:
        partial = BertForMaskedLM.from_pretrained(tmp_path, strict=False)
    messages = " ".join(str(w.message) for w in record)
    assert "left freshly initialised" in messages and "pooler.dense.weight" in messages
    assert torch.equal(
        partial.bert.embeddings.word_embeddings.weight, base.embeddings.word_embeddings.weight
    )


# ------------------------------------------------------------------------------------------------
# transformers -> disk -> ours


def test_loads_transformers_directory(tmp_path):
    transformers = hf_transformers()
    torch.manual_seed(0)
    hf = transformers.BertForMaskedLM(transformers.BertConfig(**SMALL)).eval()
    hf.save_pretrained(tmp_path)
    model = BertForMaskedLM.from_pretrained(tmp_path)
    ids = torch.randint(0, 97, (3, 10))
    with torch.no_grad():
        diff = (hf(input_ids=ids).logits - model(ids).logits).abs().max()
    assert diff <= 1e-5
    assert model.cls.predictions.decoder.weight is model.bert.embeddings.word_embeddings.weight


def test_loads_bin_with_extras_and_reports_them(tmp_path):
    transformers = hf_transformers()
    torch.manual_seed(0)
    hf = transformers.BertForPreTraining(
        transformers.BertConfig(**SMALL)
    ).eval()  # pooler + NSP head
    state = dict(hf.state_dict())
    state["bert.embeddings.position_ids"] = torch.arange(SMALL["max_position_embeddings"])[None]
    # a TF-converted LayerNorm name
    state["bert.embeddings.LayerNorm.gamma"] = state.pop("bert.embeddings.LayerNorm.weight")
    transformers.BertConfig(**SMALL).save_pretrained(tmp_path)
    torch.save(state, tmp_path / "pytorch_model.bin")
    with pytest.warns(UserWarning, match="ignored 4 checkpoint weights") as record:
        model, info = BertForMaskedLM.from_pretrained(tmp_path, output_loading_info=True)
    assert sorted(info["unexpected_keys"]) == [
        "bert.pooler.dense.bias",
        "bert.pooler.dense.weight",
        "cls.seq_relationship.bias",
        "cls.seq_relationship.weight",
    ]
    assert (
        info["ignored_buffers"] == ["bert.embeddings.position_ids"] and info["missing_keys"] == []
    )
    assert len(record) == 1
    ids = torch.randint(0, 97, (2, 9))
    with torch.no_grad():
        diff = (hf(input_ids=ids).prediction_logits - model(ids).logits).abs().max()
    assert diff <= 1e-5


def test_shape_mismatch_names_the_key_and_missing_files(tmp_path):
    model, _, _ = model_and_batch()
    model.save_pretrained(tmp_path)
    state = load_file(tmp_path / "model.safetensors")
    state["bert.encoder.layer.1.intermediate.dense.weight"] = torch.zeros(7, 96)
    save_file(state, tmp_path / "model.safetensors")
    with pytest.raises(
        ValueError, match=r"bert\.encoder\.layer\.1\.intermediate\.dense\.weight.*\(7, 96\)"
    ):
        BertForMaskedLM.from_pretrained(tmp_path)
    os.remove(tmp_path / "model.safetensors")
    with pytest.raises(FileNotFoundError, match="no weights"):
        BertForMaskedLM.from_pretrained(tmp_path)
    with pytest.raises(FileNotFoundError):
        BertForMaskedLM.from_pretrained(tmp_path / "missing")


def test_untied_decoder_in_checkpoint_is_reported(tmp_path):
    model, _, _ = model_and_batch()
    model.save_pretrained(tmp_path)
    state = load_file(tmp_path / "model.safetensors")
    state["cls.predictions.decoder.weight"] = torch.zeros(97, 96)
    save_file(state, tmp_path / "model.safetensors")
    with pytest.warns(UserWarning, match="untied"):
        loaded = BertForMaskedLM.from_pretrained(tmp_path)
    assert torch.equal(
        loaded.bert.embeddings.word_embeddings.weight, model.bert.embeddings.word_embeddings.weight
    )
