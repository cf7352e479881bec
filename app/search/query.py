"""From what a resident types to a query plan: concepts with weighted alternative terms.

A Chinese run is scanned for everyday phrases from the synonym table first, then segmented with
jieba; stop words go. Known words become concepts as they are. Unknown stretches are read as
pinyin and matched against the pinyin of every indexed word, so homophone slips ("驾使证")
still land; what remains falls back to character bigrams. A Latin run is read as pinyin, as
initials ("jsz") or as a mix, split into known keys by a small dynamic programme; a run that
does not split is corrected for one or two typos (a SymSpell-style deletion index) or completed
as a prefix while the resident is still typing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from app.search.synonyms import SYNONYMS
from app.search.text import (
    STOP_WORDS,
    Segmenter,
    bigrams,
    full_pinyin,
    initials,
    is_chinese,
    normalise,
    runs,
)

_BIGRAM_FACTOR = 0.6
_UNIGRAM_FACTOR = 0.3
_MAX_CONCEPTS = 12
_MAX_ALTERNATIVES = 12
_MAX_LATIN_RUN = 40
_SYNONYM_TARGET_WEIGHT = 0.9
_FULL_PINYIN_WEIGHT = 0.9
_INITIALS_WEIGHT = 0.75
_TYPO_WEIGHT = 0.7
_PREFIX_WEIGHT = 0.7
_MIN_TYPO_KEY = 5


@dataclass(frozen=True)
class Concept:
    """One thing the resident asked for; a row scores its best alternative."""

    label: str
    alternatives: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class QueryPlan:
    text: str
    concepts: tuple[Concept, ...] = ()
    codes: tuple[str, ...] = ()


@dataclass
class Vocabulary:
    """The words of one index and the pinyin keys that reach them."""

    word_frequency: Mapping[str, int]
    keys: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    deletes: dict[str, set[str]] = field(default_factory=dict)
    sorted_keys: list[str] = field(default_factory=list)
    longest_key: int = 0

    @classmethod
    def build(cls, word_frequency: Mapping[str, int]) -> Vocabulary:
        keys: dict[str, dict[str, float]] = defaultdict(dict)

        def add(key: str, target: str, weight: float) -> None:
            if len(key) >= 2 and keys[key].get(target, 0.0) < weight:
                keys[key][target] = weight

        for word in word_frequency:
            if is_chinese(word) and len(word) >= 2:
                add(full_pinyin(word), f"w:{word}", _FULL_PINYIN_WEIGHT)
                add(initials(word), f"w:{word}", _INITIALS_WEIGHT)
            elif word.isascii() and word.isalpha():
                add(word, f"w:{word}", 1.0)
        for phrase in SYNONYMS:
            # Full pinyin only: the initials of everyday phrases collide with real terms.
            add(full_pinyin(phrase), f"s:{phrase}", _FULL_PINYIN_WEIGHT)

        ranked: dict[str, list[tuple[str, float]]] = {}
        for key, targets in keys.items():
            ranked[key] = sorted(
                targets.items(),
                key=lambda item: (-item[1], -word_frequency.get(item[0][2:], 0), item[0]),
            )[:_MAX_ALTERNATIVES]
        deletes: dict[str, set[str]] = defaultdict(set)
        for key in ranked:
            if len(key) >= _MIN_TYPO_KEY and any(t.startswith(("w:", "s:")) for t, _ in ranked[key]):
                for variant in _one_deletions(key):
                    deletes[variant].add(key)
        return cls(
            word_frequency=word_frequency,
            keys=ranked,
            deletes=dict(deletes),
            sorted_keys=sorted(ranked),
            longest_key=max((len(k) for k in ranked), default=0),
        )

    def corrections(self, token: str) -> list[str]:
        """Keys within one edit (two for long tokens) of the token, closest first."""
        if len(token) < _MIN_TYPO_KEY:
            return []
        candidates: set[str] = set(self.deletes.get(token, ()))
        for variant in _one_deletions(token):
            if variant in self.keys:
                candidates.add(variant)
            candidates.update(self.deletes.get(variant, ()))
        limit = 1 if len(token) < 8 else 2
        scored = sorted((distance, key) for key in candidates if (distance := _edit_distance(token, key)) <= limit)
        if not scored:
            return []
        best = scored[0][0]
        return [key for distance, key in scored if distance == best][:_MAX_ALTERNATIVES]

    def completions(self, prefix: str) -> list[str]:
        from bisect import bisect_left

        start = bisect_left(self.sorted_keys, prefix)
        found = []
        for key in self.sorted_keys[start : start + 200]:
            if not key.startswith(prefix):
                break
            found.append(key)
        found.sort(key=lambda k: (len(k), k))
        return found[:_MAX_ALTERNATIVES]


class Analyzer:
    """Turns field values into index terms and queries into plans. Safe to share across threads."""

    _default: Analyzer | None = None

    def __init__(self, segmenter: Segmenter | None = None) -> None:
        self.segmenter = segmenter or Segmenter(extra_words=tuple(_synonym_words()))
        self._synonym_longest = max(len(p) for p in SYNONYMS)
        self.index_terms = lru_cache(maxsize=200_000)(self._index_terms)

    @classmethod
    def default(cls) -> Analyzer:
        """One per process: the segmenter's dictionary is loaded once, on first use."""
        if cls._default is None:
            cls._default = cls()
        return cls._default

    def warm_up(self) -> None:
        self.segmenter.warm_up()

    # ------------------------------------------------------------------ indexing
    def _index_terms(self, text: str) -> tuple[tuple[str, float], ...]:
        folded = normalise(text, max_chars=200)
        terms: dict[str, float] = {}
        for run in runs(folded):
            if is_chinese(run):
                for word in self.segmenter.words_inside(run):
                    terms[f"w:{word}"] = 1.0
                for pair in bigrams(run):
                    terms.setdefault(f"b:{pair}", _BIGRAM_FACTOR)
                for char in run:
                    terms.setdefault(f"u:{char}", _UNIGRAM_FACTOR)
            else:
                terms[f"w:{run}"] = 1.0
        return tuple(terms.items())

    # ------------------------------------------------------------------ querying
    def plan(self, query: str, vocabulary: Vocabulary, has_term: Callable[[str], bool]) -> QueryPlan:
        text = normalise(query)
        concepts: list[Concept] = []
        codes: list[str] = []
        for run in runs(text):
            if is_chinese(run):
                concepts.extend(self._chinese(run, vocabulary, has_term))
            elif any(ch.isdigit() for ch in run):
                if len(run) >= 6:
                    codes.append(run)
                if has_term(f"w:{run}"):
                    concepts.append(Concept(run, ((f"w:{run}", 1.0),)))
            else:
                concepts.extend(self._latin(run[:_MAX_LATIN_RUN], vocabulary, has_term))
        if not concepts and not codes and text:
            # Only stop words ("办理"): better to search them than to find nothing.
            words = [w for run in runs(text) if is_chinese(run) for w in self.segmenter.cut(run)]
            concepts = [Concept(w, ((f"w:{w}", 1.0),)) for w in words if len(w) >= 2 and has_term(f"w:{w}")]
        return QueryPlan(text=text, concepts=tuple(concepts[:_MAX_CONCEPTS]), codes=tuple(codes[:3]))

    def _chinese(self, run: str, vocabulary: Vocabulary, has_term: Callable[[str], bool]) -> list[Concept]:
        concepts: list[Concept] = []
        plain_start = 0
        i = 0
        while i < len(run):
            phrase = self._synonym_at(run, i)
            if phrase is None:
                i += 1
                continue
            concepts.extend(self._plain(run[plain_start:i], vocabulary, has_term))
            concepts.append(_synonym_concept(phrase))
            i += len(phrase)
            plain_start = i
        concepts.extend(self._plain(run[plain_start:], vocabulary, has_term))
        return concepts

    def _synonym_at(self, run: str, start: int) -> str | None:
        for length in range(min(self._synonym_longest, len(run) - start), 1, -1):
            candidate = run[start : start + length]
            if candidate in SYNONYMS:
                return candidate
        return None

    def _plain(self, text: str, vocabulary: Vocabulary, has_term: Callable[[str], bool]) -> list[Concept]:
        if not text:
            return []
        concepts: list[Concept] = []
        pending = ""
        for word in self.segmenter.cut(text):
            if word in STOP_WORDS:
                concepts.extend(self._unknown(pending, vocabulary, has_term))
                pending = ""
            elif len(word) >= 2 and has_term(f"w:{word}"):
                concepts.extend(self._unknown(pending, vocabulary, has_term))
                pending = ""
                concepts.append(Concept(word, ((f"w:{word}", 1.0),)))
            else:
                pending += word
        concepts.extend(self._unknown(pending, vocabulary, has_term))
        return concepts

    def _unknown(self, chunk: str, vocabulary: Vocabulary, has_term: Callable[[str], bool]) -> list[Concept]:
        """A stretch no indexed word covers: read it as pinyin, else as characters."""
        if not chunk:
            return []
        if len(chunk) >= 2:
            by_sound = _split_keys(full_pinyin(chunk), vocabulary, allow_fuzzy=True)
            if by_sound:
                return by_sound
        if len(chunk) == 1:
            return [Concept(chunk, ((f"u:{chunk}", 1.0),))]
        return [Concept(pair, ((f"b:{pair}", 1.0),)) for pair in bigrams(chunk) if has_term(f"b:{pair}")]

    def _latin(self, run: str, vocabulary: Vocabulary, has_term: Callable[[str], bool]) -> list[Concept]:
        if has_term(f"w:{run}"):
            return [Concept(run, ((f"w:{run}", 1.0),))]
        split = _split_keys(run, vocabulary, allow_fuzzy=True)
        if split:
            return split
        if len(run) >= 2:
            keys = vocabulary.completions(run)
            if keys:
                return [_key_concept(run, keys, vocabulary, _PREFIX_WEIGHT)]
        return []


