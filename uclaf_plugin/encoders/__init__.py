"""Token encoders: ``forward(input_ids (B, T), attention_mask (B, T)) -> (features (B, T, d), mask (B, T))``.

- :mod:`.transformer`: any Hugging Face encoder (the offline MiniLM by default), with overlapping windows past its
  position limit.
- :mod:`.xmlcnn`: XML-CNN's convolutions (Liu et al. 2017).
- :mod:`.attentionxml`: AttentionXML's BiLSTM (You et al. 2019).
- :mod:`.wordvectors`: word-level tokens and static word vectors (GloVe, word2vec) for the two baselines.

``uclaf_plugin.pipeline.build_encoder`` builds one by name from a ``ModelConfig``.
"""

from .attentionxml import AttentionXMLStyle
from .xmlcnn import XMLCNN

SCRATCH_ENCODERS = {"xmlcnn": XMLCNN, "attentionxml": AttentionXMLStyle}
"""Encoders trained from scratch over token ids, by name; any other encoder name is a Hugging Face model name or
path for :class:`~uclaf_plugin.encoders.transformer.TransformerEncoder`."""

__all__ = ["SCRATCH_ENCODERS", "XMLCNN", "AttentionXMLStyle"]
