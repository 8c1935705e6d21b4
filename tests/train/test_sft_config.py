"""The recipe → SFTConfig mapping, on its own: no weights, no device."""

from __future__ import annotations

import pytest

from assistant_builder.train.recipe import Recipe, load_recipe
from assistant_builder.train.worker import sft_config


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def test_cpu_lora_recipe_maps_to_a_cpu_config(tmp_path) -> None:
    recipe = load_recipe("cpu-lora", ["epochs=2", "lora_r=4"])
    config = sft_config(recipe, "lora", cuda=False, output_dir=str(tmp_path))
    assert config.num_train_epochs == 2
    assert config.learning_rate == recipe.learning_rate
    assert config.per_device_train_batch_size == recipe.batch_size
    assert config.max_length == recipe.max_seq_length
    # The framework defaults are GPU settings that made a CPU step ~20x slower.
    assert config.bf16 is False
    assert config.gradient_checkpointing == recipe.gradient_checkpointing
    assert config.use_cpu is True
    assert config.eval_strategy == "no"
    assert config.load_best_model_at_end is False
    assert config.neftune_noise_alpha is None  # off unless a recipe asks


def test_neftune_noise_reaches_the_trainer(tmp_path) -> None:
    recipe = load_recipe("cpu-lora", ["neftune_noise_alpha=5"])
    config = sft_config(recipe, "lora", cuda=False, output_dir=str(tmp_path))
    assert config.neftune_noise_alpha == 5.0


def test_the_given_optimizer_wins_over_the_recipe(tmp_path) -> None:
    recipe = Recipe(optimizer="paged_adamw_8bit")
    assert sft_config(recipe, "lora", cuda=False, output_dir=str(tmp_path)).optim == (
        "paged_adamw_8bit"
    )
    config = sft_config(recipe, "lora", cuda=False, output_dir=str(tmp_path), optim="adamw_torch")
    assert config.optim == "adamw_torch"


# TrainingArguments refuses bf16 or use_cpu=False on a machine without CUDA.
@pytest.mark.gpu
@pytest.mark.skipif(not _cuda(), reason="needs a CUDA GPU: transformers checks the device")
def test_qlora_on_cuda_uses_bf16_on_the_gpu(tmp_path) -> None:
    config = sft_config(Recipe(mode="qlora"), "qlora", cuda=True, output_dir=str(tmp_path))
    assert config.bf16 is True
    assert config.use_cpu is False
    assert config.dataloader_pin_memory is True


def test_padding_free_unsets_max_length_and_counts_every_token(tmp_path) -> None:
    config = sft_config(Recipe(), "lora", cuda=False, output_dir=str(tmp_path), padding_free=True)
    assert config.padding_free is True
    assert config.max_length is None
    assert config.include_num_input_tokens_seen == "all"


def test_early_stopping_needs_an_eval_split(tmp_path) -> None:
    recipe = Recipe(early_stopping_patience=2)
    without = sft_config(recipe, "lora", cuda=False, output_dir=str(tmp_path))
    assert without.load_best_model_at_end is False
    with_eval = sft_config(recipe, "lora", cuda=False, output_dir=str(tmp_path), has_eval=True)
    assert with_eval.eval_strategy == "epoch"
    assert with_eval.load_best_model_at_end is True
    assert with_eval.metric_for_best_model == "eval_loss"
    assert with_eval.save_strategy == "epoch"
