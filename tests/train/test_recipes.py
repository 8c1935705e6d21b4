from __future__ import annotations

from pathlib import Path

import pytest

from assistant_builder.errors import UserError
from assistant_builder.train.recipe import (
    list_recipes,
    load_recipe,
    recipe_header_command,
    recipe_path,
    recipes_dir,
)

SHIPPED = list_recipes()


def test_shipped_recipes_exist() -> None:
    assert "cpu-lora" in SHIPPED
    assert any("qlora" in n for n in SHIPPED)
    assert len(SHIPPED) >= 5


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_recipe_validates_and_names_its_command(name: str) -> None:
    recipe = load_recipe(name)
    assert recipe.name == name
    # Preference training continues an SFT run: its command names one.
    start = " --from RUN" if recipe.method == "dpo" else ""
    assert (
        recipe_header_command(recipe_path(name))
        == f"assistant-builder train --recipe {name}{start}"
    )


def test_cpu_default_is_lora_on_embedded_model() -> None:
    r = load_recipe("cpu-lora")
    assert r.base_model == "default"
    assert r.mode in ("auto", "lora")
    assert not r.gradient_checkpointing


def test_qlora_recipes_use_paged_optimizer() -> None:
    for name in SHIPPED:
        r = load_recipe(name)
        if r.mode == "qlora":
            assert "paged" in r.optimizer


def test_unknown_key_is_a_clear_error(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text("# x\nname: bad\nlerning_rate: 0.1\n")
    with pytest.raises(UserError, match=r"bad.yaml: lerning_rate: unknown key"):
        load_recipe(str(p))


def test_bad_value_is_a_clear_error(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text("lora_r: 0\n")
    with pytest.raises(UserError, match=r"lora_r"):
        load_recipe(str(p))


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    p = tmp_path / "broken.yaml"
    p.write_text("name: x\nepochs: [1,\n")
    with pytest.raises(UserError, match=r"broken.yaml:\d+: not valid YAML"):
        load_recipe(str(p))


def test_set_overrides_any_field() -> None:
    r = load_recipe("cpu-lora", ["epochs=1", "lora_r=4", "mode=lora", "target_modules=[q_proj]"])
    assert (r.epochs, r.lora_r, r.mode, r.target_modules) == (1, 4, "lora", ["q_proj"])


def test_set_unknown_key_rejected() -> None:
    with pytest.raises(UserError, match="unknown recipe key"):
        load_recipe("cpu-lora", ["nope=1"])


def test_unknown_recipe_lists_available() -> None:
    with pytest.raises(UserError, match="cpu-lora"):
        load_recipe("does-not-exist")


def test_recipes_dir_is_the_repository_folder() -> None:
    assert (recipes_dir() / "cpu-lora.yaml").is_file()


def test_unknown_optimizer_is_a_clear_error() -> None:
    with pytest.raises(UserError, match=r"optimizer 'adamw_torc' is not a transformers optimizer"):
        load_recipe("cpu-lora", ["optimizer=adamw_torc"])
    # A rarer name transformers knows is accepted.
    assert load_recipe("cpu-lora", ["optimizer=adafactor"]).optimizer == "adafactor"


def test_qlora_recipes_follow_the_method() -> None:
    """QLoRA as published: all-linear LoRA, paged optimizer; the GPU recipes cover the usual
    small instruct models a user would pick."""
    bases = set()
    for name in SHIPPED:
        r = load_recipe(name)
        if r.mode == "qlora":
            assert r.target_modules == "all-linear" and r.optimizer == "paged_adamw_8bit"
            bases.add(r.base_model)
    assert {
        "HuggingFaceTB/SmolLM2-360M-Instruct",
        "Qwen/Qwen2.5-0.5B-Instruct",
        "meta-llama/Llama-3.2-1B-Instruct",
    } <= bases


def test_form_fields_give_a_recipe_or_per_field_errors() -> None:
    from assistant_builder.train.recipe import recipe_from_fields

    base = load_recipe("cpu-lora")
    recipe, errors = recipe_from_fields(base, {"epochs": "2", "learning_rate": "0.001"})
    assert errors == [] and recipe is not None
    assert (recipe.epochs, recipe.learning_rate, recipe.lora_r) == (2, 0.001, base.lora_r)

    recipe, errors = recipe_from_fields(
        base, {"learning_rate": "5", "lora_r": "many", "epochs": "2"}
    )
    assert recipe is None
    assert [field for field, _ in errors] == ["lora_r", "learning_rate"]
    assert "less than 1" in dict(errors)["learning_rate"]
    assert recipe_from_fields(base, {"batch_size": ""})[1][0][0] == "batch_size"  # empty: missing
    assert recipe_from_fields(base, {"nope": "1"}) == (None, [("nope", "unknown recipe key")])
    # A rule across fields is reported against the recipe, not a field.
    _, errors = recipe_from_fields(base, {"lora_r": "1", "lora_alpha": "64"})
    assert errors and errors[0][0] == "recipe" and "lora_alpha" in errors[0][1]
