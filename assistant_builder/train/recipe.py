"""Training recipes: YAML files validated into a pydantic model.

Each shipped recipe lives in ``recipes/NAME.yaml`` and opens with a comment that is the exact
command to run it. Unknown keys and bad values are clear errors that name the file. ``--set
key=value`` overrides any field; values are parsed as YAML scalars (``--set lora_r=8``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from assistant_builder.errors import UserError

DEFAULT_RECIPE = "cpu-lora"
NO_BUDGET = frozenset({"", "none", "off", "no", "null"})
_COMMON_OPTIMIZERS = frozenset(
    {
        "adamw_torch",
        "adamw_torch_fused",
        "paged_adamw_8bit",
        "paged_adamw_32bit",
        "adamw_8bit",
        "sgd",
    }
)


class Recipe(BaseModel):
    """Everything that decides how a run trains. Each field's description says what the key
    does, for readers of this file and of the recipes' JSON schema; no command prints them yet."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    name: str = Field("custom", description="Short name of the recipe.")
    description: str = Field("", description="One line saying what the recipe is for.")
    base_model: str = Field(
        "default",
        description="'default' (embedded SmolLM2-135M-Instruct), a local folder, or a hub id.",
    )
    mode: Literal["auto", "lora", "qlora"] = Field(
        "auto",
        description="auto: QLoRA on CUDA, plain LoRA in fp32 on CPU (QLoRA on CPU is ~13x slower).",
    )
    lora_r: int = Field(16, ge=1, le=1024, description="LoRA rank.")
    lora_alpha: int = Field(32, ge=1, description="LoRA scaling numerator (alpha / r).")
    lora_dropout: float = Field(0.05, ge=0.0, lt=1.0, description="Dropout on the LoRA path.")
    target_modules: str | list[str] = Field(
        "all-linear", description="Modules that get LoRA: 'all-linear' or a list of names."
    )
    learning_rate: float = Field(2e-4, gt=0, lt=1, description="Peak learning rate.")
    lr_scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup"] = Field(
        "cosine", description="Learning-rate schedule after warm-up."
    )
    warmup_ratio: float = Field(0.05, ge=0, lt=1, description="Share of steps for warm-up.")
    epochs: float = Field(3.0, gt=0, le=100, description="Passes over the training split.")
    max_steps: int = Field(-1, ge=-1, description="Stop after this many optimizer steps (-1: off).")
    batch_size: int = Field(8, ge=1, le=1024, description="Conversations per device batch.")
    grad_accum: int = Field(1, ge=1, le=1024, description="Gradient accumulation steps.")
    max_seq_length: int = Field(512, ge=32, le=32768, description="Longer rows are truncated.")
    weight_decay: float = Field(0.0, ge=0, lt=1, description="AdamW weight decay.")
    max_grad_norm: float = Field(1.0, gt=0, description="Gradient clipping norm.")
    neftune_noise_alpha: float | None = Field(
        None,
        gt=0,
        description="NEFTune: uniform noise of this scale added to the input embeddings while "
        "training (none: off); it keeps a small model from keying on the exact wording.",
    )
    seed: int = Field(42, description="Random seed for data order and LoRA init.")
    eval_each_epoch: bool = Field(True, description="Compute eval-split loss after every epoch.")
    early_stopping_patience: int | None = Field(
        None, ge=1, description="Stop when eval loss has not improved for this many evals."
    )
    time_budget: str | float | None = Field(
        None,
        description="Wall-clock budget for the run, e.g. 15m or 1h (none: no budget): plans the "
        "whole epochs that fit at this machine's measured tokens/s (at most `epochs`), plans "
        "again from the speed measured in the run's first steps, and stops at the budget.",
    )
    time_budget_strict: bool = Field(
        True,
        description="When one epoch does not fit the budget: refuse to start (true), or train "
        "one whole epoch anyway with a notice (false: a recipe's own default budget, so that a "
        "large FAQ still trains instead of failing).",
    )
    time_budget_min_epochs: int = Field(
        1,
        ge=1,
        le=100,
        description="With a lenient budget (time_budget_strict: false), the fewest epochs a "
        "run trains however long they take (at most `epochs`): fewer do not learn the answers.",
    )
    stop_loss: float | None = Field(
        None,
        gt=0,
        description="End the run after an epoch whose mean answer loss is below this: the "
        "training answers are learned and more epochs only cost time.",
    )
    fit_long_rows: bool = Field(
        True,
        description="Raise max_seq_length for the run to the longest conversation (up to the "
        "model's context) instead of leaving long answers out; each long row is reported.",
    )
    paraphrase_answer_tokens: int = Field(
        0,
        ge=0,
        description="Train each paraphrase row (dataset meta how: paraphrased) on only the "
        "first N tokens of its answer, with no end-of-turn token at the cut; the row with the "
        "source's own question still trains the whole answer. Fewer tokens per epoch, which a "
        "time budget turns into more epochs. 0: every row trains its whole answer.",
    )
    paraphrase_answer_tokens_when_short: int = Field(
        0,
        ge=0,
        description="With a time budget that cannot fit the recipe's epochs with whole answers "
        "(and paraphrase_answer_tokens 0): cut paraphrase rows to this many answer tokens "
        "when that fits more epochs. 0: never.",
    )
    padding_free: bool = Field(
        True,
        description="Batch rows end to end without padding (position ids restart per row), "
        "with attention that keeps the rows apart: flash-attention on CUDA (padded when it is "
        "not installed), one causal SDPA call per row on CPU.",
    )
    gradient_checkpointing: bool = Field(
        False, description="Trade compute for memory; only worth it on large models."
    )
    fused_lora: bool = Field(
        True,
        description="On CPU, run each LoRA layer as one fused forward/backward (same gradients "
        "as PEFT; fewer ops, less memory); needs lora_dropout 0, and DoRA or a 4-bit base "
        "keep PEFT's own forward.",
    )
    onednn_linear: bool = Field(
        True,
        description="On CPU, compute the frozen fp32 matmuls (the fused LoRA layers' base "
        "weights, both ways, and the LM head) with oneDNN's linear kernel instead of torch's "
        "mm, whose BLAS may not use AVX-512 on every CPU; the same results to float rounding.",
    )
    optimizer: str = Field(
        "adamw_torch",
        description="Optimizer name as transformers knows it (QLoRA: paged_adamw_8bit).",
    )
    logging_steps: int = Field(1, ge=1, description="Log loss every N optimizer steps.")
    save_steps: int = Field(50, ge=1, description="Checkpoint every N optimizer steps.")
    threads: int | None = Field(
        None, ge=1, description="CPU threads for torch (default: all cores)."
    )
    # Several processes, GPUs or machines (train/distributed.py launches them with accelerate).
    processes: int = Field(
        1,
        ge=1,
        le=1024,
        description="Training processes per machine: one per GPU, or up to one per CPU core. "
        "Each takes batch_size rows a step, so the effective batch is batch_size x grad_accum "
        "x processes x nodes.",
    )
    strategy: Literal["ddp", "fsdp", "deepspeed"] = Field(
        "ddp",
        description="How several processes share the work: ddp (a full copy each, gradients "
        "averaged), fsdp (weights sharded across GPUs: models that do not fit one), deepspeed "
        "(ZeRO stage 2; needs the deepspeed package).",
    )
    nodes: int = Field(1, ge=1, le=1024, description="Machines taking part in the run.")
    main_address: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_.:\[\]-]+:[0-9]{1,5}$",
        description="HOST:PORT of machine 0, which every machine can reach (nodes > 1).",
    )
    join_timeout: int = Field(
        300, ge=5, le=86400, description="Seconds to wait for every machine to join the run."
    )
    # Retrieval-aware training (retrieval/raft.py builds the extra rows).
    raft_share: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Share of training conversations that also get a copy with retrieved "
        "passages in the prompt (retrieval-aware training; 0: closed-book only).",
    )
    raft_k: int = Field(3, ge=1, le=20, description="Passages retrieved per question.")
    raft_gold_share: float = Field(
        0.8,
        ge=0,
        le=1,
        description="Of the retrieval copies, the share whose passages include the answer's; "
        "the rest get distractors only and the out-of-scope reply.",
    )
    raft_layout: Literal["passages-first", "question-first"] = Field(
        "passages-first", description="Where the question goes relative to the passages."
    )
    raft_context_tokens: int = Field(
        768, ge=64, le=32768, description="Token budget of the user message with passages."
    )
    # Updates (train --from RUN: train/incremental.py picks the rows).
    replay_share: float = Field(
        0.25,
        ge=0,
        le=1,
        description="In an update (train --from RUN), the share of the unchanged training rows "
        "trained again with the changed and new ones, so the update does not forget them.",
    )
    update_guard: bool = Field(
        True,
        description="After an update (train --from RUN), check that every unchanged answer "
        "the parent gave back word for word still comes back, and train the ones that do not "
        "again with the changed rows (train/guard.py).",
    )
    update_epochs: float | None = Field(
        2.0,
        gt=0,
        le=100,
        description="Epochs of an update (train --from RUN) over its rows; empty: `epochs`.",
    )

    # Preference training (train/dpo.py): DPO on dataset/preferences.jsonl from an SFT run.
    method: Literal["sft", "dpo"] = Field(
        "sft",
        description="sft: learn the dataset's answers; dpo: from an SFT run (--from RUN), "
        "prefer the chosen over the rejected answer of each pair in dataset/preferences.jsonl "
        "(blind ratings, served corrections).",
    )
    dpo_beta: float = Field(
        0.1,
        gt=0,
        le=10,
        description="How far DPO may move from the parent run: higher stays closer to it.",
    )
    dpo_loss: Literal["sigmoid", "ipo", "hinge", "robust", "apo_zero"] = Field(
        "sigmoid",
        description="DPO loss as TRL names it: sigmoid (the DPO paper), ipo (less prone to "
        "overfit few pairs), hinge, robust (noisy ratings), apo_zero.",
    )
    dpo_sft_weight: float = Field(
        0.0,
        ge=0,
        le=10,
        description="Weight of an added SFT loss on the chosen answers (RPO): keeps the "
        "preferred answers likely, not only likelier than the rejected ones; 0: plain DPO.",
    )
    dpo_max_prompt_length: int = Field(
        384,
        ge=16,
        le=32768,
        description="Pairs whose prompt is longer (tokens, chat template applied) are left "
        "out and reported, never cut.",
    )
    dpo_max_completion_length: int = Field(
        256,
        ge=8,
        le=32768,
        description="Pairs whose chosen or rejected answer is longer (tokens) are left out "
        "and reported, never cut.",
    )

    @field_validator("time_budget", mode="before")
    @classmethod
    def _no_budget(cls, value: Any) -> Any:
        # `--time-budget none` / `--set time_budget=off` switch a recipe's own budget off.
        if isinstance(value, str) and value.strip().lower() in NO_BUDGET:
            return None
        return value

    @model_validator(mode="after")
    def _check(self) -> Recipe:
        if self.time_budget is not None:
            from assistant_builder.train.budget import parse_duration

            try:
                parse_duration(self.time_budget)
            except UserError as e:
                raise ValueError(str(e)) from None
        if self.lora_alpha > 16 * self.lora_r:
            raise ValueError(
                "lora_alpha is more than 16x lora_r; that scale is almost surely a typo"
            )
        if self.optimizer not in _COMMON_OPTIMIZERS:
            # Rare names are checked against transformers itself (a heavier import).
            from transformers.training_args import OptimizerNames

            known = {o.value for o in OptimizerNames}
            if self.optimizer not in known:
                raise ValueError(
                    f"optimizer {self.optimizer!r} is not a transformers optimizer "
                    f"(e.g. {', '.join(sorted(_COMMON_OPTIMIZERS))})"
                )
        if self.nodes > 1 and not self.main_address:
            raise ValueError("nodes > 1 needs main_address=HOST:PORT of machine 0")
        if self.method == "dpo" and self.raft_share > 0:
            raise ValueError("method dpo trains on preference pairs: set raft_share 0")
        return self


