"""``ollama`` export: a verified GGUF plus a Modelfile whose TEMPLATE renders conversations
exactly as the tokenizer's chat template did in training.

A hand-written TEMPLATE that differs from training by one newline is a classic cause of an
Ollama model that rambles, so the TEMPLATE is checked at export time: a small renderer for the
subset of Go's text/template that Ollama templates use renders several conversations, and each
must equal ``tokenizer.apply_chat_template(..., add_generation_prompt=True)``. Only ChatML
templates (SmolLM2, Qwen, ...) are produced; another template family is refused, not guessed.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

from assistant_builder.errors import UserError
from assistant_builder.events import OnEvent, Progress
from assistant_builder.workspace import Workspace

# Ollama puts the Modelfile's SYSTEM (or the request's system message) into .Messages as the
# first message, so ranging over the messages renders the system turn too.
CHATML_TEMPLATE = (
    "{{- range .Messages }}<|im_start|>{{ .Role }}\n"
    "{{ .Content }}<|im_end|>\n"
    "{{ end }}<|im_start|>assistant\n"
)
CHATML_STOP = "<|im_end|>"

_ACTION = re.compile(r"\{\{(-?)\s*(.*?)\s*(-?)\}\}", re.S)


def render_go_template(template: str, data: dict[str, Any]) -> str:  # noqa: C901 - a small interpreter: one branch per template action
    """Render the subset of Go text/template used by Ollama chat templates: ``{{ .Field }}``,
    ``{{ range .List }}…{{ end }}``, ``{{ if .Field }}…{{ else }}…{{ end }}`` and the ``{{-``
    / ``-}}`` whitespace trimming markers. Anything else raises ValueError."""
    # Tokenise into text and actions, applying the trim markers as Go does.
    parts: list[tuple[str, str]] = []
    pos = 0
    for m in _ACTION.finditer(template):
        text = template[pos : m.start()]
        if m.group(1):
            text = text.rstrip(" \t\r\n")
        parts.append(("text", text))
        parts.append(("action", m.group(2)))
        pos = m.end()
        if m.group(3):
            while pos < len(template) and template[pos] in " \t\r\n":
                pos += 1
    parts.append(("text", template[pos:]))

    def block(i: int, scope: dict[str, Any], out: list[str], emit: bool) -> tuple[int, str]:
        """Render parts from ``i`` until an ``end``/``else`` at this level; returns where and
        which keyword stopped it."""
        while i < len(parts):
            kind, val = parts[i]
            i += 1
            if kind == "text":
                if emit:
                    out.append(val)
            elif val in ("end", "else"):
                return i, val
            elif val.startswith("range "):
                items = lookup(val[6:].strip(), scope) if emit else []
                start = i
                if not items:
                    i, _ = block(start, scope, [], False)
                for item in items or []:
                    i, _ = block(start, item, out, True)
            elif val.startswith("if "):
                cond = bool(lookup(val[3:].strip(), scope)) if emit else False
                i, stop = block(i, scope, out, emit and cond)
                if stop == "else":
                    i, _ = block(i, scope, out, emit and not cond)
            elif val.startswith("."):
                if emit:
                    out.append(str(lookup(val, scope)))
            else:
                raise ValueError(f"unsupported template action {{{{ {val} }}}}")
        return i, ""

    def lookup(path: str, scope: dict[str, Any]) -> Any:
        if not path.startswith("."):
            raise ValueError(f"unsupported template expression {path!r}")
        value: Any = scope
        for key in path[1:].split("."):
            value = value.get(key, "") if isinstance(value, dict) else ""
        return value

    out: list[str] = []
    block(0, data, out, True)
    return "".join(out)


def ollama_data(messages: list[dict[str, str]]) -> dict[str, Any]:
    """The template data Ollama builds for a chat request (Go field names)."""
    system = next((m["content"] for m in messages if m["role"] == "system"), "")
    return {
        "System": system,
        "Messages": [{"Role": m["role"], "Content": m["content"]} for m in messages],
    }


def sample_conversations(system_prompt: str) -> list[list[dict[str, str]]]:
    sys_msg = {"role": "system", "content": system_prompt}
    return [
        [sys_msg, {"role": "user", "content": "How do I reset my password?"}],
        [
            sys_msg,
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello! How can I help?"},
            {"role": "user", "content": "Where is my order?\nIt is late."},
        ],
        [{"role": "system", "content": "Short."}, {"role": "user", "content": "  spaces  "}],
    ]


def template_mismatches(tokenizer: Any, template: str, system_prompt: str) -> list[str]:
    """Conversations where the Go template and the tokenizer's chat template disagree."""
    bad = []
    for conv in sample_conversations(system_prompt):
        want = tokenizer.apply_chat_template(conv, tokenize=False, add_generation_prompt=True)
        got = render_go_template(template, ollama_data(conv))
        if got != want:
            bad.append(f"{got!r} != {want!r}")
    return bad


def model_name(run_id: str) -> str:
    name = re.sub(r"[^a-z0-9._-]+", "-", run_id.lower()).strip("-._")
    return f"assistant-{name}" if name else "assistant"


def modelfile(gguf_name: str, system_prompt: str) -> str:
    if '"""' in system_prompt:
        raise UserError('the system prompt contains """, which a Modelfile cannot hold')
    return (
        f"FROM ./{gguf_name}\n"
        f'TEMPLATE """{CHATML_TEMPLATE}"""\n'
        f'SYSTEM """{system_prompt}"""\n'
        f'PARAMETER stop "{CHATML_STOP}"\n'
        # Greedy and no repetition penalty: the decoding the export was verified with.
        "PARAMETER temperature 0\n"
        "PARAMETER repeat_penalty 1\n"
    )


def export_ollama(ws: Workspace, run_dir: Path, tmp: Path, on_event: OnEvent) -> dict[str, Any]:
    from assistant_builder.export.gguf import build_gguf, file_name
    from assistant_builder.models.loading import load_tokenizer

    system = ws.load_settings().system_prompt
    tokenizer = load_tokenizer(str(run_dir / "adapter"))
    bad = template_mismatches(tokenizer, CHATML_TEMPLATE, system)
    if bad:
        raise UserError(
            "ollama export supports ChatML chat templates; this model's template renders "
            f"differently: {bad[0][:200]}"
        )
    verdicts = build_gguf(ws, run_dir, tmp, ["f16", "q8_0"], on_event)
    # Ship one file: q8_0 when it answers like the trained model, else the f16.
    chosen = "q8_0" if (tmp / file_name("q8_0")).is_file() else "f16"
    for q in verdicts:
        if q != chosen:
            (tmp / file_name(q)).unlink(missing_ok=True)
    on_event(Progress("export", "writing Modelfile"))
    name = model_name(run_dir.name)
    (tmp / "Modelfile").write_text(modelfile(file_name(chosen), system), encoding="utf-8")
    create = f"ollama create {name} -f Modelfile"
    (tmp / "README.md").write_text(
        f"# {name}\n\nThe fine-tuned assistant of run `{run_dir.name}` for Ollama "
        f"({chosen} GGUF, verified in llama.cpp).\n\nFrom this folder:\n\n"
        f"    {create}\n    ollama run {name}\n",
        encoding="utf-8",
    )
    shutil.rmtree(tmp / ".merged", ignore_errors=True)
    return {
        "verified": verdicts[chosen].get("passed") is not False,
        "template_checked_conversations": len(sample_conversations(system)),
        "model": name,
        "gguf": file_name(chosen),
        "quant_types": verdicts,
        "usage": f"cd {{path}} && {create} && ollama run {name}",
    }
