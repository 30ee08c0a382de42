"""bertmlm: BERT masked-language-model pretraining in PyTorch."""
