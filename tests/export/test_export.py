"""Export: adapter, merged, openai-dataset, ollama template and GGUF conversion on a tiny
random Llama, with the real consumers (PEFT, transformers, the gguf reader). The llama.cpp
checks live in test_export_gguf.py (they need llama-cpp-python)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant_builder.errors import UserError
from assistant_builder.export import registry as ex


def answers(model: str, adapter: Path | None, tuned: bool, questions: list[str]) -> list:
    from assistant_builder.models.engine import Engine

    eng = Engine(model, adapter)
    return eng.answer(
        questions, system_prompt="Be brief.", tuned=tuned, settings=ex.verify_settings()
    )


def test_parse_formats_accepts_lists_and_rejects_unknown() -> None:
    assert ex.parse_formats(["adapter,merged", "gguf", "adapter"]) == ["adapter", "merged", "gguf"]
    with pytest.raises(UserError, match="unknown export format 'zip'"):
        ex.parse_formats(["adapter,zip"])
    with pytest.raises(UserError, match="no export format"):
        ex.parse_formats([","])


def test_adapter_and_merged_in_one_call(tiny_run) -> None:
    ws, run_id = tiny_run
    result = ex.export(ws, run_id, ["adapter,merged"])
    adapter = Path(result["exports"]["adapter"]["path"])
    merged = Path(result["exports"]["merged"]["path"])
    # vLLM's LoRA layout: config + safetensors at the top, plus tokenizer and model card.
    for name in ("adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "README.md"):
        assert (adapter / name).is_file(), name
    assert ex.vllm_layout_problems(adapter) == []
    assert "--enable-lora" in result["exports"]["adapter"]["usage"]
    # Merged: a plain checkpoint (no adapter files), full precision, with the chat template.
    assert not (merged / "adapter_config.json").exists()
    cfg = json.loads((merged / "config.json").read_text())
    assert cfg.get("dtype", cfg.get("torch_dtype")) == "float32"
    assert (merged / "chat_template.jinja").is_file() or "chat_template" in (
        merged / "tokenizer_config.json"
    ).read_text()
    info = result["exports"]["merged"]
    assert info["verified"] and info["checked_questions"] >= 3
    # The merged weights carry the fine-tune: they answer like base + adapter, not like base.
    qs = ["How do I reset my password?", "Do you ship abroad?"]
    base = json.loads((ws.runs_dir / run_id / "run.json").read_text())["base_model"]
    m = answers(str(merged), None, False, qs)
    tuned = answers(base, ws.runs_dir / run_id / "adapter", True, qs)
    plain = answers(base, None, False, qs)
    assert [a.text for a in m] == [a.text for a in tuned]
    assert [a.text for a in m] != [a.text for a in plain]
    # Manifests list every file with its checksum, and the checksums hold.
    for folder in (adapter, merged):
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["run"] == run_id and manifest["files"]
        assert ex.check_manifest(folder) == []
    assert not [p for p in (ws.exports_dir / run_id).iterdir() if p.name.startswith(".")]


def test_failed_verification_leaves_no_folder(tiny_run, monkeypatch) -> None:
    ws, run_id = tiny_run

    def broken(ws, run_dir, tmp, on_event):
        (tmp / "half-written.bin").write_bytes(b"x" * 10)
        raise UserError("verification failed")

    monkeypatch.setattr(ex, "_resolve", lambda fmt: broken)
    with pytest.raises(UserError, match="verification failed"):
        ex.export(ws, run_id, ["adapter"])
    assert list((ws.exports_dir / run_id).iterdir()) == []


def test_manifest_detects_a_changed_file(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("one")
    ex.write_manifest(tmp_path, {"format": "x"})
    assert ex.check_manifest(tmp_path) == []
    (tmp_path / "a.txt").write_text("two")
    assert ex.check_manifest(tmp_path) == ["a.txt"]


def test_vllm_layout_problems_are_reported(tmp_path: Path, tiny_base_and_adapter) -> None:
    import shutil

    _, adapter = tiny_base_and_adapter
    assert ex.vllm_layout_problems(tmp_path) == [
        "missing adapter_config.json",
        "missing adapter_model.safetensors",
    ]
    shutil.copytree(adapter, tmp_path / "a")
    cfg_path = tmp_path / "a" / "adapter_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg.update(modules_to_save=["lm_head"], use_dora=True)
    cfg_path.write_text(json.dumps(cfg))
    problems = ex.vllm_layout_problems(tmp_path / "a")
    assert any("modules_to_save" in p for p in problems)
    assert any("DoRA" in p for p in problems)


# -- openai-dataset ---------------------------------------------------------------------------
def test_openai_validator_rejects_bad_rows() -> None:
    from assistant_builder.dataset.formats import validate_row

    good = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    assert validate_row(good) == []
    cases = {
        "unexpected keys ['meta']": {**good, "meta": {}},
        "non-empty list": {"messages": []},
        "role 'bot'": {"messages": [{"role": "bot", "content": "x"}, good["messages"][1]]},
        "content must be a non-empty string": {
            "messages": [{"role": "user", "content": "  "}, good["messages"][1]]
        },
        "no assistant message": {"messages": [{"role": "user", "content": "q"}]},
        "message 1: unexpected keys ['name2']": {
            "messages": [good["messages"][0], {**good["messages"][1], "name2": "x"}]
        },
        "weight must be 0 or 1": {
            "messages": [{"role": "user", "content": "q", "weight": 1}, good["messages"][1]]
        },
        "not a JSON object": ["messages"],
    }
    for expected, row in cases.items():
        problems = validate_row(row)
        assert any(expected in p for p in problems), (expected, problems)


def test_openai_dataset_export(tiny_run) -> None:
    from assistant_builder.dataset.formats import validate_file

    ws, run_id = tiny_run
    info = ex.export(ws, run_id, ["openai-dataset"])["exports"]["openai-dataset"]
    folder = Path(info["path"])
    assert info["examples"] == {"train": 3, "eval": 1}
    rows = [json.loads(x) for x in (folder / "train.jsonl").read_text().splitlines()]
    assert all(set(r) == {"messages"} for r in rows)  # meta dropped
    assert rows[0]["messages"][1] == {"role": "user", "content": "How do I reset my password?"}
    assert validate_file(folder / "train.jsonl") == (3, [])
    assert any("at least 10" in w for w in info["warnings"])
    assert "fine_tuning.jobs.create" in info["usage"] and str(folder) in info["usage"]


def test_openai_dataset_export_refuses_invalid_rows(tiny_run) -> None:
    ws, run_id = tiny_run
    bad = {"messages": [{"role": "user", "content": "only a question"}], "meta": {}}
    with open(ws.dataset_dir / "train.jsonl", "a") as f:
        f.write(json.dumps(bad) + "\n")
    with pytest.raises(UserError, match=r"train.jsonl:4: no assistant message"):
        ex.export(ws, run_id, ["openai-dataset"])
    assert not (ws.exports_dir / run_id / "openai-dataset").exists()


# -- ollama template --------------------------------------------------------------------------
def test_ollama_template_renders_like_the_chat_template() -> None:
    from assistant_builder.export.ollama import (
        CHATML_TEMPLATE,
        ollama_data,
        render_go_template,
        sample_conversations,
        template_mismatches,
    )
    from assistant_builder.models.loading import load_tokenizer

    tok = load_tokenizer("default")
    convs = sample_conversations("You are a support assistant.")
    assert template_mismatches(tok, CHATML_TEMPLATE, "You are a support assistant.") == []
    # Hand-written expectation for one conversation, independent of both implementations.
    got = render_go_template(CHATML_TEMPLATE, ollama_data(convs[0]))
    assert got == (
        "<|im_start|>system\nYou are a support assistant.<|im_end|>\n"
        "<|im_start|>user\nHow do I reset my password?<|im_end|>\n<|im_start|>assistant\n"
    )
    # A template off by one newline is caught.
    assert template_mismatches(
        tok, CHATML_TEMPLATE.replace("}}\n{{ .Content", "}}{{ .Content"), "S"
    )


def test_go_template_renderer_subset() -> None:
    from assistant_builder.export.ollama import render_go_template

    t = (
        "{{ if .System }}S={{ .System }}{{ else }}none{{ end }} -\n"
        "{{- range .Messages }} [{{ .Role }}]{{ end }}"
    )
    assert render_go_template(t, {"System": "", "Messages": [{"Role": "a"}, {"Role": "b"}]}) == (
        "none - [a] [b]"
    )
    assert render_go_template(t, {"System": "x", "Messages": []}) == "S=x -"
    with pytest.raises(ValueError, match="unsupported"):
        render_go_template('{{ template "x" }}', {})


def test_modelfile_has_stop_system_and_template() -> None:
    from assistant_builder.export.ollama import CHATML_TEMPLATE, model_name, modelfile

    text = modelfile("model.q8_0.gguf", "Answer politely.")
    assert text.startswith("FROM ./model.q8_0.gguf\n")
    assert f'TEMPLATE """{CHATML_TEMPLATE}"""' in text
    assert 'SYSTEM """Answer politely."""' in text
    assert 'PARAMETER stop "<|im_end|>"' in text and "PARAMETER temperature 0" in text
    assert model_name("20261123-182118-CPU_lora") == "assistant-20261123-182118-cpu_lora"
    with pytest.raises(UserError):
        modelfile("m.gguf", 'say """hi"""')


# -- GGUF conversion (file level; llama.cpp itself in test_export_gguf.py) ---------------------
@pytest.mark.parametrize("outtype", ["f16", "q8_0"])
def test_gguf_conversion_metadata_and_weights(
    tiny_base_and_adapter, tmp_path: Path, outtype: str
) -> None:
    import gguf
    import numpy as np
    from safetensors.torch import load_file

    from assistant_builder.export.gguf_writer import convert, permute_qk, read_metadata
    from assistant_builder.models.loading import load_tokenizer

    base, _ = tiny_base_and_adapter
    out = tmp_path / f"m.{outtype}.gguf"
    convert(base, out, outtype)
    meta = read_metadata(out)
    tok = load_tokenizer(str(base))
    assert meta["general.architecture"] == "llama"
    assert meta["eos_token"] == "<|im_end|>"
    assert meta["tokenizer.ggml.eot_token_id"] == tok.convert_tokens_to_ids("<|im_end|>")
    assert meta["tokenizer.ggml.pre"] == "smollm"
    assert meta["tokenizer.chat_template"] == tok.chat_template
    assert meta["tokenizer.ggml.add_bos_token"] is False
    want = "F16" if outtype == "f16" else "Q8_0"
    assert want in meta["tensor_types"]
    # Q is stored permuted for llama.cpp's RoPE layout; dequantised it equals the HF weight.
    hf = load_file(str(base / "model.safetensors"))["model.layers.1.self_attn.q_proj.weight"]
    reader = gguf.GGUFReader(str(out))
    t = next(t for t in reader.tensors if t.name == "blk.1.attn_q.weight")
    got = gguf.quants.dequantize(t.data, t.tensor_type).reshape(hf.shape)
    expect = permute_qk(hf, 4, 4).numpy()
    assert np.allclose(got, expect, atol=0.02 * float(np.abs(expect).max()))
    assert not np.allclose(got, hf.numpy(), atol=1e-3)  # the permutation really happened


def test_gguf_conversion_refuses_other_architectures(tmp_path: Path) -> None:
    from assistant_builder.export.gguf_writer import convert

    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["GPT2LMHeadModel"]}))
    with pytest.raises(UserError, match="not GPT2LMHeadModel"):
        convert(tmp_path, tmp_path / "x.gguf", "f16")


def test_cli_export_json_and_usage(tiny_run, capsys) -> None:
    from assistant_builder.cli.main import main

    ws, run_id = tiny_run
    rc = main(
        [
            "export",
            "--workspace",
            str(ws.root),
            "--run",
            run_id,
            "--format",
            "openai-dataset",
            "--json",
        ]
    )
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["exports"]["openai-dataset"]["verified"]
    rc = main(
        ["export", "--workspace", str(ws.root), "--run", run_id, "--format", "nope", "--json"]
    )
    captured = capsys.readouterr()
    assert rc == 2 and "unknown export format" in json.loads(captured.out)["error"]
