"""UMT models on tiny random configs: every variant trains, saves, loads; the ResNet stays frozen; bad inputs fail clearly."""

import pytest
import torch
from transformers import AutoModel, AutoModelForTokenClassification

from configuration_umt import PAPER_VARIANTS, UMTConfig
from conftest import tiny_config_kwargs
from modeling_umt import MultiHeadCrossAttention, UMTForMultimodalNER, UMTModel

NUM_BLOCKS, FEATURE_SIZE = 49, 512  # tiny configs use ResNet-18 (512 channels, 7x7 map)


def tiny_model(**overrides) -> UMTForMultimodalNER:
    torch.manual_seed(0)
    return UMTForMultimodalNER(UMTConfig(**tiny_config_kwargs(**overrides)))


def tiny_batch(seed: int = 0, batch_size: int = 4, with_labels: bool = True) -> dict:
    """Posts of 5, 3, 1 and 4 words (pieces per word 1-2), random features; the second post has no image."""
    generator = torch.Generator().manual_seed(seed)
    words_per_post = [5, 3, 1, 4][:batch_size]
    max_pieces = 2 + 2 * max(words_per_post)
    input_ids = torch.zeros(batch_size, max_pieces, dtype=torch.long)
    first_piece_index = torch.full((batch_size, max(words_per_post)), -1)
    labels = torch.full((batch_size, max(words_per_post)), -100)
    for post, num_words in enumerate(words_per_post):
        position = 1
        for word in range(num_words):
            first_piece_index[post, word] = position
            position += int(torch.randint(1, 3, (1,), generator=generator))
        input_ids[post, : position + 1] = torch.randint(3, 120, (position + 1,), generator=generator)
        labels[post, :num_words] = torch.randint(0, 9, (num_words,), generator=generator)
    batch = {
        "input_ids": input_ids,
        "attention_mask": (input_ids > 0).long(),
        "first_piece_index": first_piece_index,
        "image_features": torch.randn(batch_size, NUM_BLOCKS, FEATURE_SIZE, generator=generator),
        "has_image": torch.tensor([1, 0, 1, 1][:batch_size]),
    }
    if with_labels:
        batch["labels"] = labels
    return batch


def text_only(batch: dict) -> dict:
    return {key: value for key, value in batch.items() if key not in ("image_features", "has_image", "pixel_values")}


def batch_for(model: UMTForMultimodalNER, batch: dict) -> dict:
    return batch if model.config.use_image else text_only(batch)


@pytest.mark.parametrize("variant", PAPER_VARIANTS)
def test_every_variant_overfits_a_handful_of_posts(variant):
    model = tiny_model(variant=variant, hidden_dropout_prob=0.0, attention_dropout_prob=0.0)
    batch = batch_for(model, tiny_batch())
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    model.train()
    losses = []
    for _ in range(40):
        output = model(**batch)
        optimizer.zero_grad()
        output.loss.backward()
        optimizer.step()
        losses.append(output.loss.item())
    assert (output.esd_loss is not None) == model.config.use_esd
    assert losses[-1] < 0.2 * losses[0], losses
    model.eval()
    with torch.no_grad():
        predicted = model(**batch).predicted_tags
    assert torch.equal(predicted, batch["labels"])


@pytest.mark.parametrize("variant", ["umt-bert-crf", "bert-crf", "umt-no-image-aware-wr"])
def test_save_and_load_give_identical_outputs(variant, tmp_path):
    model = tiny_model(variant=variant).eval()
    batch = batch_for(model, tiny_batch(with_labels=False))
    model.save_pretrained(tmp_path)
    for auto_class in (AutoModel, AutoModelForTokenClassification, UMTForMultimodalNER):
        loaded = auto_class.from_pretrained(tmp_path)
        assert type(loaded) is UMTForMultimodalNER
        with torch.no_grad():
            expected, actual = model(**batch, output_marginals=True), loaded(**batch, output_marginals=True)
        assert torch.equal(expected.logits, actual.logits)
        assert torch.equal(expected.predicted_tags, actual.predicted_tags)
        assert torch.equal(expected.marginals, actual.marginals)
    encoder = UMTModel.from_pretrained(tmp_path)
    with torch.no_grad():
        assert torch.equal(encoder(**{k: v for k, v in batch.items() if k != "first_piece_index"}).last_hidden_state,
                           model.umt(**{k: v for k, v in batch.items() if k != "first_piece_index"}).last_hidden_state)


