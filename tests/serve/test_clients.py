"""A second real client a chat platform uses: LangChain's ChatOpenAI (multi-turn, streaming)."""

from __future__ import annotations

import pytest
from support.serving import running


def test_langchain_chat_openai_multi_turn_and_streaming(tiny_run) -> None:
    pytest.importorskip("langchain_openai", reason="langchain-openai is in the dev extra")
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
    from langchain_openai import ChatOpenAI

    ws, run_id = tiny_run
    with running(ws, run_id) as srv:
        chat = ChatOpenAI(
            model=run_id,
            base_url=f"{srv.url}/v1",
            api_key="unused",
            max_tokens=8,
            temperature=0,
            max_retries=0,
            timeout=120,
        )
        history = [SystemMessage("Be brief."), HumanMessage("How do I reset my password?")]
        first = chat.invoke(history)
        assert isinstance(first.content, str) and first.content
        assert first.response_metadata["finish_reason"] == "length"
        history += [AIMessage(first.content), HumanMessage("And my email address?")]
        second = chat.invoke(history)
        assert second.content
        pieces = [c.content for c in chat.stream(history)]
        assert len([p for p in pieces if p]) > 1
        assert "".join(str(p) for p in pieces) == second.content
        # Both turns are filed under one conversation (the stream repeats turn two).
        convs = srv.log.conversations()
    assert max(len(c["exchanges"]) for c in convs) >= 2
