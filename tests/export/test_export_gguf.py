"""GGUF and Ollama exports checked in llama.cpp itself (llama-cpp-python, the ``gguf`` extra):
the consumer's default chat path (``create_chat_completion`` with the GGUF's own template) and
the workspace system prompt, each quant type judged on its own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant_builder.export import registry as ex

pytestmark = pytest.mark.gguf


@pytest.fixture(autouse=True)
def _need_llama_cpp() -> None:
    from assistant_builder.export.gguf import llama_cpp_available

    if not llama_cpp_available():
        pytest.skip("llama-cpp-python is not installed (pip install 'assistant-builder[gguf]')")


def test_llama_cpp_matches_transformers_on_the_tiny_model(tiny_run, monkeypatch) -> None:
    """The converted f16 file, run by llama.cpp, continues exactly as the merged model does in
    transformers: tensor names, Q/K permutation, tokenizer and template all line up."""
    # A random model's logits have near-ties; over long answers f16 rounding eventually flips
    # one. A dozen tokens is plenty to catch a wrong layout, which breaks the first token.
    monkeypatch.setattr(ex, "VERIFY_NEW_TOKENS", 12)
    ws, run_id = tiny_run
    result = ex.export(ws, run_id, ["gguf"])["exports"]["gguf"]
    folder = Path(result["path"])
    f16 = result["quant_types"]["f16"]
    assert f16["consumer"] == "llama-cpp-python"
    # A random model has near-ties among 49k tokens, so f16 rounding may flip one answer; a
    # wrong layout would change all of them (the logits test below checks the layout closely).
    assert f16["passed"] and f16["exact"] >= f16["questions"] - 1, f16["answers"]
    assert (folder / "model.f16.gguf").is_file()
    # Every type has a verdict with figures; a failed optional type is not shipped.
    for q in ("q8_0", "q4_k_m"):
        v = result["quant_types"][q]
        assert "rouge_l" in v, v
        assert (folder / f"model.{q}.gguf").is_file() == bool(v["passed"])
    assert ex.check_manifest(folder) == []
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["quant_types"]["f16"]["passed"] is True
    assert "llama-cli -m" in result["usage"]


def test_ollama_export_ships_a_verified_gguf_and_modelfile(tiny_run, monkeypatch) -> None:
    monkeypatch.setattr(ex, "VERIFY_NEW_TOKENS", 12)
    ws, run_id = tiny_run
    info = ex.export(ws, run_id, ["ollama"])["exports"]["ollama"]
    folder = Path(info["path"])
    files = sorted(p.name for p in folder.iterdir())
    assert files == sorted(["Modelfile", "README.md", info["gguf"], "manifest.json"])
    modelfile = (folder / "Modelfile").read_text()
    assert modelfile.startswith(f"FROM ./{info['gguf']}\n")
    assert ws.load_settings().system_prompt in modelfile
    assert f"ollama create {info['model']} -f Modelfile" in (folder / "README.md").read_text()
    assert info["verified"] and info["template_checked_conversations"] == 3


def test_llama_cpp_logits_match_transformers(tiny_base_and_adapter, tmp_path: Path) -> None:
    """Per-position logits of the f16 GGUF in llama.cpp against the merged model in
    transformers, on a chat prompt rendered by the GGUF's own path."""
    import numpy as np
    import torch
    from llama_cpp import Llama
    from transformers import AutoModelForCausalLM

    from assistant_builder.export.gguf_writer import convert
    from assistant_builder.export.merged import merge_adapter
    from assistant_builder.models.loading import load_tokenizer

    base, adapter = tiny_base_and_adapter
    merge_adapter(str(base), adapter, tmp_path / "merged")
    convert(tmp_path / "merged", tmp_path / "m.gguf", "f16")
    tok = load_tokenizer(str(tmp_path / "merged"))
    prompt = tok.apply_chat_template(
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there!"}],
        tokenize=False,
        add_generation_prompt=True,
    )
    ids = tok(prompt, add_special_tokens=False)["input_ids"]
    llm = Llama(model_path=str(tmp_path / "m.gguf"), n_ctx=256, logits_all=True, verbose=False)
    try:
        # llama.cpp's tokenizer (smollm pre-tokenizer, special tokens) splits like transformers.
        assert llm.tokenize(prompt.encode(), add_bos=False, special=True) == ids
        llm.eval(ids)
        got = np.array(llm.scores[: len(ids)])
    finally:
        llm.close()
    model = AutoModelForCausalLM.from_pretrained(str(tmp_path / "merged"), dtype=torch.float32)
    with torch.no_grad():
        want = model(torch.tensor([ids])).logits[0].numpy()
    assert np.corrcoef(got.ravel(), want.ravel())[0, 1] > 0.999
    agree = (got.argmax(-1) == want.argmax(-1)).mean()
    assert agree >= 0.9, agree


@pytest.mark.slow
def test_gguf_export_of_the_trained_default_model(trained_default_run) -> None:
    """Every quant type of the real 135M model, with the system prompt: f16 must answer like
    the trained model; the others are reported per type (4-bit may fail, and is then left
    out rather than shipped)."""
    ws, run_id = trained_default_run
    result = ex.export(ws, run_id, ["gguf"])["exports"]["gguf"]
    verdicts = result["quant_types"]
    print(
        json.dumps(
            {
                q: {k: v.get(k) for k in ("passed", "exact", "rouge_l", "stopped")}
                for q, v in verdicts.items()
            }
        )
    )
    f16 = verdicts["f16"]
    assert f16["passed"] and f16["stopped"] >= f16["trained_stopped"]
    for q, v in verdicts.items():
        shipped = (Path(result["path"]) / f"model.{q}.gguf").is_file()
        assert shipped == bool(v["passed"]), q
