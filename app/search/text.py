"""Text analysis shared by indexing and querying: normalisation, Chinese segmentation, pinyin.

jieba's bundled dictionary (349k words) takes about a second to load and holds the GIL while it
does, so every worker start would stall its event loop. We load a trimmed copy instead: the words
jieba has seen at least `_MIN_WORD_FREQUENCY` times (about 80k) plus our government terms, which
loads in roughly a tenth of the time and segments service names the same way. The trimmed file is
derived once per machine into the temp directory and loaded lazily, on first use.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import threading
import unicodedata
from functools import lru_cache
from importlib import resources
from pathlib import Path

import jieba  # type: ignore[import-untyped]
from pypinyin import Style, lazy_pinyin

MAX_QUERY_CHARS = 100
_MIN_WORD_FREQUENCY = 20
_GOVERNMENT_TERMS = "government_terms.txt"
_GOVERNMENT_TERM_FREQUENCY = 200_000

_RUNS = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+|[a-z0-9]+")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_SPACES = re.compile(r"\s+")

# Words that carry no meaning in a service search ("我想办理居住证" is about 居住证).
STOP_WORDS = frozenset(
    "我 我们 你 您 他 她 想 想要 要 需要 怎么 怎么办 怎样 如何 哪里 在哪 在哪里 哪儿 什么 啥 的 了 吗 呢 吧 啊 "
    "和 与 及 或 去 到 在 给 帮 帮我 请问 请 可以 能 能否 能不能 是 有 办 办理 一下 一个 手续 流程 "
    "怎么弄 咋办 咋 哪个 多少 几 就 还 也 都 孩子 小孩 家人 家里 我家 本人 自己 现在 已经 马上".split()
)


def normalise(text: str, *, max_chars: int = MAX_QUERY_CHARS) -> str:
    """Fold widths and case, turn control and format characters into spaces, cap the length."""
    folded = unicodedata.normalize("NFKC", text[: max_chars * 4])
    cleaned = "".join(" " if unicodedata.category(ch)[0] in "CZ" else ch for ch in folded)
    return _SPACES.sub(" ", cleaned).strip().lower()[:max_chars]


def runs(text: str) -> list[str]:
    """Maximal runs of Chinese characters or of ASCII letters and digits; the rest separates."""
    return _RUNS.findall(text)


def is_chinese(text: str) -> bool:
    return bool(text) and all(_CJK.match(ch) for ch in text)


@lru_cache(maxsize=65_536)
def full_pinyin(word: str) -> str:
    return "".join(lazy_pinyin(word, errors="ignore"))


@lru_cache(maxsize=65_536)
def initials(word: str) -> str:
    return "".join(s[:1] for s in lazy_pinyin(word, style=Style.FIRST_LETTER, errors="ignore"))


def bigrams(text: str) -> list[str]:
    return [text[i : i + 2] for i in range(len(text) - 1)]


def government_terms() -> list[str]:
    """Our custom dictionary: one term per line, '#' starts a comment."""
    raw = resources.files(__package__).joinpath("data", _GOVERNMENT_TERMS).read_text("utf-8")
    terms = []
    for line in raw.splitlines():
        term = line.split("#", 1)[0].strip()
        if term:
            terms.append(term)
    return terms


class Segmenter:
    """jieba with the trimmed dictionary, initialised on first use (thread-safe)."""

    def __init__(self, extra_words: tuple[str, ...] = ()) -> None:
        self._extra_words = extra_words
        self._tokenizer: jieba.Tokenizer | None = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        self._ready()

    def cut(self, text: str) -> list[str]:
        """Words in reading order (no overlap), as users type them."""
        return self._ready().lcut(text, HMM=False)

    def words_inside(self, text: str) -> list[str]:
        """Every dictionary word of two or more characters found anywhere in the text, so a
        query for a short word meets the long names that contain it."""
        dag = self._ready().get_DAG(text)
        return [text[start : end + 1] for start, ends in dag.items() for end in ends if end > start]

    def _ready(self) -> jieba.Tokenizer:
        tokenizer = self._tokenizer
        if tokenizer is not None:
            return tokenizer
        with self._lock:
            if self._tokenizer is None:
                self._tokenizer = self._load()
            return self._tokenizer

    def _load(self) -> jieba.Tokenizer:
        jieba.setLogLevel(logging.WARNING)
        words = sorted(set(government_terms()) | set(self._extra_words))
        path = _trimmed_dictionary(words)
        tokenizer = jieba.Tokenizer(str(path))
        tokenizer.tmp_dir = str(path.parent)
        tokenizer.initialize()
        return tokenizer


def _trimmed_dictionary(extra_words: list[str]) -> Path:
    source = Path(jieba.__file__).with_name("dict.txt")
    digest = hashlib.sha256(
        f"{source.stat().st_size}:{_MIN_WORD_FREQUENCY}:{'|'.join(extra_words)}".encode()
    ).hexdigest()[:16]
    folder = Path(tempfile.gettempdir()) / "govsvc-search"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"dict-{digest}.txt"
    if target.exists():
        return target
    lines = []
    with source.open(encoding="utf-8") as handle:
        for line in handle:
            parts = line.split()
            if len(parts) >= 2 and int(parts[1]) >= _MIN_WORD_FREQUENCY:
                lines.append(line if line.endswith("\n") else line + "\n")
    lines.extend(f"{word} {_GOVERNMENT_TERM_FREQUENCY} n\n" for word in extra_words if " " not in word)
    # Workers may race to create the file: write privately, then rename atomically.
    scratch = folder / f".{target.name}.{os.getpid()}.{threading.get_ident()}"
    scratch.write_text("".join(lines), encoding="utf-8")
    os.replace(scratch, target)
    return target
