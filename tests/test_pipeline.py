import numpy as np
import pytest
import torch

from uclaf_plugin.heads import masked_mean_pool
from uclaf_plugin.pipeline import ModelConfig, TextClassifier, label_name_embeddings, pad_batch


def _classifier(label_names, label_texts=None, **overrides):
    config = dict(
        encoder="xmlcnn",
        head="lan",
        contrastive="per_label",
        max_length=32,
        init_embeddings=False,
        encoder_kwargs={"embedding_dim": 16, "num_filters": 8},
        head_kwargs={"attention_dim": 16},
    )
    return TextClassifier.from_config(
        ModelConfig(**{**config, **overrides}), label_names, label_texts=label_texts
    )


def test_saved_model_gives_bit_identical_scores(tmp_path):
    classifier = _classifier(["a", "b", "c"])
    texts = ["the first text", "another one", ""]
    classifier.save(tmp_path)
    reloaded = TextClassifier.load(tmp_path)
    assert reloaded.label_names == ["a", "b", "c"] and reloaded.config == classifier.config
    assert np.array_equal(reloaded.scores(texts), classifier.scores(texts))


def test_a_model_saved_before_key_precision_existed_loads_with_the_fp32_keys_it_trained_with(tmp_path):
    from uclaf_plugin.files import read_json, write_json

    _classifier(["a", "b"]).save(tmp_path)
    config = read_json(tmp_path / "config.json")
    assert config["model"].pop("key_precision") == "auto"
    write_json(tmp_path / "config.json", config)
    assert TextClassifier.load(tmp_path).model.key_precision == "fp32"


def test_saved_minilm_model_gives_bit_identical_scores(tmp_path):
    classifier = TextClassifier.from_config(
        ModelConfig(head="linear", contrastive=None, max_length=16), ["x", "y"]
    )
    classifier.save(tmp_path)
    texts = ["a short text", "label attention"]
    assert np.array_equal(TextClassifier.load(tmp_path).scores(texts), classifier.scores(texts))


def test_predict_ranks_labels_by_score():
    classifier = _classifier(["a", "b", "c", "d"])
    texts = ["one text", "two texts here"]
    scores = classifier.scores(texts)
    predictions = classifier.predict(texts, top_k=3)
    for row, ranked in zip(scores, predictions, strict=True):
        assert [label for label, _ in ranked] == [
            ["a", "b", "c", "d"][j] for j in np.argsort(-row, kind="stable")[:3]
        ]
        assert [s for _, s in ranked] == pytest.approx(sorted(row, reverse=True)[:3])


def test_label_names_initialise_the_label_attention(tokenizer):
    classifier = _classifier(["cs.IT", "math.PR"], label_init="names")
    encoder = classifier.model.encoder
    expected = label_name_embeddings(encoder, tokenizer, ["cs.IT", "math.PR"])
    ids, mask = pad_batch(tokenizer(["cs it", "math pr"])["input_ids"], 0)
    features, feature_mask = encoder.eval()(ids, mask)
    assert torch.allclose(expected, masked_mean_pool(features, feature_mask))
    label_vectors = [
        p for n, p in classifier.model.head.named_parameters() if "label" in n and p.shape == expected.shape
    ]
    assert label_vectors and torch.allclose(label_vectors[0], expected)


def test_label_texts_replace_code_like_names_for_the_label_init(tokenizer):
    torch.manual_seed(0)
    by_text = _classifier(["2457", "4274"], label_texts=["transport", "legal status"], label_init="names")
    expected = label_name_embeddings(by_text.model.encoder, tokenizer, ["transport", "legal status"])
    assert by_text.label_names == ["2457", "4274"]
    assert any(
        torch.allclose(p, expected) for p in by_text.model.head.parameters() if p.shape == expected.shape
    )


def test_load_names_a_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        TextClassifier.load(tmp_path / "nothing")


def test_pad_batch_pads_right_and_masks():
    ids, mask = pad_batch([[5, 6, 7], [8]], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]


def test_minilm_loads_offline_and_a_bad_path_says_what_to_do(minilm, tokenizer):
    from uclaf_plugin.encoders.transformer import TransformerEncoder

    ids, mask = pad_batch(tokenizer(["label attention", "x"])["input_ids"], tokenizer.pad_token_id)
    features, feature_mask = minilm(ids, mask)
    assert minilm.output_dim == 384 and features.shape == (2, ids.shape[1], 384)
    assert feature_mask.tolist() == mask.bool().tolist()
    with pytest.raises(ValueError, match="/no/such/model.*--encoder minilm"):
        TransformerEncoder("/no/such/model")
