"""Checkpoint IO in transformers' directory layout: config.json + model.safetensors.

`save_pretrained` writes what `transformers.BertForMaskedLM.from_pretrained` loads with no missing
keys: the same key names, the tied decoder weight/bias left out (as transformers itself does).

`from_pretrained` reads transformers' own directories:
- weights from `model.safetensors`, a sharded `model.safetensors.index.json`, or `pytorch_model.bin`
  through `torch.load(weights_only=True)`: a pickle that is more than plain tensors is refused;
- with or without the tied `cls.predictions.decoder.{weight,bias}` keys;
- with or without the non-persistent `embeddings.position_ids`/`token_type_ids` buffers of old
  transformers versions (dropped, listed in the loading info);
- BertModel checkpoints (no `bert.` prefix) into BertForMaskedLM and the reverse;
- old TF-converted names `LayerNorm.gamma`/`beta`.
Weights the model has no place for (pooler, NSP head, ...) are ignored with one UserWarning that
lists them. A shape mismatch raises ValueError naming the key; missing weights raise ValueError
unless strict=False (then they keep their fresh initialisation, with a warning).
"""

from __future__ import annotations

import json
import os
import pickle
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch

from .config import BertConfig

SAFE_WEIGHTS_NAME = "model.safetensors"
SAFE_WEIGHTS_INDEX_NAME = "model.safetensors.index.json"
WEIGHTS_NAME = "pytorch_model.bin"

# tied key -> the key it shares storage with (in BertForMaskedLM's naming)
TIED_KEYS = {
    "cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight",
    "cls.predictions.decoder.bias": "cls.predictions.bias",
}
BUFFER_SUFFIXES = ("embeddings.position_ids", "embeddings.token_type_ids")


# ------------------------------------------------------------------------------------------------
# reading and writing weight files


def read_state_dict(directory: str | os.PathLike) -> dict[str, torch.Tensor]:
    """All tensors of a checkpoint directory, on the CPU, never unpickling arbitrary objects."""
    from safetensors.torch import load_file

    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"checkpoint directory {directory} does not exist")
    if (directory / SAFE_WEIGHTS_NAME).is_file():
        return load_file(directory / SAFE_WEIGHTS_NAME, device="cpu")
    if (directory / SAFE_WEIGHTS_INDEX_NAME).is_file():
        index = json.loads((directory / SAFE_WEIGHTS_INDEX_NAME).read_text(encoding="utf-8"))
        state: dict[str, torch.Tensor] = {}
        for shard in sorted(set(index["weight_map"].values())):
            state.update(load_file(directory / shard, device="cpu"))
        return state
    if (directory / WEIGHTS_NAME).is_file():
        path = directory / WEIGHTS_NAME
        try:
            loaded: Any = torch.load(path, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, AttributeError, TypeError) as e:
            raise ValueError(
                f"refused to load {path}: it is not a plain tensor checkpoint and unpickling it could run "
                f"arbitrary code (torch.load weights_only=True said: {str(e).splitlines()[0]}). "
                f"Convert it to {SAFE_WEIGHTS_NAME} from a trusted environment."
            ) from None
        if isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict):
            loaded = loaded["state_dict"]
        if not isinstance(loaded, dict) or not all(
            isinstance(v, torch.Tensor) for v in loaded.values()
        ):
            raise ValueError(f"{path} does not hold a state dict (a dict of name -> tensor)")
        return loaded
    raise FileNotFoundError(
        f"no weights in {directory}: expected {SAFE_WEIGHTS_NAME}, {SAFE_WEIGHTS_INDEX_NAME} or {WEIGHTS_NAME}"
    )


