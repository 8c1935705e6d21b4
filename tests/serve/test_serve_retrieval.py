"""``serve --retrieval``: the real server answers with the workspace's retrieval index, and the
official ``openai`` client reads the ``sources`` and ``notices`` it returns (``model_extra``),
whole and streamed; a question that finds nothing, a stale index and a missing one."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from support.serving import client, running

from assistant_builder.errors import UserError
from assistant_builder.retrieval.index import INDEX_DIR, Index, Passage

Q = "How do I reset my password?"
NOTHING = "Zyxxel quorple?"  # shares no word with any passage


def _index(ws, sources: list[str] | None = None) -> None:
    """A two-passage index as `dataset` builds it (``sources``: the content hashes it was built
    from; the tiny workspace ingested nothing, so [] is current and anything else stale)."""
    passages = [
        Passage(0, Q, "Use the reset link on the sign-in page.", "g0", "pair", "faq.md", 3, 5),
        Passage(
            1,
            "Do you ship abroad?",
            "We ship to 40 countries.",
            "g1",
            "pair",
            url="https://example.com/faq#ship",
        ),
    ]
    Index.build(ws.dataset_dir / INDEX_DIR, passages, sources or [])


def test_sources_whole_and_streamed_through_the_openai_sdk(tiny_run) -> None:
    ws, run_id = tiny_run
    _index(ws)
    # A run trained with retrieval rows reads the passages in its prompt.
    (ws.run_dir(run_id) / "recipe.yaml").write_text("name: tiny\nraft_share: 0.5\n")
    with running(ws, run_id, retrieval=True) as srv:
        assert srv.grounding is not None and srv.grounding.notices == []
        c = client(srv.url)
        res = c.chat.completions.create(
            model=run_id, messages=[{"role": "user", "content": Q}], max_tokens=6
        )
        sources = res.model_extra["sources"]
        assert sources[0]["file"] == "faq.md" and sources[0]["lines"] == "3-5"
        assert sources[0]["title"] == Q and sources[0]["score"] > 0
        assert res.model_dump()["notices"] == []
        grounded_tokens = res.usage.prompt_tokens
        # A question that retrieves nothing is answered from the bare question, and says so.
        bare = c.chat.completions.create(
            model=run_id, messages=[{"role": "user", "content": NOTHING}], max_tokens=6
        )
        assert bare.model_extra["sources"] == []
        assert any("no passage" in n for n in bare.model_extra["notices"])
        assert bare.choices[0].message.content
        # The passages went into the prompt (the questions are about as long).
        assert grounded_tokens > bare.usage.prompt_tokens + 15
        pieces, last, usage_chunk = [], None, None
        for chunk in c.chat.completions.create(
            model=run_id,
            messages=[{"role": "user", "content": Q}],
            max_tokens=6,
            stream=True,
            stream_options={"include_usage": True},
        ):
            if not chunk.choices:
                usage_chunk = chunk
                continue
            pieces.append(chunk.choices[0].delta.content or "")
            if chunk.choices[0].finish_reason:
                last = chunk
            else:
                assert "sources" not in (chunk.model_extra or {})
        assert last is not None and last.model_extra["sources"] == sources
        assert usage_chunk is not None and usage_chunk.model_extra["sources"] == sources
        assert "".join(pieces) == res.choices[0].message.content
        # A follow-up keeps the history as sent; only the newest question is grounded.
        follow = c.chat.completions.create(
            model=run_id,
            messages=[
                {"role": "user", "content": Q},
                {"role": "assistant", "content": res.choices[0].message.content},
                {"role": "user", "content": "Do you ship abroad?"},
            ],
            max_tokens=4,
        )
        assert follow.model_extra["sources"][0]["url"] == "https://example.com/faq#ship"
        convs = srv.log.conversations()
    logged = [ex for conv in convs for ex in conv["exchanges"]]
    assert {ex["question"] for ex in logged} == {Q, NOTHING, "Do you ship abroad?"}
    first = next(ex for ex in logged if ex["question"] == Q)
    assert first["sources"] == sources  # the log keeps the question as typed, sources beside


def test_sources_footer_stale_index_and_missing_index(tiny_run) -> None:
    ws, run_id = tiny_run
    _index(ws, sources=["0" * 64])  # built from a source the workspace no longer has
    with running(ws, run_id, retrieval=True, sources_footer=True) as srv:
        assert any("stale" in n for n in srv.grounding.notices)
        c = client(srv.url)
        res = c.chat.completions.create(
            model=run_id, messages=[{"role": "user", "content": Q}], max_tokens=5
        )
        text = res.choices[0].message.content
        # Every passage given to the model, file:lines or URL, the best first.
        wheres = [x["url"] or f"{x['file']}:{x['lines']}" for x in res.model_extra["sources"]]
        assert wheres[0] == "faq.md:3-5"
        assert text.endswith("\n\nSources: " + ", ".join(wheres))
        assert any("stale" in n for n in res.model_extra["notices"])
        # A run trained without retrieval rows is asked the question it learned for the
        # matched entry: a rewording gets the same answer, with the same sources.
        again = c.chat.completions.create(
            model=run_id,
            messages=[{"role": "user", "content": "how can I reset the password please"}],
            max_tokens=5,
        )
        assert again.choices[0].message.content == text
        pieces = [
            ch.choices[0].delta.content or ""
            for ch in c.chat.completions.create(
                model=run_id, messages=[{"role": "user", "content": Q}], max_tokens=5, stream=True
            )
            if ch.choices
        ]
        assert "".join(pieces) == text
        # The log keeps the model's answer without the footer.
        assert all("Sources:" not in ex["answer"] for ex in srv.log.conversations()[0]["exchanges"])
    import shutil

    shutil.rmtree(ws.dataset_dir / INDEX_DIR)
    with (
        pytest.raises(UserError, match="run `assistant-builder dataset`"),
        running(ws, run_id, retrieval=True),
    ):
        pass
    out = subprocess.run(
        [sys.executable, "-m", "assistant_builder", "--workspace", str(ws.root), "serve",
         "--port", "0", "--retrieval"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 2 and "assistant-builder dataset" in out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) <= 2


@pytest.mark.parametrize("flag", ["--sources-footer", "--words-only"])
def test_retrieval_options_need_retrieval(tiny_run, flag: str) -> None:
    ws, _ = tiny_run
    out = subprocess.run(
        [sys.executable, "-m", "assistant_builder", "--workspace", str(ws.root),
         "serve", "--json", "--port", "0", flag],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 2 and f"{flag} goes with --retrieval" in out.stderr
    assert "--retrieval" in json.loads(out.stdout)["error"]


def test_closed_book_run_matches_an_entry_with_the_check_or_by_words_alone(tiny_run) -> None:
    ws, run_id = tiny_run
    _index(ws)
    (ws.run_dir(run_id) / "recipe.yaml").write_text("name: tiny\nraft_share: 0\n")
    asked = "how do I reset my password please"
    with running(ws, run_id, retrieval=True) as srv:
        assert srv.grounding is not None
        assert "the default model's check" in srv.grounding.describe()
        assert srv.grounding.settings.model_check
        res = client(srv.url).chat.completions.create(
            model=run_id, messages=[{"role": "user", "content": asked}], max_tokens=4
        )
        assert res.model_extra["sources"][0]["title"] == Q  # the entry it was matched to
    with running(ws, run_id, retrieval=True, model_check=False) as srv:
        assert srv.grounding is not None and not srv.grounding.settings.model_check
        assert "words alone" in srv.grounding.describe()
        res = client(srv.url).chat.completions.create(
            model=run_id, messages=[{"role": "user", "content": asked}], max_tokens=4
        )
        assert res.model_extra["sources"][0]["title"] == Q
