"""The review view: reviews recorded since the build, laid over it by the build's own rule."""

from __future__ import annotations

import json

from assistant_builder.dataset.build import make_conversation, record_edit
from assistant_builder.dataset.review import overlay_edit, review_view
from assistant_builder.workspace import Workspace


def test_review_view_lays_edits_over_the_build_as_the_build_does(workspace: Workspace) -> None:
    rows = [
        make_conversation(f"Q{n}?", f"A{n}.", "Be kind.", {
            "id": f"id{n}", "how": "extracted", "review": "new", "split": "train",
            "source": "faq.md", "line_start": n, "line_end": n + 1, "sha256": "new-sha",
        })
        for n in range(3)
    ]  # fmt: skip
    path = workspace.dataset_dir / "conversations.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    record_edit(workspace, "id0", review="edited", answer="Better.", sha256="new-sha")
    record_edit(workspace, "id1", review="approved", sha256="old-sha")  # an older source
    record_edit(workspace, "id2", review="rejected", sha256="old-sha")
    view = {e.id: e for e in review_view(workspace)}
    ex0 = view["id0"]
    assert (ex0.answer, ex0.state, ex0.how) == ("Better.", "edited", "edited")
    assert view["id0"].has_text_edit and view["id0"].lines == "0-1"
    assert (view["id1"].state, view["id1"].has_text_edit) == ("stale", False)
    assert view["id2"].state == "rejected"  # a rejection stands whatever the source did
    assert overlay_edit("Q", "A", "new", None, "x") == ("Q", "A", "new", False)