def _split_keys(text: str, vocabulary: Vocabulary, *, allow_fuzzy: bool) -> list[Concept]:
    """Cover the Latin text with vocabulary keys, fewest pieces first; [] when it cannot."""
    n = len(text)
    if n == 0:
        return []
    if text in vocabulary.keys:
        return [_key_concept(text, [text], vocabulary, 1.0)]
    Split = tuple[float, list[tuple[str, list[str], float]]]
    best: list[Split | None] = [None] * (n + 1)
    best[0] = (0.0, [])
    longest = min(vocabulary.longest_key, n)
    for i in range(n):
        here = best[i]
        if here is None:
            continue
        cost_here, pieces = here
        for j in range(i + 1, min(n, i + longest) + 1):
            piece = text[i:j]
            if piece in vocabulary.keys:
                option: Split = (cost_here + 1.0, [*pieces, (piece, [piece], 1.0)])
            elif j == n and len(piece) >= 3:
                found = vocabulary.completions(piece)
                if not found:
                    continue
                option = (cost_here + 1.6, [*pieces, (piece, found, _PREFIX_WEIGHT)])
            else:
                continue
            current = best[j]
            if current is None or option[0] < current[0]:
                best[j] = option
    done = best[n]
    if done is None:
        corrected = vocabulary.corrections(text) if allow_fuzzy else []
        return [_key_concept(text, corrected, vocabulary, _TYPO_WEIGHT)] if corrected else []
    return [_key_concept(piece, keys, vocabulary, weight) for piece, keys, weight in done[1]]