def save_pretrained(model, directory: str | os.PathLike) -> None:
    """config.json + model.safetensors, each written to a temporary name and renamed."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for key, value in model.state_dict().items():
        if (
            key in TIED_KEYS
        ):  # transformers re-ties these on load; safetensors refuses shared storage
            continue
        tensors[key] = value.detach().to("cpu").contiguous()
    fd, tmp = tempfile.mkstemp(prefix=f".{SAFE_WEIGHTS_NAME}.", suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata={"format": "pt"})
        os.replace(tmp, directory / SAFE_WEIGHTS_NAME)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    model.config.save(directory, architecture=type(model).__name__)


# ------------------------------------------------------------------------------------------------
# loading into a model


def from_pretrained(
    cls, directory, *, strict=True, device=None, output_loading_info=False, **kwargs
):
    """Build `cls` from `directory/config.json` and load its weights; returns the model in eval mode
    (and a dict with missing/unexpected/ignored keys when output_loading_info=True)."""
    config = BertConfig.load(directory)
    state = {_rename_legacy(k): v for k, v in read_state_dict(directory).items()}
    model = cls._build_for_checkpoint(config, set(state), **kwargs)
    info = load_into(model, state, strict=strict)
    if device is not None:
        model.to(device)
    model.eval()
    return (model, info) if output_loading_info else model


def load_into(
    model, state: dict[str, torch.Tensor], *, strict: bool = True
) -> dict[str, list[str]]:
    """Copy `state` into `model` in place (tied parameters stay tied); see the module docstring."""
    targets = model.state_dict()
    prefix = "bert." if any(k.startswith("bert.") for k in targets) else ""
    state = _match_prefix(state, prefix)
    info: dict[str, list[str]] = {
        "missing_keys": [],
        "unexpected_keys": [],
        "ignored_buffers": [],
        "untied_keys": [],
    }

    for key in [k for k in state if k.endswith(BUFFER_SUFFIXES)]:
        info["ignored_buffers"].append(key)
        del state[key]
    for tied, source in TIED_KEYS.items():
        if tied not in state:
            continue
        value = state.pop(tied)
        if tied not in targets:  # a BertModel has no MLM head: the tied copy is just unexpected
            info["unexpected_keys"].append(tied)
        elif source not in state:
            state[source] = value  # only the decoder copy was stored
        elif not torch.equal(state[source], value):
            info["untied_keys"].append(tied)

    expected = [k for k in targets if k not in TIED_KEYS]
    info["unexpected_keys"] += [k for k in state if k not in targets]
    info["missing_keys"] = [k for k in expected if k not in state]
    for key in expected:
        if key in state and tuple(state[key].shape) != tuple(targets[key].shape):
            raise ValueError(
                f"shape mismatch for {key}: checkpoint has {tuple(state[key].shape)}, "
                f"the model (from config.json) expects {tuple(targets[key].shape)}"
            )
    if info["missing_keys"] and strict:
        raise ValueError(
            f"checkpoint is missing {len(info['missing_keys'])} weights of {type(model).__name__}: "
            f"{info['missing_keys']}; pass strict=False to keep them freshly initialised"
        )

    with torch.no_grad():
        for key in expected:
            if key in state:
                targets[key].copy_(state[key])
    model.tie_weights()

    if info["missing_keys"]:
        warnings.warn(
            f"{type(model).__name__}: {len(info['missing_keys'])} weights not in the checkpoint, "
            f"left freshly initialised: {info['missing_keys']}",
            UserWarning,
            stacklevel=3,
        )
    if info["unexpected_keys"]:
        warnings.warn(
            f"{type(model).__name__}: ignored {len(info['unexpected_keys'])} checkpoint weights it "
            f"has no place for: {info['unexpected_keys']}",
            UserWarning,
            stacklevel=3,
        )
    if info["untied_keys"]:
        warnings.warn(
            f"checkpoint has untied {info['untied_keys']}; this model ties the decoder to the "
            f"word embeddings and kept the embeddings' values",
            UserWarning,
            stacklevel=3,
        )
    return info


def _rename_legacy(key: str) -> str:
    """TF-converted checkpoints name LayerNorm parameters gamma/beta."""
    if key.endswith(".gamma"):
        return key[: -len("gamma")] + "weight"
    if key.endswith(".beta"):
        return key[: -len("beta")] + "bias"
    return key


def _match_prefix(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """Map a BertModel checkpoint (no 'bert.' prefix) onto BertForMaskedLM keys and the reverse."""
    has_prefix = any(k.startswith("bert.") for k in state)
    if prefix and not has_prefix:
        base = ("embeddings.", "encoder.", "pooler.")
        return {("bert." + k if k.startswith(base) else k): v for k, v in state.items()}
    if not prefix and has_prefix:
        return {(k.removeprefix("bert.")): v for k, v in state.items()}
    return dict(state)
