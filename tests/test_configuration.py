"""UMTConfig: defaults, paper variants, validation, serialisation."""

import pytest
from huggingface_hub.errors import StrictDataclassFieldValidationError
from transformers import AutoConfig

from configuration_umt import PAPER_VARIANTS, VARIANT_SWITCHES, UMTConfig


def test_default_is_full_size_umt_bert_crf():
    config = UMTConfig()
    assert config.variant == "umt-bert-crf"
    assert (config.text_config.model_type, config.text_config.hidden_size, config.text_config.num_hidden_layers) == ("bert", 768, 12)
    assert config.text_config.vocab_size == 28996  # bert-base-cased
    assert (config.vision_backbone, config.vision_feature_size, config.num_visual_blocks) == ("resnet152.tv_in1k", 2048, 49)
    assert (config.num_cross_attention_heads, config.hidden_dropout_prob, config.esd_loss_weight) == (12, 0.1, 0.5)
    assert all(getattr(config, switch) for switch in VARIANT_SWITCHES["umt-bert-crf"])
    assert not config.train_conversion_matrix
    assert config.labels == ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC"]


@pytest.mark.parametrize("variant", PAPER_VARIANTS)
def test_every_variant_round_trips(variant, tmp_path):
    config = UMTConfig(variant=variant)
    config.save_pretrained(tmp_path)
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(loaded, UMTConfig)
    expected = "mt-bert-crf" if variant == "umt-no-esd" else variant
    assert loaded.variant == config.variant == expected
    assert loaded.to_diff_dict() == config.to_diff_dict()
    assert [getattr(loaded, name) for name in VARIANT_SWITCHES[expected]] == list(VARIANT_SWITCHES[expected].values())


def test_switches_name_their_variant():
    assert UMTConfig(use_image=False).variant == "bert-crf"
    assert UMTConfig(use_esd=False).variant == "mt-bert-crf"
    assert UMTConfig(use_visual_gate=False).variant == "umt-no-visual-gate"
    assert UMTConfig(use_conversion_matrix=False).variant == "umt-no-conversion-matrix"
    assert UMTConfig(use_image_aware_word_representations=False).variant == "umt-no-image-aware-wr"
    assert UMTConfig(use_visual_gate=False, use_conversion_matrix=False).variant == "custom"


def test_conversion_matrix_follows_the_labels():
    config = UMTConfig(id2label={0: "B-PER", 1: "I-PER", 2: "O", 3: "B-OTHER", 4: "I-OTHER"})
    assert config.span_label_ids() == [1, 2, 0, 1, 2]
    assert config.conversion_matrix() == [
        [0.0, 0.0, 1.0, 0.0, 0.0],  # O -> O
        [0.5, 0.0, 0.0, 0.5, 0.0],  # B -> B-PER, B-OTHER
        [0.0, 0.5, 0.0, 0.0, 0.5],  # I -> I-PER, I-OTHER
    ]
    assert config.label2id == {"B-PER": 0, "I-PER": 1, "O": 2, "B-OTHER": 3, "I-OTHER": 4}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"variant": "umt"}, "unknown variant 'umt'"),
        ({"variant": "bert-crf", "use_esd": True}, "variant='bert-crf' sets use_esd=False"),
        ({"use_image": False, "use_esd": True}, "use_image=False is the text-only BERT-CRF"),
        ({"use_esd": False, "use_conversion_matrix": True}, "use_conversion_matrix=True needs the ESD branch"),
        ({"use_conversion_matrix": False, "train_conversion_matrix": True}, "train_conversion_matrix=True needs"),
        ({"hidden_dropout_prob": 1.0}, r"hidden_dropout_prob must be in \[0, 1\)"),
        ({"esd_loss_weight": -0.1}, "esd_loss_weight"),
        ({"num_cross_attention_heads": 5}, "not a multiple of num_cross_attention_heads"),
        ({"vision_grid_size": 0}, "vision_grid_size must be a positive integer"),
        ({"id2label": {0: "O", 1: "B-PER"}}, r"missing \['I-PER'\]"),
        ({"id2label": {0: "O", 1: "PER"}}, "'PER' is not BIO2"),
        ({"id2label": {0: "O"}}, "at least one entity type"),
        ({"id2label": {0: "O", 2: "B-PER", 3: "I-PER"}}, "must number its labels"),
    ],
)
def test_invalid_configs_raise_value_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        UMTConfig(**kwargs)


def test_whole_numbers_are_accepted_for_float_settings_and_wrong_types_are_not():
    config = UMTConfig(hidden_dropout_prob=0, esd_loss_weight=1)
    assert (config.hidden_dropout_prob, config.esd_loss_weight) == (0, 1)
    with pytest.raises(StrictDataclassFieldValidationError, match="use_esd"):
        UMTConfig(use_esd="yes")