def _key_concept(label: str, keys: list[str], vocabulary: Vocabulary, weight: float) -> Concept:
    alternatives: dict[str, float] = {}
    for key in keys:
        targets = vocabulary.keys.get(key, ())
        for target, target_weight in targets:
            if target.startswith("s:"):
                for term, synonym_weight in _synonym_concept(target[2:]).alternatives:
                    value = weight * target_weight * synonym_weight
                    if alternatives.get(term, 0.0) < value:
                        alternatives[term] = value
                continue
            value = weight * target_weight * _frequency_prior(target, targets, vocabulary)
            if alternatives.get(target, 0.0) < value:
                alternatives[target] = value
    ranked = sorted(alternatives.items(), key=lambda item: (-item[1], item[0]))[:_MAX_ALTERNATIVES]
    return Concept(label, tuple(ranked))


def _frequency_prior(target: str, targets: Iterable[tuple[str, float]], vocabulary: Vocabulary) -> float:
    """Among words sharing a key (initials are ambiguous), the commoner word is likelier meant."""
    frequencies = [vocabulary.word_frequency.get(t[2:], 0) for t, _ in targets if t.startswith("w:")]
    top = max(frequencies, default=0)
    if top <= 0:
        return 1.0
    return (max(vocabulary.word_frequency.get(target[2:], 0), 1) / top) ** 0.25


@lru_cache(maxsize=4096)
def _synonym_concept(phrase: str) -> Concept:
    alternatives = [(f"w:{phrase}", 1.0)]
    # Targets are listed most likely first.
    alternatives.extend(
        (f"w:{target}", _SYNONYM_TARGET_WEIGHT - 0.05 * rank) for rank, target in enumerate(SYNONYMS[phrase])
    )
    return Concept(phrase, tuple(alternatives))


def _synonym_words() -> set[str]:
    words = set(SYNONYMS)
    for targets in SYNONYMS.values():
        words.update(targets)
    return words


def _one_deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def _edit_distance(a: str, b: str) -> int:
    """Damerau-Levenshtein (optimal string alignment) distance; the strings are short."""
    previous_previous: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous_previous[j - 2] + 1)
        previous_previous, previous = previous, current
    return previous[len(b)]
