"""What the trainer optimises, checked in process on the tiny Llama: loss on the answer and its
end-of-turn token only, the selective loss equal to the full one, gradient accumulation, seed,
early stopping, and one QLoRA step on CPU."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from support.train_data import conversations, events, recipe, write_jsonl

from assistant_builder.train.recipe import Recipe


def build(
    tmp_path: Path,
    r: Recipe,
    train_rows: list[dict[str, Any]] | None = None,
    eval_rows: list[dict[str, Any]] | None = None,
) -> Any:
    from assistant_builder.train.worker import EventLog, build_trainer

    run_dir = tmp_path / f"run-{len(list(tmp_path.iterdir()))}"
    write_jsonl(run_dir / "data" / "train.jsonl", train_rows or conversations(12))
    write_jsonl(run_dir / "data" / "eval.jsonl", eval_rows or conversations(4, offset=100))
    trainer, _ = build_trainer(run_dir, r, EventLog(run_dir / "events.jsonl"))
    return trainer, run_dir


def test_labels_cover_the_answer_and_its_end_of_turn_only(tmp_path: Path, tiny_model: str) -> None:
    trainer, _ = build(tmp_path, recipe(tiny_model))
    tok = trainer.processing_class
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    assert tok.pad_token_id == im_end  # pad == eos: masking by pad id would hide the stop token
    rows = conversations(12)
    for i in range(len(trainer.train_dataset)):
        ex = trainer.train_dataset[i]
        ids, labels = ex["input_ids"], ex["labels"]
        first = next(k for k, x in enumerate(labels) if x != -100)
        assert all(x == -100 for x in labels[:first])
        assert labels[first:] == ids[first:]  # every answer token is trained
        # The prompt is exactly what inference sends: the tokenizer's own template + header.
        prompts = {
            tok.apply_chat_template(
                r["messages"][:-1], tokenize=False, add_generation_prompt=True
            ): r
            for r in rows
        }
        row = prompts[tok.decode(ids[:first])]
        answer = row["messages"][-1]["content"]
        assert im_end in labels[first:], "the end-of-turn token must be learned"
        assert tok.decode(ids[first:]) == answer + "<|im_end|>\n"

    # Padding-free (the default): rows end to end in one, each still ending in a trained
    # "<|im_end|>", "\n", and no row's first token is a target of the row before it.
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(4)])
    assert "attention_mask" not in batch and batch["input_ids"].shape[0] == 1
    edges = batch["cu_seq_lens_q"].tolist()
    ids, labels = batch["input_ids"][0], batch["labels"][0]
    assert len(edges) == 5 and edges[-1] == ids.shape[0]
    for start, end in itertools.pairwise(edges):
        assert labels[start] == -100 and batch["position_ids"][0, start] == 0
        assert labels[end - 2] == im_end and ids[end - 2] == im_end

    # Padded: the collator pads with <|im_end|> but labels padding -100 by position, not by id.
    trainer, _ = build(tmp_path, recipe(tiny_model, padding_free=False))
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(4)])
    for row_ids, row_labels, row_mask in zip(
        batch["input_ids"], batch["labels"], batch["attention_mask"], strict=True
    ):
        n = int(row_mask.sum())
        assert (row_labels[n:] == -100).all()
        assert row_labels[n - 2] == im_end and row_ids[n - 2] == im_end  # "<|im_end|>", "\n"


def test_selective_loss_equals_the_full_logits_loss(
    tmp_path: Path, tiny_model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    from assistant_builder.train import selective_loss

    trainer, _ = build(tmp_path, recipe(tiny_model, lora_dropout=0.0))
    model = trainer.model
    model.train()
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(4)])
    n = (batch["labels"][:, 1:] != -100).sum()

    def grads(loss: Any) -> list[Any]:
        model.zero_grad()
        loss.backward()
        return [p.grad.clone() for p in model.parameters() if p.requires_grad]

    lm = model.get_base_model()
    full = lm.__class__.forward(lm, **batch, use_cache=False).loss  # transformers' own loss
    g_full = grads(full)
    loss, _, _ = selective_loss.selective_loss(model, batch, n)
    g_sel = grads(loss)
    if trainer.head is not None:  # the LM head through oneDNN (fast_lora.onednn_head)
        with_head, _, _ = selective_loss.selective_loss(model, batch, n, trainer.head)
        assert with_head.item() == pytest.approx(loss.item(), rel=1e-5)
        for a, b in zip(g_sel, grads(with_head), strict=True):
            assert torch.allclose(a, b, atol=1e-6)
    monkeypatch.setattr(selective_loss, "_MAX_LOGITS", 3 * 49152)  # force checkpointed chunks
    chunked, logits, _ = selective_loss.selective_loss(model, batch, n)
    assert logits is None
    g_chunk = grads(chunked)
    assert loss.item() == pytest.approx(full.item(), rel=1e-5)
    assert chunked.item() == pytest.approx(full.item(), rel=1e-5)
    for a, b, c in zip(g_full, g_sel, g_chunk, strict=True):
        assert torch.allclose(a, b, atol=1e-6) and torch.allclose(a, c, atol=1e-6)


def _lora_weights(trainer: Any) -> dict[str, Any]:
    return {k: v.detach().clone() for k, v in trainer.model.named_parameters() if v.requires_grad}


def test_grad_accumulation_and_seed(tmp_path: Path, tiny_model: str) -> None:
    import torch

    # Four rows: one optimizer step sees all of them either way, whatever the sampler's order.
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"Code {i}?"},
                {"role": "assistant", "content": f"C{i}."},
            ]
        }
        for i in range(10, 14)
    ]
    # Plain SGD: the step is lr x gradient (Adam's first step is lr x sign(gradient), which
    # flips on rounding noise wherever a gradient is ~0).
    common: dict[str, Any] = dict(
        max_steps=1,
        lora_dropout=0.0,
        lr_scheduler="constant",
        eval_each_epoch=False,
        optimizer="sgd",
        learning_rate=0.5,
    )
    one, _ = build(tmp_path, recipe(tiny_model, batch_size=4, grad_accum=1, **common), rows)
    two, _ = build(tmp_path, recipe(tiny_model, batch_size=2, grad_accum=2, **common), rows)
    other, _ = build(tmp_path, recipe(tiny_model, batch_size=4, seed=7, **common), rows)
    init = _lora_weights(one)
    assert all(torch.equal(init[k], v) for k, v in _lora_weights(two).items())  # same seed
    assert not all(torch.equal(init[k], v) for k, v in _lora_weights(other).items())
    for t in (one, two):
        t.train()
    w1, w2 = _lora_weights(one), _lora_weights(two)
    assert any(not torch.equal(init[k], w1[k]) for k in w1)  # the step changed something
    for k in w1:  # 4 rows at once == 2 x 2 rows accumulated
        assert torch.allclose(w1[k], w2[k], atol=1e-5), k
    assert one.state.log_history[0]["loss"] == pytest.approx(two.state.log_history[0]["loss"])


def test_early_stopping_stops_when_eval_loss_stops_improving(
    tmp_path: Path, tiny_model: str
) -> None:
    # Eval asks the training questions with other answers: the better the model learns the
    # training answers, the worse the eval loss gets.
    train_rows = conversations(8)
    r = recipe(tiny_model, epochs=30, batch_size=8, learning_rate=5e-3, early_stopping_patience=2)
    wrong = [
        {"messages": [*row["messages"][:-1], {"role": "assistant", "content": "Call us."}]}
        for row in train_rows
    ]
    trainer, _ = build(tmp_path, r, train_rows, wrong)
    trainer.train()
    evals = [h["eval_loss"] for h in trainer.state.log_history if "eval_loss" in h]
    assert trainer.state.global_step < 30, "early stopping did not trigger"
    best = evals.index(min(evals))
    assert len(evals) == best + 1 + 2  # stopped after `patience` evals without improvement
    assert trainer.state.best_metric == min(evals)  # the best adapter is the one kept


@pytest.mark.filterwarnings("ignore")
def test_one_qlora_step_on_cpu(tmp_path: Path, tiny_model: str) -> None:
    import torch

    r = recipe(tiny_model, mode="qlora", max_steps=1, optimizer="paged_adamw_8bit")
    trainer, run_dir = build(tmp_path, r)
    base = trainer.model.get_base_model()
    q = base.config.quantization_config
    assert (q.bnb_4bit_quant_type, q.bnb_4bit_use_double_quant) == ("nf4", True)
    assert q.bnb_4bit_compute_dtype == torch.bfloat16
    import bitsandbytes as bnb

    linear4 = [m for m in base.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert len(linear4) == 2 * 7  # every projection of both layers is 4-bit
    assert trainer.args.bf16 and trainer.args.optim == "adamw_torch"  # paged needs CUDA
    mode = next(e for e in events(run_dir) if e["event"] == "mode")
    assert mode["mode"] == "qlora" and "forces QLoRA on CPU" in mode["why"]
    assert any("paged_adamw_8bit needs CUDA" in n for n in mode["notes"])
    fused = next(e for e in events(run_dir) if e["event"] == "fused_lora")
    assert fused["layers"] == 0  # a 4-bit base keeps PEFT's own forward
    before = _lora_weights(trainer)
    trainer.train()
    loss = trainer.state.log_history[0]["loss"]
    assert loss == loss and loss > 0  # finite
    after = _lora_weights(trainer)
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_long_rows_are_kept_by_raising_the_limit_and_reported_per_row(
    tmp_path: Path, tiny_model: str
) -> None:
    rows = conversations(7)
    rows[2]["messages"][-1]["content"] = "word " * 200  # > max_seq_length 128, < context 512
    rows[4]["messages"][-1]["content"] = "word " * 700  # > the tiny model's context
    trainer, run_dir = build(tmp_path, recipe(tiny_model), rows)
    assert len(trainer.train_dataset) == 6
    report = [json.loads(x) for x in (run_dir / "long_rows.jsonl").read_text().splitlines()]
    assert [(r["row"], r["action"].split(":")[0]) for r in report] == [(2, "kept"), (4, "left out")]
    assert report[0]["question"] == rows[2]["messages"][-2]["content"] and report[0]["line"] == 3
    assert "raised from 128 to" in report[0]["action"] and "context (512)" in report[1]["action"]
    msg = next(e for e in events(run_dir) if e["event"] == "long_rows")["message"]
    assert msg.startswith("2 conversations are longer than max_seq_length=128")


def test_rows_longer_than_max_seq_length_are_left_out_when_fit_long_rows_is_off(
    tmp_path: Path, tiny_model: str
) -> None:
    rows = conversations(6)
    rows[2]["messages"][-1]["content"] = "word " * 200
    trainer, run_dir = build(tmp_path, recipe(tiny_model, fit_long_rows=False), rows)
    assert len(trainer.train_dataset) == 5
    assert "fit_long_rows is off" in (run_dir / "long_rows.jsonl").read_text()
