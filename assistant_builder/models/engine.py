"""The generation engine: one copy of the base weights answers as *base* or as any loaded adapter
by switching LoRA adapters off and on, so comparing a run with the base needs one model in
memory. (``eval --against`` still builds a second engine for the second run.)

- Several adapters (two training runs on the same base) load into one ``PeftModel`` under
  different names; ``set_adapter`` picks one, ``disable_adapter`` answers as the bare base.
- Batched generation uses left padding (the prompt ends where generation starts for every row);
  single questions can be streamed piece by piece.
- Greedy by default; sampling settings are recorded with every answer and are part of its cache
  key (see :mod:`assistant_builder.models.answer_cache`).
- One question at a time, greedy, decodes with the loop of :mod:`assistant_builder.models.decode`
  instead of ``generate`` (the same tokens, without generate's per-step work, with 1 decode thread
  on CPU: benchmarks/README.md, "Single stream"); batches and sampling use ``generate``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import queue
import threading
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from assistant_builder.events import OnEvent, Progress, ignore
from assistant_builder.models.answer_cache import AnswerCache, cache_key
from assistant_builder.runs import BASE

DEFAULT_ADAPTER = "tuned"  # the adapter name when a single adapter folder is given
# The base model, greedy, falls into loops without a penalty on repeated tokens. A tuned adapter
# must not get one: it reproduces answers it learned, and those repeat their own key words
# ("brew", a path, a command); with 1.1 the Homebrew run's long answers drifted off into lists
# of made-up items (ROUGE-L 0.05 where the unpenalised answer scores 0.33, benchmarks/README.md).
# The exports are verified, and Ollama/llama.cpp answer, without a penalty too.
BASE_REPETITION_PENALTY = 1.1


@dataclass(frozen=True)
class GenSettings:
    max_new_tokens: int = 256
    do_sample: bool = False
    temperature: float = 0.7
    top_p: float = 0.9
    repetition_penalty: float | None = None  # None: 1.1 for the base model, 1.0 for adapters
    batch_size: int = 16
    seed: int = 0

    def for_side(self, side: str) -> GenSettings:
        """These settings with the repetition penalty resolved for ``side`` (an adapter name
        or ``base``), so the cache records what was used."""
        if self.repetition_penalty is not None:
            return self
        penalty = BASE_REPETITION_PENALTY if side == BASE else 1.0
        return replace(self, repetition_penalty=penalty)

    def key(self) -> str:
        """Every setting, as recorded next to the answers."""
        return json.dumps(asdict(self), sort_keys=True)

    def cache_key(self) -> str:
        """Only the settings that can change the text. Batch size does not (left padding is
        masked out; a test checks batched equals one-at-a-time), and greedy decoding ignores
        temperature, top-p and the seed, so changing them must not throw the cache away."""
        d = asdict(self)
        d.pop("batch_size")
        if not self.do_sample:
            for k in ("temperature", "top_p", "seed"):
                d.pop(k)
        return json.dumps(d, sort_keys=True)


@dataclass
class Answer:
    text: str
    stopped: bool  # ended with the end-of-turn token rather than hitting max_new_tokens
    new_tokens: int
    cached: bool = False


def adapter_hash(adapter_dir: Path) -> str:
    h = hashlib.sha256()
    for name in ("adapter_model.safetensors", "adapter_config.json"):
        p = adapter_dir / name
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()[:16]


def model_fingerprint(base_model: str) -> str:
    """Identity of the base weights for the answer cache: the resolved name plus, for a local
    folder, its config and each weight file's size and modification time (hashing 500 MB of
    weights on every compare would cost more than it saves)."""
    from assistant_builder.models.loading import resolve_base_model

    resolved = resolve_base_model(base_model)
    h = hashlib.sha256(resolved.encode("utf-8"))
    folder = Path(resolved)
    if folder.is_dir():
        for f in sorted(folder.iterdir()):
            if f.name in ("config.json", "conversion.json"):
                h.update(f.read_bytes())
            elif f.suffix in (".safetensors", ".bin"):
                st = f.stat()
                h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


class _IdStreamer:
    """A transformers streamer that hands the generated token ids to the consuming thread (the
    stock TextIteratorStreamer hands out text only, and we need ids for ``stopped``)."""

    def __init__(self) -> None:
        self.queue: queue.Queue[list[int] | None] = queue.Queue()
        self._prompt_seen = False

    def put(self, value: Any) -> None:
        if not self._prompt_seen:  # generate() first pushes the prompt itself
            self._prompt_seen = True
            return
        self.queue.put([int(t) for t in value.reshape(-1).tolist()])

    def end(self) -> None:
        self.queue.put(None)


class Engine:
    """A base model plus zero or more named LoRA adapters, answering chat questions."""

    def __init__(
        self,
        base_model: str,
        adapter_dir: Path | None = None,
        *,
        adapters: Mapping[str, Path] | None = None,
        cache: AnswerCache | None = None,
    ) -> None:
        import torch

        from assistant_builder.models.loading import load_model, load_tokenizer

        named: dict[str, Path] = dict(adapters or {})
        if adapter_dir is not None:
            named = {DEFAULT_ADAPTER: Path(adapter_dir), **named}
        if BASE in named:
            raise ValueError(f"{BASE!r} names the base model; pick another adapter name")
        self.base_model = base_model
        self.adapters = named
        self.adapter_dir = next(iter(named.values()), None)  # the default adapter's folder
        # The adapter folder carries the tokenizer (and chat template) used in training.
        first = self.adapter_dir
        src = str(first) if first and (first / "tokenizer_config.json").is_file() else base_model
        # Any: the transformers/PEFT stubs type these too loosely for mypy to follow.
        self.tokenizer: Any = load_tokenizer(src)
        self.tokenizer.padding_side = "left"
        dtype = "bfloat16" if torch.cuda.is_available() else "float32"
        model: Any = load_model(base_model, dtype=dtype)
        if torch.cuda.is_available():
            model = model.to("cuda")
        # PEFT names adapters as torch modules, which may not contain a dot: a run id such as
        # "v1.2" gets an internal name (the public one stays the run id).
        self._peft_names = {
            name: name if "." not in name else f"{name.replace('.', '_')}__{i}"
            for i, name in enumerate(named)
        }
        if named:
            from peft import PeftModel

            items = [(self._peft_names[n], f) for n, f in named.items()]
            model = PeftModel.from_pretrained(model, str(items[0][1]), adapter_name=items[0][0])
            for name, folder in items[1:]:
                model.load_adapter(str(folder), adapter_name=name)
        model.eval()
        if named and not torch.cuda.is_available():
            # One fused op per LoRA layer instead of PEFT's five (measured on CPU only).
            from assistant_builder.models.cpu.fast_lora import fuse_lora_linears

            fuse_lora_linears(model)
        self.model: Any = model
        self.adapter_hashes = {name: adapter_hash(folder) for name, folder in named.items()}
        self.adapter_id = next(iter(self.adapter_hashes.values()), None)
        # The dtype is part of the weights' identity: bf16 on CUDA answers differently.
        self.fingerprint = f"{model_fingerprint(base_model)}-{dtype}"
        self.cache = cache
        self.end_ids = self._end_token_ids()
        from assistant_builder.models.decode import supports_fast_greedy

        self.fast_greedy = supports_fast_greedy(model)  # tests switch it off to compare
        # set_adapter/disable_adapter mutate the shared model: one generation at a time.
        self._lock = threading.Lock()

    def _end_token_ids(self) -> list[int]:
        ids = {self.tokenizer.eos_token_id}
        for tok in ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>"):
            tid = self.tokenizer.convert_tokens_to_ids(tok)
            if isinstance(tid, int) and tid != self.tokenizer.unk_token_id and tid >= 0:
                ids.add(tid)
        return sorted(i for i in ids if i is not None)

    # -- prompts and sides -------------------------------------------------------------
    def prompt_text(self, question: str, system_prompt: str | None) -> str:
        messages = []
        if system_prompt:
            messages.append({"role": "system", "content": system_prompt})
        messages.append({"role": "user", "content": question})
        text: str = self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True
        )
        return text

    def token_lengths(self, texts: list[str]) -> list[int]:
        return [len(self.tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]

    def _side(self, tuned: bool, adapter: str | None) -> str:
        if adapter is not None:
            if adapter != BASE and adapter not in self.adapters:
                raise ValueError(f"no adapter {adapter!r} loaded (have: {list(self.adapters)})")
            return adapter
        if not tuned:
            return BASE
        if not self.adapters:
            raise ValueError("no adapter loaded: cannot answer as tuned")
        return next(iter(self.adapters))

    @property
    def lock(self) -> threading.Lock:
        """Held while the shared model runs (generation, or a retrieval check on it)."""
        return self._lock

    def base_weights(self) -> Any:
        """A context in which the model runs with its adapters off (the caller holds lock)."""
        return self._adapter_ctx(BASE)

    def _adapter_ctx(self, side: str) -> Any:
        if not self.adapters:
            return contextlib.nullcontext()
        if side == BASE:
            return self.model.disable_adapter()
        self.model.set_adapter(self._peft_names[side])
        return contextlib.nullcontext()

    def _key(self, side: str, prompt: str, settings: GenSettings) -> str:
        adapter = BASE if side == BASE else self.adapter_hashes[side]
        return cache_key(self.fingerprint, adapter, prompt, settings.cache_key())

    def _remember(
        self, key: str, side: str, question: str, system: str | None, s: GenSettings, a: Answer
    ) -> None:
        if self.cache is None:
            return
        self.cache.put(
            key,
            model=f"{self.base_model}@{self.fingerprint}",
            adapter=BASE if side == BASE else self.adapter_hashes[side],
            system_prompt=system or "",
            question=question,
            settings=s.key(),
            text=a.text,
            stopped=a.stopped,
            new_tokens=a.new_tokens,
        )

    def _gen_kwargs(self, settings: GenSettings) -> dict[str, Any]:
        sample = settings.do_sample
        return {
            "max_new_tokens": settings.max_new_tokens,
            "do_sample": sample,
            "temperature": settings.temperature if sample else None,
            "top_p": settings.top_p if sample else None,
            "top_k": None,
            "repetition_penalty": settings.repetition_penalty,
            "eos_token_id": self.end_ids,
            "pad_token_id": self.tokenizer.pad_token_id,
        }

    def _one_greedy(self, settings: GenSettings) -> bool:
        return self.fast_greedy and not settings.do_sample

    def _greedy_ids(self, prompt_ids: list[int], settings: GenSettings) -> Iterator[int]:
        """One prompt's greedy tokens from the fast loop, with the decode thread setting.
        The caller holds the lock, inference mode and the adapter context."""
        from assistant_builder.models import decode

        on_cpu = self.model.device.type == "cpu"
        with decode.threads(decode.decode_threads() if on_cpu else 0):
            yield from decode.greedy_tokens(
                self.model,
                prompt_ids,
                max_new_tokens=settings.max_new_tokens,
                end_ids=self.end_ids,
                repetition_penalty=settings.repetition_penalty or 1.0,
            )

    def _finish(self, row: list[int]) -> Answer:
        n, stopped = len(row), False
        for k, t in enumerate(row):
            if t in self.end_ids:
                n, stopped = k, True
                break
        text = self.tokenizer.decode(row[:n], skip_special_tokens=True).strip()
        return Answer(text=text, stopped=stopped, new_tokens=n)

    # -- whole question sets -----------------------------------------------------------
    def answer(
        self,
        questions: list[str],
        *,
        system_prompt: str | None,
        tuned: bool = False,
        adapter: str | None = None,
        settings: GenSettings = GenSettings(),
        on_event: OnEvent = ignore,
    ) -> list[Answer]:
        """Answer every question as the base model (default), as the default adapter
        (``tuned=True``) or as a named adapter (``adapter=NAME``; ``"base"`` is the base)."""
        import torch

        side = self._side(tuned, adapter)
        settings = settings.for_side(side)
        prompts = [self.prompt_text(q, system_prompt) for q in questions]
        keys = [self._key(side, p, settings) for p in prompts]
        results: dict[int, Answer] = {}
        if self.cache is not None:
            for i, key in enumerate(keys):
                hit = self.cache.get(key)
                if hit is not None:
                    results[i] = Answer(**hit, cached=True)
        todo = [i for i in range(len(questions)) if i not in results]
        if results:
            on_event(Progress("generate", "cached", done=len(results), total=len(questions)))
        # Sort by prompt length so each batch pads little; the order is restored at the end.
        todo.sort(key=lambda i: len(prompts[i]))
        with self._lock:
            for start in range(0, len(todo), settings.batch_size):
                idx = todo[start : start + settings.batch_size]
                # A seed per batch position keeps sampled answers reproducible per question set.
                torch.manual_seed(settings.seed + start)
                enc = self.tokenizer(
                    [prompts[i] for i in idx],
                    return_tensors="pt",
                    padding=True,
                    add_special_tokens=False,
                ).to(self.model.device)
                with torch.inference_mode(), self._adapter_ctx(side):
                    if len(idx) == 1 and self._one_greedy(settings):
                        prompt_ids = enc["input_ids"][0].tolist()
                        rows = [list(self._greedy_ids(prompt_ids, settings))]
                    else:
                        gen = self.model.generate(**enc, **self._gen_kwargs(settings))
                        rows = gen[:, enc["input_ids"].shape[1] :].tolist()
                for row, i in zip(rows, idx, strict=True):
                    results[i] = self._finish(row)
                    self._remember(keys[i], side, questions[i], system_prompt, settings, results[i])
                on_event(Progress("generate", f"answering as {side}", len(results), len(questions)))
        return [results[i] for i in range(len(questions))]

    # -- one question, streamed ----------------------------------------------------------
    def stream(
        self,
        question: str,
        *,
        system_prompt: str | None,
        tuned: bool = False,
        adapter: str | None = None,
        settings: GenSettings = GenSettings(),
    ) -> Iterator[str]:
        """Yield text pieces of one answer as they are generated. The pieces join to exactly
        the text :meth:`answer` gives (same decoding, same stripping), and the finished answer
        goes into the cache; a cached answer comes back as one piece."""
        import torch

        side = self._side(tuned, adapter)
        settings = settings.for_side(side)
        prompt = self.prompt_text(question, system_prompt)
        key = self._key(side, prompt, settings)
        hit = self.cache.get(key) if self.cache is not None else None
        if hit is not None:
            if hit["text"]:
                yield hit["text"]
            return
        enc = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        enc = enc.to(self.model.device)
        streamer = _IdStreamer()
        failure: list[BaseException] = []

        def run() -> None:
            try:
                with self._lock, torch.inference_mode(), self._adapter_ctx(side):
                    if self._one_greedy(settings):
                        for token in self._greedy_ids(enc["input_ids"][0].tolist(), settings):
                            streamer.queue.put([token])
                        return
                    torch.manual_seed(settings.seed)
                    self.model.generate(**enc, streamer=streamer, **self._gen_kwargs(settings))
            except BaseException as e:  # handed to the consuming thread below
                failure.append(e)
            finally:
                streamer.end()  # idempotent for the consumer: it stops at the first None

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        ids: list[int] = []
        shown = ""
        while (chunk := streamer.queue.get()) is not None:
            ids.extend(chunk)
            text = self._finish(ids).text
            # Hold back a half-decoded multi-byte character and pieces that rewrite the past.
            if not text.endswith("\ufffd") and text.startswith(shown) and text != shown:
                yield text[len(shown) :]
                shown = text
        thread.join()
        if failure:
            raise failure[0]
        final = self._finish(ids)
        if final.text.startswith(shown) and final.text != shown:
            yield final.text[len(shown) :]
        self._remember(key, side, question, system_prompt, settings, final)
