"""The Label Attention Network (LAN) head of the paper (section 4.1, eqs. 2-4), with label-aware scoring options."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..sparse_labels import label_coordinates, multi_hot_bce
from .common import (
    ACTIVATIONS,
    HeadOutput,
    _bool_mask,
    _check_features,
    _check_positive,
    clipped_log_odds,
    log_prior_odds,
    masked_mean_pool,
    masked_softmax,
    standardize_features,
)
from .scores import label_token_scores
from .shortlist import merge_logits, shortlist_candidates

SCORINGS = {"paper": ("add", False), "per_label_v": ("add", True), "multiplicative": ("mul", False)}
"""``scoring`` name -> (label-token interaction, one scoring vector per label)."""
DEFAULT_SCORING = "multiplicative"
"""The most accurate form over 3 seeds on AAPD and GoEmotions, and label-aware (docs/RESULTS.md, issue 18)."""
PROPOSAL_INITS = ("label_init", "random")
"""Where the shortlist's proposal scorer starts: along the label text of ``label_init``, or nn.Linear's default."""
BIAS_INITS = (None, "zeros", "prior")
"""``bias_init``: no per-label bias (the paper's head), or one per label starting at 0 or at the label prior."""


def _initial_label_embedding(label_init: Tensor | None, num_labels: int, input_dim: int) -> Tensor:
    if label_init is None:
        return nn.init.normal_(torch.empty(num_labels, input_dim), std=input_dim**-0.5)
    label_init = torch.as_tensor(label_init)
    if label_init.dim() != 2 or label_init.shape[0] != num_labels:
        raise ValueError(
            f"label_init must have shape (num_labels={num_labels}, label_dim); got {tuple(label_init.shape)}"
        )
    return label_init.detach().clone().to(torch.get_default_dtype())


def _at_least_float32(tensor: Tensor) -> Tensor:
    return tensor.to(torch.promote_types(tensor.dtype, torch.float32))


def _proposal_scorer(
    input_dim: int, num_labels: int, label_text: Tensor | None, standardize: bool
) -> nn.Linear:
    """The shortlist's linear proposal scorer over mean-pooled features. With ``label_text (L, input_dim)`` its
    rows start as the unit label vectors times nn.Linear's mean default row norm and its bias at 0, so a label's
    first proposal score ranks like the cosine of its text and the document (what gives labels without training
    documents a rank of their own; docs/RESULTS.md, "Label text and zero-shot concepts"). With ``standardize``
    the features it reads are standardised, so the label vectors are first standardised by their own per-feature
    mean and standard deviation (an estimate of the documents' statistics, which the head has not seen yet)."""
    proposal = nn.Linear(input_dim, num_labels)
    if label_text is not None and label_text.shape[1] == input_dim:
        if standardize:
            label_text = (label_text - label_text.mean(0)) / label_text.std(0).clamp_min(1e-6)
        with torch.no_grad():
            row_norm = proposal.weight.norm(dim=1).mean()
            proposal.weight.copy_(F.normalize(label_text, dim=1) * row_norm)
            proposal.bias.zero_()
    return proposal


def _activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}; got {name!r}")
    return ACTIVATIONS[name]()


def _scoring_vectors(scoring: str, num_labels: int, attention_dim: int) -> nn.Module | nn.Parameter:
    if scoring not in SCORINGS:
        raise ValueError(f"scoring must be one of {list(SCORINGS)}; got {scoring!r}")
    if SCORINGS[scoring][1]:  # nn.Linear(a, 1)'s initialisation, drawn independently for every label
        bound = attention_dim**-0.5
        return nn.Parameter(nn.init.uniform_(torch.empty(num_labels, attention_dim), -bound, bound))
    return nn.Linear(attention_dim, 1, bias=False)