def test_outputs_shapes_and_predicted_tags_padding():
    model = tiny_model().eval()
    batch = tiny_batch()
    with torch.no_grad():
        output = model(**batch, output_attentions=True, output_visual_gate=True, output_marginals=True)
    batch_size, num_words = batch["first_piece_index"].shape
    num_pieces = batch["input_ids"].size(1)
    assert output.logits.shape == (batch_size, num_words, 9)
    assert output.esd_logits.shape == (batch_size, num_words, 3)
    assert torch.equal(output.predicted_tags == -100, batch["first_piece_index"] < 0)
    assert output.text_image_attentions.shape == (batch_size, 4, num_pieces, NUM_BLOCKS)
    assert output.image_text_attentions.shape == (batch_size, 4, NUM_BLOCKS, num_pieces)
    assert output.coupled_attentions.shape == (batch_size, 4, num_pieces, NUM_BLOCKS)
    assert output.visual_gate.shape == (batch_size, num_pieces, 32)
    # the post without image attends to no block
    assert output.text_image_attentions[1].abs().sum() == 0
    torch.testing.assert_close(output.text_image_attentions[0].sum(-1), torch.ones(4, num_pieces))
    real = batch["first_piece_index"] >= 0
    torch.testing.assert_close(output.marginals.sum(-1)[real], torch.ones(int(real.sum())))
    torch.testing.assert_close(output.loss, output.mner_loss + 0.5 * output.esd_loss)


def test_post_without_image_ignores_its_image_slot():
    model = tiny_model().eval()
    batch = tiny_batch(with_labels=False)
    garbage = dict(batch, image_features=batch["image_features"].clone())
    garbage["image_features"][1] = float("nan")
    with torch.no_grad():
        clean, dirty = model(**batch, output_marginals=True), model(**garbage, output_marginals=True)
    assert torch.isfinite(dirty.logits).all() and torch.isfinite(dirty.marginals).all()
    assert torch.equal(clean.logits, dirty.logits)
    # a batch with no image at all runs without any image tensor (and skips the cross-modal attention work),
    # and gives the post without image exactly what it got in the mixed batch
    with torch.no_grad():
        no_images = model(**text_only(batch))
    assert torch.isfinite(no_images.logits).all()
    torch.testing.assert_close(no_images.logits[1], clean.logits[1])


def test_pixels_and_features_agree_and_resnet_stays_frozen():
    model = tiny_model()
    batch = tiny_batch(batch_size=2)
    pixels = torch.randn(2, 3, 224, 224)
    pixel_batch = dict(text_only(batch), pixel_values=pixels, has_image=torch.tensor([1, 1]))
    model.eval()
    with torch.no_grad():
        features = model.get_image_features(pixels)
        from_pixels = model(**pixel_batch).logits
        from_features = model(**dict(text_only(batch), image_features=features)).logits
    torch.testing.assert_close(from_pixels, from_features)

    frozen_before = {name: tensor.clone() for name, tensor in model.umt.vision_backbone.state_dict().items()}
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert not any(p.requires_grad for p in model.umt.vision_backbone.parameters())
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    model.train()
    assert not model.umt.vision_backbone.training and model.umt.text_encoder.training
    for _ in range(3):
        optimizer.zero_grad()
        model(**pixel_batch).loss.backward()
        optimizer.step()
    for name, tensor in model.umt.vision_backbone.state_dict().items():
        assert torch.equal(tensor, frozen_before[name]), name
    assert all(p.grad is None for p in model.umt.vision_backbone.parameters())
    assert all(p.grad is not None for p in trainable if p is not model.umt.text_encoder.embeddings.token_type_embeddings.weight)


def test_attention_with_and_without_weights_agree():
    torch.manual_seed(0)
    attention = MultiHeadCrossAttention(32, 4, attention_dropout=0.0).eval()
    queries, keys = torch.randn(3, 5, 32), torch.randn(3, 7, 32)
    key_mask = torch.tensor([[True] * 7, [True] * 3 + [False] * 4, [False] * 7])
    fast, _ = attention(queries, keys, key_mask)
    explicit, weights = attention(queries, keys, key_mask, output_attentions=True)
    torch.testing.assert_close(fast, explicit)
    assert weights[1, :, :, 3:].abs().sum() == 0 and fast[2].abs().sum() == 0


