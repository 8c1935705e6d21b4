"""The ``serve`` and ``conversations`` commands (the chat backend and its log)."""

from __future__ import annotations

import argparse
from typing import Any

from assistant_builder.cli.output import console, say
from assistant_builder.errors import UserError
from assistant_builder.workspace import Workspace


def add_serve_arguments(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--run", metavar="ID", help="run to serve (default: the latest)")
    sp.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    sp.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: any free)")
    sp.add_argument(
        "--api-key-file",
        metavar="FILE",
        help="require 'Authorization: Bearer KEY' with the key in FILE "
        "(or set $ASSISTANT_BUILDER_API_KEY)",
    )
    sp.add_argument(
        "--api-key", metavar="KEY", help="the key on the command line (visible in the process list)"
    )
    sp.add_argument(
        "--no-log", action="store_true", help="do not keep conversations (conversations.db)"
    )
    sp.add_argument(
        "--keep-days",
        type=int,
        default=90,
        metavar="N",
        help="delete logged conversations idle for more than N days (default 90; 0: keep all)",
    )
    sp.add_argument(
        "--backend",
        choices=["transformers", "llama-cpp"],
        default="transformers",
        help="transformers (default; dynamic batching) or llama-cpp (the run's GGUF export, "
        "needs llama-cpp-python)",
    )
    sp.add_argument(
        "--single-stream",
        choices=["fp16", "fp32", "int8", "model"],
        default="fp16",
        help="how a request decoded alone runs (transformers backend): fp16 (default; a "
        "hand-written Llama step on fp16 weights, the prompt in fp32), fp32 (the same step on "
        "the model's own values), int8 (int8 weights: answers may change) or model (the "
        "model's own forward)",
    )
    sp.add_argument(
        "--no-drafts",
        action="store_true",
        help="do not check guessed continuations (from the prompt and the run's training "
        "answers) when decoding a greedy request alone; answers are the same either way",
    )
    sp.add_argument(
        "--max-batch", type=int, default=16, metavar="N", help="requests decoded together (16)"
    )
    sp.add_argument(
        "--context", type=int, metavar="TOKENS", help="context window (default: the model's)"
    )
    sp.add_argument(
        "--retrieval",
        action="store_true",
        help="answer from the passages the workspace's retrieval index (built by `dataset`) "
        "finds for each question; the response lists them as `sources`",
    )
    sp.add_argument(
        "--sources-footer",
        action="store_true",
        help="with --retrieval: end each answer with a 'Sources: file:lines' line",
    )
    sp.add_argument(
        "--words-only",
        action="store_true",
        help="with --retrieval and a run trained without retrieval rows: match the question "
        "to an FAQ entry by shared words alone, skipping the default model's check of the best "
        "entries (the check finds more right entries, costs ~0.1-0.5 s per question on 2 CPU "
        "cores, and runs one question at a time)",
    )


def cmd_serve(args: argparse.Namespace) -> dict[str, Any]:
    from assistant_builder.serve.run import ServeOptions, build_server, resolve_api_key

    ws = Workspace(args.workspace).require()
    run_id = args.run or ws.latest_run()
    if run_id is None:
        raise UserError("no trained run to serve (run `assistant-builder train` first)")
    if args.max_batch < 1 or args.keep_days < 0 or (args.context is not None and args.context < 16):
        raise UserError("--max-batch must be >= 1, --keep-days >= 0 and --context >= 16")
    if args.sources_footer and not args.retrieval:
        raise UserError("--sources-footer goes with --retrieval")
    if args.words_only and not args.retrieval:
        raise UserError("--words-only goes with --retrieval")
    key, source = resolve_api_key(args.api_key, args.api_key_file)
    if source == "--api-key":
        say(
            "[yellow]warning:[/] --api-key is visible to every user of this machine in the "
            "process list; prefer $ASSISTANT_BUILDER_API_KEY or --api-key-file"
        )
    if args.host not in ("127.0.0.1", "localhost", "::1") and key is None:
        say(
            f"[yellow]warning:[/] serving on {args.host} without an API key: anyone who can "
            "reach this machine can use the model"
        )
    say(f"Loading run {run_id} ({args.backend})...")
    opts = ServeOptions(
        host=args.host,
        port=args.port,
        api_key=key,
        log=not args.no_log,
        keep_days=args.keep_days or None,
        backend=args.backend,
        max_batch=args.max_batch,
        single=args.single_stream,
        drafts=not args.no_drafts,
        context=args.context,
        retrieval=args.retrieval,
        sources_footer=args.sources_footer,
        model_check=not args.words_only,
        say=say,
    )
    server = build_server(ws, run_id, opts)
    url = server.url
    say(f"Serving run [bold]{run_id}[/] at {url}/v1 (OpenAI-compatible; Ctrl-C stops)")
    say(f"  web page: {url}/")
    say(f"  API key: {'required (from ' + source + ')' if key else 'none'}")
    if server.grounding is not None:
        g = server.grounding
        say(
            f"  retrieval: {g.describe()}"
            + (", with a sources footer" if args.sources_footer else "")
        )
        for notice in g.notices:
            say(f"  [yellow]notice:[/] {notice}")
    say(
        "  conversations: "
        + ("not logged" if args.no_log else f"logged to {ws.root / 'conversations.db'}")
    )
    auth = ' -H "Authorization: Bearer $ASSISTANT_BUILDER_API_KEY"' if key else ""
    console().print(  # unwrapped: the command must stay copy-pasteable
        f"  curl {url}/v1/chat/completions -H 'Content-Type: application/json'{auth} -d "
        f'\'{{"model": "{run_id}", "messages": [{{"role": "user", '
        f'"content": "Hello"}}]}}\'',
        soft_wrap=True,
    )
    server.run()
    say("stopped")
    out: dict[str, Any] = {"run": run_id, "url": f"{url}/v1"}
    if server.grounding is not None:
        out["retrieval"] = {"index": str(server.grounding.index.folder),
                            "notices": server.grounding.notices}  # fmt: skip
    return out


def cmd_conversations(args: argparse.Namespace) -> dict[str, Any]:
    from assistant_builder.serve.conversations import DB_NAME, open_log

    ws = Workspace(args.workspace).require()
    if not (ws.root / DB_NAME).is_file():
        say("No conversations logged yet (`assistant-builder serve` logs them).")
        return {"conversations": []}
    log = open_log(ws.root)
    try:
        convs = log.conversations(limit=args.limit)
    finally:
        log.close()
    if not args.raw:
        from assistant_builder.serve.served import redacted_listing

        convs = redacted_listing(ws, convs)
    for c in convs:
        say(f"[bold]{c['id']}[/] run {c['run']}  {c['updated']}  {len(c['exchanges'])} turn(s)")
        for ex in c["exchanges"]:
            say(f"  [cyan]Q:[/] {ex['question']}")
            say(f"  [green]A:[/] {ex['answer']}")
            for fb in ex["feedback"]:
                mark = "👍" if fb["rating"] == "up" else "👎"
                fix = f" correction: {fb['correction']}" if fb["correction"] else ""
                say(f"    {mark}{fix}")
    return {"conversations": convs, "redacted": not args.raw}
