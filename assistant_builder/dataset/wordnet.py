"""Read-only access to the WordNet 3.0 database files the OS distribution ships.

Debian and Ubuntu package the Princeton database as ``wordnet-base`` (``/usr/share/wordnet``:
``index.POS``, ``data.POS``, ``POS.exc``; format in ``wndb(5WN)``). The Python readers do not
read that copy: NLTK's reader wants its own downloaded corpus (it needs a ``lexnames`` file the
package lacks and maps every synset to its downloaded WordNet at start-up), and ``wn`` downloads
its data at run time. The format has been fixed since WordNet 2.0, so the few lookups the
paraphraser needs (a word's senses in frequency order, their lemmas, their hypernyms, the base
form of an inflected word) are read here directly. Nothing is downloaded.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

POS_FILES = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}
ENV_DIR = "ASSISTANT_BUILDER_WORDNET"
SEARCH_DIRS = ("/usr/share/wordnet", "/usr/local/share/wordnet", "/opt/homebrew/share/wordnet")
INSTALL_HINT = "install it with `apt-get install wordnet-base` (Debian/Ubuntu)"


def find_dir() -> Path | None:
    """The folder holding ``index.noun`` and ``data.noun``: $ASSISTANT_BUILDER_WORDNET first,
    then the places OS packages put them."""
    env = os.environ.get(ENV_DIR)
    for d in ([env] if env else []) + list(SEARCH_DIRS):
        p = Path(d)
        if (p / "index.noun").is_file() and (p / "data.noun").is_file():
            return p
    return None


class Synset:
    __slots__ = ("hypernyms", "lemmas", "offset", "pos")

    def __init__(
        self, offset: int, pos: str, lemmas: list[str], hypernyms: list[tuple[int, str]]
    ) -> None:
        self.offset = offset
        self.pos = pos
        self.lemmas = lemmas  # as written, spaces for underscores, first is the head word
        self.hypernyms = hypernyms  # (offset, pos) of '@' pointers


class WordNet:
    """Lookups on one WordNet folder. Indexes load per part of speech on first use (~1 s for
    nouns); synsets are read by byte offset and cached."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._index: dict[str, dict[str, list[int]]] = {}
        self._exc: dict[str, dict[str, str]] = {}
        self._data: dict[str, bytes] = {}

    def _load_index(self, pos: str) -> dict[str, list[int]]:
        if pos not in self._index:
            out: dict[str, list[int]] = {}
            with open(self.root / f"index.{POS_FILES[pos]}", encoding="utf-8") as f:
                for line in f:
                    if line.startswith(" "):
                        continue  # the licence header
                    parts = line.split()
                    n_ptr = int(parts[3])
                    n_syn = int(parts[2])
                    offsets = parts[4 + n_ptr + 2 :][:n_syn]
                    out[parts[0]] = [int(o) for o in offsets]
            self._index[pos] = out
        return self._index[pos]

    def _load_exc(self, pos: str) -> dict[str, str]:
        if pos not in self._exc:
            out: dict[str, str] = {}
            path = self.root / f"{POS_FILES[pos]}.exc"
            if path.is_file():
                for line in path.read_text(encoding="utf-8").splitlines():
                    parts = line.split()
                    if len(parts) >= 2:
                        out.setdefault(parts[0], parts[1])
            self._exc[pos] = out
        return self._exc[pos]

    def synset(self, offset: int, pos: str) -> Synset:
        return _read_synset(self.root / f"data.{POS_FILES[pos]}", offset, pos)

    def base_form(self, word: str, pos: str) -> str | None:
        """The lemma WordNet knows for an inflected word ('packages' → 'package',
        'ran' → 'run'), or None."""
        w = word.lower()
        index = self._load_index(pos)
        if w in index:
            return w
        exc = self._load_exc(pos).get(w)
        if exc and exc in index:
            return exc
        for suffix, repl in _DETACH.get(pos, ()):
            if w.endswith(suffix):
                cand = w[: len(w) - len(suffix)] + repl
                if cand in index:
                    return cand
        return None

    def senses(self, lemma: str, pos: str) -> list[Synset]:
        """The lemma's synsets, most frequent sense first."""
        offsets = self._load_index(pos).get(lemma.lower().replace(" ", "_"), [])
        return [self.synset(o, pos) for o in offsets]


# wndb(5WN)'s "detachment rules" for regular inflections.
_DETACH: dict[str, tuple[tuple[str, str], ...]] = {
    "n": (("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"), ("s", "")),
    "v": (
        ("ies", "y"),
        ("es", "e"),
        ("es", ""),
        ("ed", "e"),
        ("ed", ""),
        ("ing", "e"),
        ("ing", ""),
        ("s", ""),
    ),
    "a": (("er", ""), ("est", ""), ("er", "e"), ("est", "e")),
}


@lru_cache(maxsize=65536)
def _read_synset(path: Path, offset: int, pos: str) -> Synset:
    with open(path, "rb") as f:
        f.seek(offset)
        line = f.readline().decode("utf-8")
    head = line.split(" | ", 1)[0].split()
    n_words = int(head[3], 16)
    lemmas = []
    for i in range(n_words):
        w = head[4 + 2 * i]
        # Adjective markers: "long(a)", "galore(ip)".
        lemmas.append(w.split("(", 1)[0].replace("_", " "))
    k = 4 + 2 * n_words
    n_ptr = int(head[k])
    hyper = []
    for j in range(n_ptr):
        sym, off, ppos = head[k + 1 + 4 * j : k + 4 + 4 * j]
        if sym == "@":
            hyper.append((int(off), "a" if ppos == "s" else ppos))
    return Synset(offset, pos, lemmas, hyper)


@lru_cache(maxsize=4)
def open_wordnet(root: str) -> WordNet:
    return WordNet(Path(root))


def load() -> tuple[WordNet | None, str]:
    """(the database, '') or (None, why not and how to install it)."""
    root = find_dir()
    if root is None:
        return None, f"no WordNet database found ({INSTALL_HINT}, or set ${ENV_DIR})"
    try:
        wn = open_wordnet(str(root))
        wn._load_index("v")  # fail here, not mid-build, on a broken copy
    except (OSError, ValueError, IndexError, UnicodeDecodeError) as e:
        return None, f"WordNet at {root} is unreadable ({type(e).__name__}: {e})"
    return wn, ""