def test_conversion_matrix_trains_only_when_asked():
    fixed, trained = tiny_model(), tiny_model(train_conversion_matrix=True)
    assert "conversion_matrix" not in dict(fixed.named_parameters())
    assert dict(trained.named_parameters())["conversion_matrix"].requires_grad
    torch.testing.assert_close(fixed.conversion_matrix, torch.tensor(fixed.config.conversion_matrix()))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda b: b.pop("first_piece_index"), "first_piece_index is required"),
        (lambda b: b.update(first_piece_index=b["first_piece_index"] + 100), r"piece positions in \[0, "),
        (lambda b: b["first_piece_index"].__setitem__((0, 0), -1), "pad with -1 after"),
        (lambda b: b["labels"].__setitem__((0, 1), 42), r"labels\[0, 1\] = 42 is not a tag id"),
        (lambda b: b["labels"].__setitem__((0, 1), -100), r"labels\[0, 1\] = -100"),
        (lambda b: b.update(labels=b["labels"][:, :2]), "must have the shape of first_piece_index"),
        (lambda b: b.update(image_features=torch.randn(4, 49, 2048)), r"image_features must be \(batch, 49, 512\)"),
        (lambda b: b.update(image_features=torch.randn(3, 49, 512)), "has 3 rows for 4 posts"),
        (lambda b: b.update(pixel_values=torch.randn(4, 3, 224, 224)), "either pixel_values or image_features"),
        (lambda b: b.update(has_image=torch.ones(3)), r"has_image must have shape \(4,\)"),
        (lambda b: b.update(image_features=None), "neither pixel_values nor image_features"),
        (lambda b: b.update(attention_mask=b["attention_mask"][:, :3]), "does not match input_ids"),
    ],
)
def test_bad_inputs_raise_errors_that_name_the_problem(change, message):
    model = tiny_model()
    batch = tiny_batch()
    change(batch)
    with pytest.raises(ValueError, match=message):
        model(**batch)


def test_wrong_image_size_and_images_for_text_only_model():
    with pytest.raises(ValueError, match="the model expects"):
        tiny_model().get_image_features(torch.randn(1, 3, 96, 96))
    with pytest.raises(ValueError, match="has no image branch"):
        tiny_model(variant="bert-crf")(**tiny_batch())


def test_from_text_vision_pretrained_loads_both_parts(minilm_path, tmp_path):
    import timm
    from safetensors.torch import save_file
    from transformers import AutoModel as TextAutoModel

    torch.manual_seed(1)
    resnet = timm.create_model("resnet18", pretrained=False)
    weights_file = tmp_path / "resnet18.safetensors"
    save_file(resnet.state_dict(), str(weights_file))
    model = UMTForMultimodalNER.from_text_vision_pretrained(
        minilm_path, vision_backbone="resnet18", vision_weights_file=weights_file, vision_feature_size=512, num_cross_attention_heads=4
    )
    reference = TextAutoModel.from_pretrained(minilm_path)
    for name, tensor in model.umt.text_encoder.state_dict().items():
        assert torch.equal(tensor, reference.state_dict()[name]), name
    for name, tensor in model.umt.vision_backbone.state_dict().items():
        assert torch.equal(tensor, resnet.state_dict()[name]), name
    assert not any(p.requires_grad for p in model.umt.vision_backbone.parameters())
    assert model.config.text_config.hidden_size == 384 and model.config.variant == "umt-bert-crf"


def test_vision_feature_size_follows_the_chosen_backbone(minilm_path):
    with pytest.raises(ValueError, match="gives 512-channel feature maps, but the config's vision_feature_size is 2048"):
        UMTForMultimodalNER(UMTConfig(**tiny_config_kwargs(vision_feature_size=2048)))
    model = UMTForMultimodalNER.from_text_vision_pretrained(
        minilm_path, vision_backbone="resnet18", load_pretrained_vision_weights=False, num_cross_attention_heads=4
    )
    assert model.config.vision_feature_size == 512
    assert model.get_image_features(torch.randn(1, 3, 224, 224)).shape == (1, 49, 512)