def recipes_dir() -> Path:
    """Shipped recipes: inside the wheel, or the repository's recipes/ in a source checkout."""
    from assistant_builder.templates import shipped_dir

    return shipped_dir("recipes")


def list_recipes() -> list[str]:
    return sorted(p.stem for p in recipes_dir().glob("*.yaml"))


def recipe_path(name_or_file: str) -> Path:
    p = Path(name_or_file)
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.is_file():
            raise UserError(f"{p}: recipe file not found")
        return p
    path = recipes_dir() / f"{name_or_file}.yaml"
    if not path.is_file():
        raise UserError(f"unknown recipe {name_or_file!r} (available: {', '.join(list_recipes())})")
    return path


def _format_validation_error(path: Path | str, e: ValidationError) -> str:
    parts = []
    for err in e.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "recipe"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        parts.append(f"{loc}: {msg}")
    return f"{path}: " + "; ".join(parts)


def parse_value(raw: str) -> Any:
    """A value typed for one recipe key (``--set key=value``, a form field): YAML, so numbers
    and booleans come out typed; text that is not YAML stays text."""
    import yaml

    try:
        return yaml.safe_load(raw) if raw.strip() else raw
    except yaml.YAMLError:
        return raw


def recipe_from_fields(
    base: Recipe, fields: dict[str, str]
) -> tuple[Recipe | None, list[tuple[str, str]]]:
    """``base`` with the typed ``fields`` (key → text, as in a form) applied and validated:
    (the recipe, []) or (None, [(field, problem), ...]), the field being a recipe key or
    "recipe" for a rule across keys. An empty field is a missing value."""
    errors = [(k, "unknown recipe key") for k in fields if k not in Recipe.model_fields]
    if errors:
        return None, errors
    values = {k: parse_value(v.strip()) if v.strip() else None for k, v in fields.items()}
    budget = values.get("time_budget")
    if budget is not None and str(budget) != str(base.time_budget):
        values["time_budget_strict"] = True  # a budget the user typed: refuse one too short
    try:
        return Recipe(**{**base.model_dump(), **values}), []
    except ValidationError as e:
        return None, [
            (str(err["loc"][0]) if err["loc"] else "recipe", err["msg"]) for err in e.errors()
        ]


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in pairs:
        if "=" not in item:
            raise UserError(f"--set expects key=value, got {item!r}")
        key, raw = item.split("=", 1)
        key = key.strip()
        if key not in Recipe.model_fields:
            raise UserError(f"--set {key}: unknown recipe key")
        out[key] = parse_value(raw)
    return out


def load_recipe(name_or_file: str = DEFAULT_RECIPE, overrides: list[str] | None = None) -> Recipe:
    """Load, validate and apply ``--set`` overrides. Errors name the file and the key."""
    import yaml

    path = recipe_path(name_or_file)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise UserError(f"{where}: not valid YAML") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: a recipe must be a mapping of keys to values")
    data.setdefault("name", path.stem)
    data.update(parse_overrides(overrides or []))
    try:
        return Recipe(**data)
    except ValidationError as e:
        raise UserError(_format_validation_error(path, e)) from None


def recipe_header_command(path: Path) -> str | None:
    """The command in the recipe's first comment line, e.g. '# assistant-builder train ...'."""
    first = path.read_text(encoding="utf-8").splitlines()[0:1]
    if first and first[0].startswith("#"):
        return first[0].lstrip("#").strip()
    return None
