"""``gguf`` export: the merged model as GGUF files for llama.cpp (and everything built on it),
each quant type verified in llama.cpp itself through llama-cpp-python.

Types: ``f16`` and ``q8_0`` are written by :mod:`assistant_builder.export.gguf_writer` (the ``gguf``
package); ``q4_k_m`` comes from llama.cpp's own quantizer (``llama_model_quantize``), so it is
offered when llama-cpp-python is installed (the ``gguf`` extra).

Verification asks each file the trained questions through the consumer's default chat path,
``create_chat_completion`` with the GGUF's own chat template and the workspace system prompt,
greedy, and compares with the trained model's answers (transformers, base + adapter). A small
model is fragile under quantisation (the 4-bit GGUF of SmolLM2 rambles in French as soon as a
system prompt is set), so every type is judged on its own: ``f16`` must pass or the export
fails; any other type that fails is left out of the folder and reported with its answers.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant_builder.errors import UserError
from assistant_builder.events import OnEvent, Progress
from assistant_builder.textsafe import shell_quote
from assistant_builder.workspace import Workspace

if TYPE_CHECKING:
    from assistant_builder.models.engine import Answer

REQUIRED = "f16"
PYTHON_TYPES = ("f16", "q8_0")
LLAMA_CPP_TYPES = ("q4_k_m",)
# A quant type passes when its answers stop where the trained model's stop and say nearly the
# same words: exact text for most questions is expected; ROUGE-L >= this on average allows a
# rounding-induced word change late in an answer, but not a rambling or different answer.
MIN_ROUGE_L = 0.8


def llama_cpp_available() -> bool:
    try:
        import llama_cpp  # noqa: F401
    except Exception:  # an import error, or a broken native library
        return False
    return True


def file_name(qtype: str) -> str:
    return f"model.{qtype}.gguf"


def quantize_with_llama_cpp(src: Path, dst: Path, qtype: str) -> None:
    import ctypes

    import llama_cpp

    ftypes = {"q4_k_m": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M}
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftypes[qtype]
    params.nthread = 0  # llama.cpp picks the number of cores
    rc = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), ctypes.byref(params))
    if rc != 0 or not dst.is_file():
        raise UserError(f"llama.cpp could not quantize to {qtype} (status {rc})")


def llama_cpp_answers(
    path: Path, questions: list[str], system_prompt: str, max_tokens: int
) -> list[Answer]:
    """Answers from llama.cpp's default chat path: the GGUF's template, its eos, greedy."""
    from llama_cpp import Llama

    from assistant_builder.models.engine import Answer

    llm = Llama(model_path=str(path), n_ctx=2048, n_threads=2, seed=0, verbose=False)
    out = []
    try:
        for q in questions:
            res: Any = llm.create_chat_completion(
                messages=[
                    {"role": "system", "content": system_prompt},
                    {"role": "user", "content": q},
                ],
                temperature=0.0,
                repeat_penalty=1.0,
                max_tokens=max_tokens,
            )
            choice = res["choices"][0]
            out.append(
                Answer(
                    text=(choice["message"]["content"] or "").strip(),
                    stopped=choice["finish_reason"] == "stop",
                    new_tokens=res["usage"]["completion_tokens"],
                )
            )
    finally:
        llm.close()
    return out


def judge(got: list[Answer], ref: list[Answer], questions: list[str]) -> dict[str, Any]:
    from assistant_builder.metrics import rouge_l

    rouge = [rouge_l(g.text, r.text) for g, r in zip(got, ref, strict=True)]
    exact = sum(g.text == r.text for g, r in zip(got, ref, strict=True))
    # Stopping matters only where the trained model stops: a model that never stops within the
    # budget (a random test model) cannot be held to it.
    stop_ok = sum(g.stopped == r.stopped or not r.stopped for g, r in zip(got, ref, strict=True))
    mean = sum(rouge) / len(rouge)
    return {
        "passed": stop_ok == len(ref) and mean >= MIN_ROUGE_L,
        "exact": exact,
        "questions": len(ref),
        "rouge_l": round(mean, 3),
        "stopped": sum(g.stopped for g in got),
        "trained_stopped": sum(r.stopped for r in ref),
        "answers": [
            {"question": q, "gguf": g.text, "trained": r.text, "stopped": g.stopped}
            for q, g, r in zip(questions, got, ref, strict=True)
        ],
    }


def build_gguf(
    ws: Workspace, run_dir: Path, out: Path, qtypes: list[str], on_event: OnEvent
) -> dict[str, Any]:
    """Merge, convert to every type in ``qtypes`` inside ``out``, verify each; returns the
    per-type verdicts. Failed optional types are deleted from ``out``."""
    from assistant_builder.export.gguf_writer import convert, read_metadata
    from assistant_builder.export.merged import merge_adapter
    from assistant_builder.export.registry import (
        VERIFY_NEW_TOKENS,
        reference_answers,
        run_info,
        verify_questions,
    )

    merged = out / ".merged"
    on_event(Progress("export", "merging the adapter (full precision) for conversion"))
    merge_adapter(run_info(run_dir)["base_model"], run_dir / "adapter", merged)
    have_llama = llama_cpp_available()
    try:
        for q in qtypes:
            if q in PYTHON_TYPES:
                on_event(Progress("export", f"converting to GGUF {q}"))
                convert(merged, out / file_name(q), q, name=run_dir.name)
    finally:
        shutil.rmtree(merged, ignore_errors=True)
    if have_llama:
        for q in qtypes:
            if q in LLAMA_CPP_TYPES:
                on_event(Progress("export", f"quantizing to {q} with llama.cpp"))
                quantize_with_llama_cpp(out / file_name(REQUIRED), out / file_name(q), q)
    system = ws.load_settings().system_prompt
    questions = verify_questions(run_dir)
    ref = reference_answers(ws, run_dir, questions, on_event)
    verdicts: dict[str, Any] = {}
    for q in qtypes:
        path = out / file_name(q)
        if not path.is_file():
            verdicts[q] = {"passed": False, "skipped": "needs llama-cpp-python (gguf extra)"}
            continue
        meta = read_metadata(path)
        if meta.get("eos_token") is None or not meta.get("tokenizer.chat_template"):
            raise UserError(f"{path.name}: chat template or eos token missing from the metadata")
        verdict: dict[str, Any] = {"file": path.name, "bytes": path.stat().st_size}
        verdict["eos_token"] = meta["eos_token"]
        if have_llama:
            on_event(Progress("export", f"verifying {q} in llama.cpp"))
            got = llama_cpp_answers(path, questions, system, VERIFY_NEW_TOKENS)
            verdict.update(judge(got, ref, questions), consumer="llama-cpp-python")
        else:
            verdict.update(passed=None, consumer=None)
        verdicts[q] = verdict
    req = verdicts[REQUIRED]
    if req.get("passed") is False:
        raise UserError(
            f"the f16 GGUF does not answer like the trained model in llama.cpp "
            f"(exact {req['exact']}/{req['questions']}, ROUGE-L {req['rouge_l']}, "
            f"stopped {req['stopped']}/{req['questions']})"
        )
    for q, v in verdicts.items():
        if v.get("passed") is False and q != REQUIRED:
            (out / file_name(q)).unlink(missing_ok=True)
            v["removed"] = True
    return verdicts


def export_gguf(ws: Workspace, run_dir: Path, tmp: Path, on_event: OnEvent) -> dict[str, Any]:
    qtypes = [*PYTHON_TYPES, *LLAMA_CPP_TYPES]
    verdicts = build_gguf(ws, run_dir, tmp, qtypes, on_event)
    shipped = [q for q, v in verdicts.items() if (tmp / file_name(q)).is_file()]
    verified = [q for q in shipped if verdicts[q].get("passed")]
    best = next((q for q in ("q8_0", "f16") if q in verified), shipped[0])
    return {
        "verified": bool(verified),
        "consumer_verified": llama_cpp_available(),
        "files": {q: file_name(q) for q in shipped},
        "quant_types": verdicts,
        "rejected": [q for q, v in verdicts.items() if v.get("removed") or v.get("skipped")],
        "usage": f"llama-cli -m {{path}}/{file_name(best)} -cnv "
        f"-sys {shell_quote(ws.load_settings().system_prompt)}",
    }
