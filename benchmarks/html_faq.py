"""PYTHONPATH=. python benchmarks/html_faq.py [--libs DIR]

How well saved FAQ pages become pairs, and whether a maintained boilerplate library would do
better than the parser's own chrome rules. For each HTML page in tests/fixtures/ingest/ with a
known question list (below), it reports:

- ``hand rules``: the product's parser (``parse_file``): questions recovered as pairs (recall)
  and page-chrome pairs (a pair whose question or answer holds a chrome string);
- ``justext`` / ``boilerpy3`` (when importable, e.g. ``pip install --target DIR justext
  boilerpy3`` and ``--libs DIR``): the share of the questions that survive as content text, and
  the chrome strings they keep as content. They return plain text (no list items, no
  ``<dt>``/``<details>``), so they could only be a filter in front of the parser.

Prints one JSON object; exit status 0. Figures go to benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "ingest"

# The questions a person reads on each page, and text of its chrome (menus, search, footers,
# sidebars, banners) that must never become training data.
PAGES: dict[str, dict[str, list[str]]] = {
    "project_faq_list.html": {
        "questions": [
            "What is Tessel?", "Which license is Tessel released under?",
            "Is Tessel thread-safe?", "Where can I download the latest release?",
            "How do I cite Tessel in a paper?", "Which compilers are supported?",
            "How do I build Tessel on Windows?", 'Why does configure fail with "zlib not found"?',
            "Can I build Tessel without libjpeg?",
            "How do I install Tessel into my home directory?",
            "Is there a Python binding?", "Do you provide packages for Homebrew?",
            "How do I read a single tile without loading the whole image?",
            "Why are my images upside down?", "What is the largest image Tessel can handle?",
            "How do I change the tile cache size?", "Can Tessel write BigTIFF files?",
            "Does Tessel support 16-bit and floating point samples?",
            "How do I convert a PNG to a tiled TIFF from the command line?",
            'Why does tessel-convert report "bad magic number"?',
            "My program crashes in tessel_close(). What is wrong?", "How do I report a bug?",
            "Who do I contact about security issues?",
        ],
        "chrome": ["Quick links", "Mailing lists", "Search the site", "Last modified",
                   "API reference", "Privacy"],
    },
    "shop_faq_mixed.html": {
        "questions": [
            "How long does shipping take?", "Can I change my order after placing it?",
            "Do you ship internationally?", "How do I track my parcel?",
            "How should I store loose-leaf tea?", "How much tea do I use per cup?",
            "What water temperature is best for green tea?", "Are your teas organic?",
            "Which payment methods do you accept?", "Is my card information stored?",
            "How do I reset my password?", "Can I delete my account?",
            "What is your return policy?", "Who pays for return shipping?",
            "How long does a refund take?",
        ],
        "chrome": ["Skip to content", "Free shipping on orders", "Search for", "Cart (0)",
                   "Recent posts", "How to whisk matcha", "What is oolong?", "Get 10% off",
                   "Customer service", "Why do customers love us?", "We use cookies",
                   "All rights reserved"],
    },
    "helpcentre.html": {
        "questions": [
            "How do I pair my lamp with the app?", "What does the blinking red light mean?",
            "Can I reset the lamp from the command line?", "Why is my lamp warm?",
            "Is the lamp waterproof?", "Where can I download the manual?",
        ],
        "chrome": ["We use cookies", "Related articles", "How do I buy?", "Where to find us?",
                   "Was this article helpful?"],
    },
}  # fmt: skip


def _norm(s: str) -> str:
    return " ".join(s.replace("*", "").split()).lower()


def hand_rules(name: str, page: dict[str, list[str]]) -> dict[str, Any]:
    from assistant_builder.sources.parsers import parse_file

    pairs = parse_file(FIXTURES / name).pairs
    got = {_norm(p.question) for p in pairs}
    found = [q for q in page["questions"] if _norm(q) in got]
    chrome = [
        p.question
        for p in pairs
        if any(_norm(c) in _norm(p.question + " " + p.answer) for c in page["chrome"])
    ]
    extra = [p.question for p in pairs if _norm(p.question) not in map(_norm, page["questions"])]
    return {
        "questions": len(page["questions"]),
        "recovered": len(found),
        "recall": round(len(found) / len(page["questions"]), 3),
        "pairs": len(pairs),
        "chrome_pairs": chrome,
        "other_pairs": extra,
    }


def _text_scores(text: str, page: dict[str, list[str]]) -> dict[str, Any]:
    t = _norm(text)
    kept = [q for q in page["questions"] if _norm(q) in t]
    return {
        "recall": round(len(kept) / len(page["questions"]), 3),
        "chrome_kept": [c for c in page["chrome"] if _norm(c) in t],
    }


def justext_scores(html: str, page: dict[str, list[str]]) -> dict[str, Any] | None:
    try:
        import justext
    except ImportError:
        return None
    paras = justext.justext(html.encode("utf-8"), justext.get_stoplist("English"))
    return _text_scores("\n".join(p.text for p in paras if not p.is_boilerplate), page)


def boilerpy_scores(html: str, page: dict[str, list[str]]) -> dict[str, Any] | None:
    try:
        from boilerpy3 import extractors
    except ImportError:
        return None
    return _text_scores(extractors.ArticleExtractor().get_content(html), page)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--libs", help="a folder with justext/boilerpy3 (pip install --target)")
    args = ap.parse_args(argv)
    if args.libs:
        sys.path.insert(0, args.libs)
    out: dict[str, Any] = {}
    for name, page in PAGES.items():
        html = (FIXTURES / name).read_text(encoding="utf-8")
        out[name] = {
            "hand_rules": hand_rules(name, page),
            "justext": justext_scores(html, page),
            "boilerpy3": boilerpy_scores(html, page),
        }
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