class LabelAttentionHead(nn.Module):
    """Label Attention Network (LAN) head: each label attends over the tokens of a document.

    ``s_tk = vᵀ tanh(W_l l_k + W_f f_t)`` (paper eq. 2, ``W_b[l_k; f_t]`` split into a label and a token
    projection), ``β_tk = softmax_t(s_tk)`` over real tokens (eq. 3), ``c_k = Σ_t β_tk f_t`` (eq. 4),
    ``logit_k = FC2(dropout(act(FC1([l_k; c_k])))) + r_k · c_k``; FC1, FC2 shared by all labels. The per-label
    readout ``r_k · c_k`` (``label_readout=True``, the default) is our addition: with the shared layers alone a
    label's logit depends on it only through a hidden bias, and the head learns several times more slowly
    (docs/RESULTS.md, "LAN readout"); ``label_readout=False`` gives the paper's formula.

    ``scoring`` picks the score ``s_tk``:

    - ``"multiplicative"`` (default): ``s_tk = vᵀ tanh(W_l l_k ⊙ W_f f_t)``; near-linear it is the bilinear
      ``(v ⊙ W_l l_k)ᵀ W_f f_t``, a dot-product attention with a learned label query. Over 3 seeds it was level
      with the paper's form on AAPD and +0.8 P@1 on GoEmotions, with label-specific attention.
    - ``"paper"``: eq. 2 as above, exactly. The label term ``W_l l_k`` is the same for every token, so where
      tanh is near-linear the softmax cancels it and every label gets nearly the same attention.
    - ``"per_label_v"``: ``s_tk = v_kᵀ tanh(W_l l_k + W_f f_t)`` with one scoring vector ``v_k`` per label, so
      ``v_kᵀ W_f f_t`` differs between labels even where tanh is linear.

    Label embeddings ``l_k`` are learned; ``label_init (L, e)`` starts them from e.g. the encoder's embedding
    of the label names, which puts labels and tokens in one space (``label_dim = e``, else ``input_dim``).
    ``hidden_dim`` defaults to ``input_dim``. Labels are scored ``label_chunk_size`` at a time (``None``: the
    largest chunk whose ``(chunk, tokens, attention_dim)`` block fits :data:`CHUNK_BUDGET_BYTES`); the chunk
    size never changes the logits (bit for bit when ``attention_dim`` is a multiple of 16: CPU kernels round
    the tail of a vector loop differently). Padding tokens are never scored, so padding does not change them.

    ``shortlist_size=C`` (issue 20) adds a proposal scorer, ``proposal(mean-pooled features)`` (linear, ``L``
    outputs), that picks each document's top-``C`` candidate labels; attention and readout run on those only,
    ``O(B·T·C·a)`` instead of ``O(B·T·L·a)``. Its output still has logits ``(B, L)``: candidates keep their
    LAN logit and rank above every non-candidate, which ranks by its proposal score (see
    :func:`~uclaf_plugin.heads.shortlist.merge_logits`). Train with :meth:`loss`, which puts each document's
    true labels among its candidates. With ``C >= L`` the logits equal the exact head's; ``None`` (default) is
    the exact head, without a proposal scorer. ``proposal_init="label_init"`` (default) starts the proposal
    scorer's rows along ``label_init`` when it has ``input_dim`` columns (e.g. the encoder's embedding of label
    names), so labels without a training document still rank by their text; ``"random"`` (or no such
    ``label_init``) starts it as ``nn.Linear`` does.

    ``proposal_standardize=True`` makes the proposal scorer the head of ``bert-std-prior``: it standardises each
    mean-pooled feature (batch statistics in training, running ones in eval, as ``LinearHead(standardize=True)``)
    and starts its bias at the label prior (:meth:`start_bias_at_prior`); standardised features alone left
    EURLEX57K's linear head near the prior after an epoch (docs/RESULTS.md, "Why `bert` sits at the label prior").
    ``False`` (default) is a plain linear layer over the pooled features. It needs ``shortlist_size``.

    ``bias_init`` adds a learned bias ``b_k`` per label to the logits (our addition; the paper's FC2 bias is shared):
    ``None`` (default) has none, ``"zeros"`` starts it at 0, ``"prior"`` marks it to start at the log prior odds of
    the BCE it enters (:meth:`start_bias_at_prior`, which ``TextClassifier.from_config`` calls with the training
    targets), as :class:`~uclaf_plugin.heads.LinearHead` does. Measured (docs/RESULTS.md, "A prior-started bias for
    LAN"): with an exact head it lifted AAPD test P@1 by 2.1 (three seeds); with a shortlist it cost EURLEX57K 5.7
    and 7.1 P@1 (seeds 0 and 1), so use it with exact heads.

    Raises ``ValueError`` on a non-positive size, an unknown ``scoring``, ``activation``, ``proposal_init`` or
    ``bias_init``, a ``label_init`` of the wrong shape, or ``proposal_standardize`` without ``shortlist_size``.
    """

    def __init__(
        self,
        input_dim: int,
        num_labels: int,
        attention_dim: int = 256,
        hidden_dim: int | None = None,
        label_chunk_size: int | None = None,
        label_init: Tensor | None = None,
        dropout: float = 0.1,
        activation: str = "relu",
        label_readout: bool = True,
        scoring: str = DEFAULT_SCORING,
        shortlist_size: int | None = None,
        proposal_init: str = "label_init",
        bias_init: str | None = None,
        proposal_standardize: bool = False,
    ):
        super().__init__()
        if proposal_init not in PROPOSAL_INITS:
            raise ValueError(f"proposal_init must be one of {PROPOSAL_INITS}; got {proposal_init!r}")
        if bias_init not in BIAS_INITS:
            raise ValueError(f"bias_init must be one of {BIAS_INITS}; got {bias_init!r}")
        if proposal_standardize and shortlist_size is None:
            raise ValueError(
                "proposal_standardize=True standardises the shortlist's proposal scorer: set shortlist_size"
            )
        _check_positive(
            input_dim=input_dim,
            num_labels=num_labels,
            attention_dim=attention_dim,
            hidden_dim=hidden_dim,
            label_chunk_size=label_chunk_size,
            shortlist_size=shortlist_size,
        )
        self.input_dim, self.num_labels, self.label_chunk_size = input_dim, num_labels, label_chunk_size
        self.scoring, self.shortlist_size, self.bias_init = scoring, shortlist_size, bias_init
        self.label_embedding = nn.Parameter(_initial_label_embedding(label_init, num_labels, input_dim))
        label_dim = self.label_embedding.shape[1]
        hidden_dim = hidden_dim or input_dim
        self.label_proj = nn.Linear(label_dim, attention_dim, bias=False)
        self.token_proj = nn.Linear(input_dim, attention_dim)
        vectors = _scoring_vectors(scoring, num_labels, attention_dim)
        if isinstance(vectors, nn.Parameter):
            self.label_score = vectors  # (L, a): v_k of "per_label_v"
        else:
            self.score = vectors  # the shared v
        self.fc1 = nn.Linear(label_dim + input_dim, hidden_dim)
        self.activation = _activation(activation)
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden_dim, 1)
        self.label_readout = (
            nn.Parameter(nn.init.xavier_uniform_(torch.empty(num_labels, input_dim)))
            if label_readout
            else None
        )
        self.label_bias = nn.Parameter(torch.zeros(num_labels)) if bias_init is not None else None
        text_given = label_init is not None and proposal_init == "label_init"
        label_text = self.label_embedding.detach() if text_given else None
        self.proposal = (
            _proposal_scorer(input_dim, num_labels, label_text, proposal_standardize)
            if shortlist_size is not None
            else None
        )
        self.proposal_norm = nn.BatchNorm1d(input_dim, affine=False) if proposal_standardize else None

    @property
    def starts_at_prior(self) -> bool:
        """Whether :meth:`start_bias_at_prior` has to run on the training targets before training."""
        return self.bias_init == "prior" or self.proposal_norm is not None

    def proposal_scores(self, features: Tensor, mask: Tensor) -> Tensor:
        """The shortlist's proposal scores ``(B, L)`` of ``features (B, T, input_dim)`` and bool ``mask (B, T)``:
        the proposal scorer over the mean-pooled (and, with ``proposal_standardize``, standardised) features."""
        pooled = standardize_features(masked_mean_pool(features, mask), self.proposal_norm, self.training)
        return self.proposal(pooled)

    @torch.no_grad()
    def start_bias_at_prior(self, train_targets) -> None:
        """Start each bias at the log prior odds of the BCE it enters, from ``train_targets (n, L)`` (multi-hot; dense
        or scipy sparse): the per-label biases of ``bias_init="prior"``, the proposal scorer's of
        ``proposal_standardize=True``.

        Exact head: each label's bias at its :func:`~uclaf_plugin.heads.common.log_prior_odds` (its share of
        positives over all documents). Shortlisted: the proposal scorer's bias there, since its BCE covers every
        label; the label biases at the log odds of the share of positives among a document's ``C`` candidates
        (mean of ``min(true labels, C) / C``), the same for every label, because a label's rate among the
        candidates that contain it is far above its global share (a rare label is a candidate mostly when it is
        true). On EURLEX57K the global share there cost 4.4 validation P@1 after one epoch, and this start still
        cost 5.7 and 7.1 test P@1 after two (seeds 0 and 1; docs/RESULTS.md, "A prior-started bias for LAN"). Raises
        ``ValueError`` on a shape that does not match, or on a head built with ``bias_init=None`` and without
        ``proposal_standardize``.
        """
        if self.label_bias is None and self.proposal_norm is None:
            raise ValueError(
                "this head has no bias to start at the prior: build it with bias_init='zeros' or 'prior', or with "
                "shortlist_size and proposal_standardize=True"
            )
        prior = log_prior_odds(train_targets, self.num_labels)
        if self.proposal is None:
            self.label_bias.copy_(prior)
            return
        self.proposal.bias.copy_(prior)
        if self.label_bias is None:
            return
        true_per_document = np.asarray(train_targets.sum(1), dtype=np.float64).ravel()
        share = np.minimum(true_per_document, self.shortlist_size).mean() / self.shortlist_size
        self.label_bias.fill_(clipped_log_odds(torch.tensor(share), len(true_per_document)).item())

    def scoring_vectors(self, labels: Tensor | None = None) -> Tensor:
        """``v`` as ``(a,)`` when shared, else the rows ``(n, a)`` of ``labels`` (all labels when ``None``)."""
        if not SCORINGS[self.scoring][1]:
            return self.score.weight.squeeze(0)
        return self.label_score if labels is None else self.label_score[labels]

    def attention_scores(self, features: Tensor, mask: Tensor) -> Tensor:
        """Raw scores ``s (B, L, T)``; entries at padding are 0 (never computed)."""
        batch, length, _ = features.shape
        real = mask.reshape(-1).nonzero().squeeze(1)
        tokens = self.token_proj(features[mask])  # (N, a), rows in the order of `real`
        labels = self.label_proj(self.label_embedding).to(tokens.dtype)
        v = self.scoring_vectors().to(tokens.dtype)
        interaction = SCORINGS[self.scoring][0]
        scores = label_token_scores(tokens, labels, v, self.label_chunk_size, interaction)
        full = scores.new_zeros(self.num_labels, batch * length).index_copy(1, real, scores)
        return full.view(self.num_labels, batch, length).transpose(0, 1)

    def forward(
        self, features: Tensor, mask: Tensor | None = None, return_attention: bool = False
    ) -> HeadOutput:
        """``features (B, T, input_dim)``, ``mask (B, T)`` -> logits ``(B, L)``; attention ``(B, L, T)`` only
        with ``return_attention=True`` (shortlisted, the attention rows of non-candidates are 0)."""
        _check_features(features, self.input_dim)
        mask = _bool_mask(features, mask)
        if self.proposal is not None:
            proposal = self.proposal_scores(features, mask)
            candidates = shortlist_candidates(proposal, self.shortlist_size)
            logits, attention = self._candidate_logits(features, mask, candidates)
            logits = merge_logits(logits, candidates, proposal)
            if not return_attention:
                return HeadOutput(logits)
            full = attention.new_zeros(features.shape[0], self.num_labels, features.shape[1])
            return HeadOutput(
                logits, full.scatter(1, candidates.unsqueeze(-1).expand_as(attention), attention)
            )
        attention = masked_softmax(self.attention_scores(features, mask), mask).to(features.dtype)
        logits = self._classify(torch.bmm(attention, features))
        return HeadOutput(logits, attention if return_attention else None)

    def loss(self, features: Tensor, mask: Tensor | None, targets: Tensor) -> Tensor:
        """The head's training loss (the BCE term of the paper's total loss) for multi-hot ``targets (B, L)``, dense or
        torch sparse (COO/CSR).

        Exact head: mean BCE of the logits over every label. Shortlisted: mean BCE over each document's candidates
        (its true labels among them) plus the proposal scorer's mean BCE over every label.
        """
        _check_features(features, self.input_dim)
        mask = _bool_mask(features, mask)
        if self.proposal is None:
            return multi_hot_bce(_at_least_float32(self(features, mask).logits), targets)
        proposal = self.proposal_scores(features, mask)
        rows, columns = label_coordinates(targets, "targets")
        positive = torch.zeros(proposal.shape, dtype=torch.bool, device=proposal.device)
        positive[rows.to(proposal.device), columns.to(proposal.device)] = True
        candidates = shortlist_candidates(proposal, self.shortlist_size, positive)
        logits, _ = self._candidate_logits(features, mask, candidates)
        logits, proposal = _at_least_float32(logits), _at_least_float32(proposal)
        candidate_loss = F.binary_cross_entropy_with_logits(
            logits, positive.gather(1, candidates).to(logits.dtype)
        )
        return candidate_loss + multi_hot_bce(proposal, targets)

    def _candidate_logits(self, features: Tensor, mask: Tensor, candidates: Tensor) -> tuple[Tensor, Tensor]:
        """LAN logits and attention ``(B, C[, T])`` of each document's ``candidates (B, C)``, every document in
        one batched pass (padding tokens are scored, then masked out of the softmax)."""
        tokens = self.token_proj(features)  # (B, T, a)
        labels = self.label_proj(self.label_embedding[candidates]).to(tokens.dtype)  # (B, C, a)
        v = self.scoring_vectors(candidates).to(tokens.dtype)  # (a,) or (B, C, a)
        interaction = SCORINGS[self.scoring][0]
        scores = label_token_scores(tokens, labels, v, self.label_chunk_size, interaction)
        attention = masked_softmax(scores, mask).to(features.dtype)
        return self._classify(torch.bmm(attention, features), candidates), attention

    def _classify(self, context: Tensor, labels: Tensor | None = None) -> Tensor:
        """Logits of ``context (B, n, d)``: every label (``labels=None``, ``n = L``) or ``labels (B, n)``."""
        # FC1([l_k; c_k]) = A l_k + C c_k + b: the label half is the same for every document; compute it once.
        label_dim = self.label_embedding.shape[1]
        weight_label, weight_context = self.fc1.weight.split([label_dim, self.input_dim], dim=1)
        embedding = self.label_embedding if labels is None else self.label_embedding[labels]
        label_part = F.linear(embedding, weight_label, self.fc1.bias)
        hidden = self.activation(F.linear(context, weight_context) + label_part.to(context.dtype))
        logits = self.fc2(self.dropout(hidden)).squeeze(-1)
        if self.label_readout is not None:
            readout = self.label_readout if labels is None else self.label_readout[labels]
            logits = logits + (context * readout.to(context.dtype)).sum(-1)
        if self.label_bias is not None:
            logits = logits + (self.label_bias if labels is None else self.label_bias[labels]).to(
                logits.dtype
            )
        return logits
