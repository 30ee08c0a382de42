"""bertmlm: BERT masked-language-model pretraining in PyTorch."""

from .collator import MLMCollator
from .config import BertConfig
from .modeling import (
    BertAttention,
    BertEmbeddings,
    BertEncoder,
    BertForMaskedLM,
    BertIntermediate,
    BertLayer,
    BertLMPredictionHead,
    BertModel,
    BertModelOutput,
    BertOnlyMLMHead,
    BertOutput,
    BertPooler,
    BertPredictionHeadTransform,
    BertPreTrainedModel,
    BertSelfAttention,
    BertSelfOutput,
    MaskedLMOutput,
)

__all__ = [
    "BertAttention",
    "BertConfig",
    "BertEmbeddings",
    "BertEncoder",
    "BertForMaskedLM",
    "BertIntermediate",
    "BertLMPredictionHead",
    "BertLayer",
    "BertModel",
    "BertModelOutput",
    "BertOnlyMLMHead",
    "BertOutput",
    "BertPooler",
    "BertPreTrainedModel",
    "BertPredictionHeadTransform",
    "BertSelfAttention",
    "BertSelfOutput",
    "MLMCollator",
    "MaskedLMOutput",
]
