"""BertConfig: the hyperparameters of one BERT model, read and written as transformers' config.json.

Only the fields the model uses live here. A transformers `config.json` carries many more keys
(`classifier_dropout`, `use_cache`, `transformers_version`, ...); `from_dict` ignores them, except
the few that would change the architecture into one we do not build (a causal decoder, relative
position embeddings, another model type), which raise a ValueError instead of loading silently
into the wrong model.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONFIG_NAME = "config.json"

# hidden_act values we implement (the same names transformers uses; "gelu" is the exact erf form)
ACTIVATIONS = (
    "gelu",
    "gelu_new",
    "gelu_pytorch_tanh",
    "gelu_fast",
    "relu",
    "silu",
    "swish",
    "tanh",
)

# name -> (hidden_size, num_hidden_layers, num_attention_heads, intermediate_size)
PRESETS = {
    "tiny": (128, 2, 2, 512),
    "small": (256, 4, 4, 1024),
    "base": (768, 12, 12, 3072),
}


@dataclass
class BertConfig:
    vocab_size: int = 30522  # rows of the token embedding (and of the tied MLM decoder)
    hidden_size: int = 768  # width of every hidden state, d_model
    num_hidden_layers: int = 12  # number of BertLayer blocks in the encoder
    num_attention_heads: int = 12  # heads per self-attention; must divide hidden_size
    intermediate_size: int = 3072  # width of the feed-forward layer inside each block
    hidden_act: str = "gelu"  # FFN and MLM-head activation; "gelu" = exact erf GELU
    hidden_dropout_prob: float = 0.1  # dropout on embeddings and after each dense sub-block
    attention_probs_dropout_prob: float = 0.1  # dropout on the attention probabilities
    max_position_embeddings: int = 512  # longest sequence the absolute positions cover
    type_vocab_size: int = 2  # number of segment (token type) ids, A/B sentences
    initializer_range: float = 0.02  # std of the normal(0, std) weight initialisation
    layer_norm_eps: float = 1e-12  # epsilon of every LayerNorm
    pad_token_id: int = 0  # id of [PAD]; its embedding row is zeroed at init

    def __post_init__(self) -> None:
        for name in (
            "vocab_size",
            "hidden_size",
            "num_hidden_layers",
            "num_attention_heads",
            "intermediate_size",
            "max_position_embeddings",
            "type_vocab_size",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"BertConfig.{name} must be a positive integer, got {value!r}")
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(
                f"BertConfig.hidden_size ({self.hidden_size}) must be a multiple of "
                f"num_attention_heads ({self.num_attention_heads}); e.g. use "
                f"num_attention_heads={_divisor_hint(self.hidden_size, self.num_attention_heads)}"
            )
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            p = getattr(self, name)
            if not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
                raise ValueError(f"BertConfig.{name} must be in [0, 1), got {p!r}")
        if not isinstance(self.initializer_range, (int, float)) or self.initializer_range < 0:
            raise ValueError(
                f"BertConfig.initializer_range must be >= 0, got {self.initializer_range!r}"
            )
        if not isinstance(self.layer_norm_eps, (int, float)) or self.layer_norm_eps <= 0:
            raise ValueError(f"BertConfig.layer_norm_eps must be > 0, got {self.layer_norm_eps!r}")
        if self.hidden_act not in ACTIVATIONS:
            raise ValueError(
                f"BertConfig.hidden_act {self.hidden_act!r} is not supported; use one of {ACTIVATIONS}"
            )
        if self.pad_token_id is not None and not 0 <= self.pad_token_id < self.vocab_size:
            raise ValueError(
                f"BertConfig.pad_token_id ({self.pad_token_id}) must be in [0, vocab_size={self.vocab_size})"
            )

    # ----------------------------------------------------------------------------------------
    # presets

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> BertConfig:
        """A named size ("tiny", "small", "base") with any field overridden, e.g. vocab_size=8000."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
        hidden, layers, heads, inter = PRESETS[name]
        fields: dict[str, Any] = dict(
            hidden_size=hidden,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            intermediate_size=inter,
        )
        fields.update(overrides)
        return cls(**fields)

    # ----------------------------------------------------------------------------------------
    # dict / json (transformers' config.json layout)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BertConfig:
        """Build from a dict such as transformers' config.json; unknown keys are ignored."""
        model_type = d.get("model_type", "bert")
        if model_type != "bert":
            raise ValueError(
                f"config has model_type={model_type!r}; only 'bert' checkpoints can be loaded"
            )
        pos = d.get("position_embedding_type", "absolute")
        if pos != "absolute":
            raise ValueError(
                f"config has position_embedding_type={pos!r}; only 'absolute' is implemented"
            )
        if d.get("is_decoder", False) or d.get("add_cross_attention", False):
            raise ValueError(
                "config describes a causal/cross-attention BERT decoder; only the encoder is implemented"
            )
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def to_json_string(self, architecture: str = "BertForMaskedLM") -> str:
        d = {
            "architectures": [architecture],
            "model_type": "bert",
            **self.to_dict(),
            "position_embedding_type": "absolute",
            "tie_word_embeddings": True,
        }
        return json.dumps(d, indent=2, sort_keys=True) + "\n"

    def save(self, directory: str | os.PathLike, architecture: str = "BertForMaskedLM") -> Path:
        """Write `directory/config.json` (created if needed) atomically; returns its path.
        `architecture` is what transformers' AutoModel reads ("BertForMaskedLM" or "BertModel")."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / CONFIG_NAME
        atomic_write_bytes(path, self.to_json_string(architecture).encode("utf-8"))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> BertConfig:
        """Read a config.json file, or `path/config.json` when `path` is a directory."""
        path = Path(path)
        if path.is_dir():
            path = path / CONFIG_NAME
        if not path.is_file():
            raise FileNotFoundError(
                f"no BERT config at {path} (expected a config.json or a directory holding one)"
            )
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ValueError(f"{path} is not valid JSON: {e}") from None
        if not isinstance(d, dict):
            raise ValueError(f"{path} must hold a JSON object, got {type(d).__name__}")
        return cls.from_dict(d)


def _divisor_hint(hidden: int, heads: int) -> int:
    """The divisor of `hidden` closest to `heads` (for the error message)."""
    return min(
        (h for h in range(1, hidden + 1) if hidden % h == 0), key=lambda h: (abs(h - heads), h)
    )


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same directory, then rename over `path`."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
