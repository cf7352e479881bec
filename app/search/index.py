"""The in-process search index: immutable once built, queried in well under a millisecond.

Layout. Every document gets a row number. Each term ("w:" word, "b:" character bigram, "u:"
single character) maps to a posting: the rows that contain it and the best field weight there.
Service items repeat the same guide across many implementing regions, so terms are collected
once per distinct text (name, aliases, item type) and once per distinct department name, then
expanded to rows with numpy; building 100,000 items takes about as long as 2,000 distinct guides.

Scoring. A query becomes concepts (one per meaningful word, see `query.py`), each with weighted
alternatives (the word itself, its synonyms, what its pinyin or a typo correction points to).
A row's concept score is its best alternative (weight x idf x field weight); the relevance is
the sum over concepts, scaled by the share of concepts matched, plus a small bonus for items
scoped to the resident's own region. Results are ordered by relevance (rounded to one decimal,
so near-equal texts tie), then by popularity, then by row.
"""

from __future__ import annotations

import math
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.search.query import Analyzer, Concept, QueryPlan, Vocabulary

FIELD_WEIGHTS = {"name": 3.0, "alias": 2.0, "department": 1.0, "item_type": 1.0}
AUDIENCES = {"individual": 1, "enterprise": 2}
_ALL_AUDIENCES = 3
_POPULARITY_CAP = 2**31 - 1
_RESULT_CACHE_SIZE = 4096


class UnknownRegion(ValueError):
    """A region filter names a code the index does not know."""


class UnknownAudience(ValueError):
    """An audience filter other than individual or enterprise."""


@dataclass(frozen=True)
class Region:
    code: str
    name: str
    parent_code: str | None


@dataclass(frozen=True)
class SearchDocument:
    code: str
    name: str
    basic_code: str | None = None
    aliases: tuple[str, ...] = ()
    department: str = ""
    item_type: str = ""
    region_code: str | None = None  # None: available everywhere
    audiences: tuple[str, ...] = ("individual",)
    popularity: int = 0
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SearchHit:
    code: str
    score: float
    payload: Mapping[str, Any]


@dataclass(frozen=True)
class SearchResult:
    hits: list[SearchHit]
    total: int
    page: int
    page_size: int

    @property
    def has_more(self) -> bool:
        return self.page * self.page_size < self.total


@dataclass
class _Posting:
    rows: np.ndarray  # int32, unique
    weights: np.ndarray  # float32, field weight per row


class SearchIndex:
    """Build with `SearchIndex.build(...)`; `search` never mutates, `set_popularity` only counts."""

    def __init__(
        self,
        *,
        analyzer: Analyzer,
        vocabulary: Vocabulary,
        documents: list[SearchDocument],
        postings: dict[str, _Posting],
        region_rows: np.ndarray,
        audience_bits: np.ndarray,
        popularity: np.ndarray,
        regions: dict[str, int],
        parents: list[int],
        version: int,
    ) -> None:
        self.analyzer = analyzer
        self.vocabulary = vocabulary
        self.version = version
        # Bumped whenever rankings may change in place (popularity), for callers' caches.
        self.generation = 0
        self._documents = documents
        self._postings = postings
        self._region_rows = region_rows
        self._audience_bits = audience_bits
        self._popularity = popularity
        self._regions = regions
        self._parents = parents
        self._children: list[list[int]] = [[] for _ in parents]
        for child, parent in enumerate(parents):
            if parent >= 0:
                self._children[parent].append(child)
        self._row_by_code = {doc.code: row for row, doc in enumerate(documents)}
        # Queries are case-folded, codes are not: look them up folded.
        self._row_by_folded_code = {doc.code.lower(): row for row, doc in enumerate(documents)}
        rows_by_basic: dict[str, list[int]] = defaultdict(list)
        for row, doc in enumerate(documents):
            if doc.basic_code:
                rows_by_basic[doc.basic_code.lower()].append(row)
        self._rows_by_basic = {k: np.asarray(v, dtype=np.int32) for k, v in rows_by_basic.items()}
        service_of: dict[str, int] = {}
        self._service_ids = np.zeros(len(documents), dtype=np.int32)
        for row, doc in enumerate(documents):
            key = doc.basic_code or f"row:{row}"
            self._service_ids[row] = service_of.setdefault(key, len(service_of))
        self._service_count = max(1, len(service_of))
        self._idf = {term: math.log(1.0 + len(documents) / max(1, len(p.rows))) for term, p in postings.items()}
        self._region_tables: dict[str, np.ndarray] = {}
        # Residents repeat the same few queries; results only change with a new index or views.
        self._results: OrderedDict[tuple[Any, ...], SearchResult] = OrderedDict()

    # ------------------------------------------------------------------ building
    @classmethod
    def build(
        cls,
        documents: Iterable[SearchDocument],
        *,
        regions: Iterable[Region] = (),
        analyzer: Analyzer | None = None,
        version: int = 0,
    ) -> SearchIndex:
        analyzer = analyzer or Analyzer.default()
        docs = list(documents)
        region_list = list(regions)
        region_rows_by_code: dict[str, int] = {"": 0}
        for region in region_list:
            region_rows_by_code.setdefault(region.code, len(region_rows_by_code))
        parents = [-1] * len(region_rows_by_code)
        for region in region_list:
            parent = region.parent_code or ""
            parents[region_rows_by_code[region.code]] = region_rows_by_code.get(parent, 0)

        text_groups: dict[tuple[Any, ...], list[int]] = defaultdict(list)
        department_groups: dict[str, list[int]] = defaultdict(list)
        region_rows = np.zeros(len(docs), dtype=np.int32)
        audience_bits = np.zeros(len(docs), dtype=np.int8)
        popularity = np.zeros(len(docs), dtype=np.int64)
        for row, doc in enumerate(docs):
            text_groups[(doc.name, doc.aliases, doc.item_type)].append(row)
            if doc.department:
                department_groups[doc.department].append(row)
            if doc.region_code:
                if doc.region_code not in region_rows_by_code:
                    raise UnknownRegion(doc.region_code)
                region_rows[row] = region_rows_by_code[doc.region_code]
            audience_bits[row] = _audience_mask(doc.audiences)
            popularity[row] = min(max(doc.popularity, 0), _POPULARITY_CAP)

        chunks: dict[str, list[tuple[np.ndarray, float]]] = defaultdict(list)
        for (name, aliases, item_type), rows in text_groups.items():
            weights: dict[str, float] = {}
            _add_field(analyzer, weights, name, FIELD_WEIGHTS["name"])
            for alias in aliases:
                _add_field(analyzer, weights, alias, FIELD_WEIGHTS["alias"])
            if item_type:
                _add_field(analyzer, weights, item_type, FIELD_WEIGHTS["item_type"])
            row_array = np.asarray(rows, dtype=np.int32)
            for term, weight in weights.items():
                chunks[term].append((row_array, weight))
        for department, rows in department_groups.items():
            weights = {}
            _add_field(analyzer, weights, department, FIELD_WEIGHTS["department"])
            row_array = np.asarray(rows, dtype=np.int32)
            for term, weight in weights.items():
                chunks[term].append((row_array, weight))

        postings = {term: _merge(parts) for term, parts in chunks.items()}
        vocabulary = Vocabulary.build(
            # How many distinct texts use a word, not rows: one item in 124 counties is one use.
            {term[2:]: len(parts) for term, parts in chunks.items() if term.startswith("w:")}
        )
        return cls(
            analyzer=analyzer,
            vocabulary=vocabulary,
            documents=docs,
            postings=postings,
            region_rows=region_rows,
            audience_bits=audience_bits,
            popularity=popularity,
            regions=region_rows_by_code,
            parents=parents,
            version=version,
        )

    def __len__(self) -> int:
        return len(self._documents)

    def has_term(self, term: str) -> bool:
        return term in self._postings

    def document(self, code: str) -> SearchDocument | None:
        row = self._row_by_code.get(code)
        return None if row is None else self._documents[row]

    def set_popularity(self, views: Mapping[str, int]) -> None:
        """Fold view counts in (popularity only grows); rows change in place, which readers tolerate."""
        for code, count in views.items():
            row = self._row_by_code.get(code)
            if row is not None:
                self._popularity[row] = max(self._popularity[row], min(max(int(count), 0), _POPULARITY_CAP))
        self._results.clear()
        self.generation += 1

    # ------------------------------------------------------------------ searching
    def search(
        self,
        query: str,
        *,
        region: str | None = None,
        audience: str | None = None,
        page: int = 1,
        page_size: int = 20,
        one_per_service: bool = True,
    ) -> SearchResult:
        """Ranked hits; with one_per_service, only the best implementation of each standard
        item (basic code) is kept, which is the one closest to the resident's region."""
        page = max(1, page)
        page_size = max(1, min(page_size, 100))
        cache_key = (query, region, audience, page, page_size, one_per_service)
        cached = self._results.get(cache_key)
        if cached is not None:
            self._results.move_to_end(cache_key)
            return cached
        result = self._search(query, region, audience, page, page_size, one_per_service)
        self._results[cache_key] = result
        if len(self._results) > _RESULT_CACHE_SIZE:
            self._results.popitem(last=False)
        return result

    def _search(
        self, query: str, region: str | None, audience: str | None, page: int, page_size: int, one_per_service: bool
    ) -> SearchResult:
        plan = self.analyzer.plan(query, self.vocabulary, self.has_term)
        rows, relevance = self._score(plan)
        if rows.size == 0:
            return SearchResult(hits=[], total=0, page=page, page_size=page_size)
        if audience is not None:
            if audience not in AUDIENCES:
                raise UnknownAudience(audience)
            keep = (self._audience_bits[rows] & AUDIENCES[audience]) != 0
            rows, relevance = rows[keep], relevance[keep]
        if region is not None:
            bonus = self._region_table(region)[self._region_rows[rows]]
            keep = bonus >= 0
            rows, relevance = rows[keep], relevance[keep] + bonus[keep]
        tiers = np.floor(relevance * 10.0 + 0.5).astype(np.int64)
        keys = (tiers << 32) | self._popularity[rows]
        if one_per_service and rows.size > 1:
            rows, keys, relevance = self._best_per_service(rows, keys, relevance)
        total = int(rows.size)
        start = (page - 1) * page_size
        if start >= total:
            return SearchResult(hits=[], total=total, page=page, page_size=page_size)
        wanted = start + page_size
        if total > wanted:
            top = np.argpartition(-keys, wanted - 1)[:wanted]
            rows, keys, relevance = rows[top], keys[top], relevance[top]
        order = np.lexsort((rows, -keys))[start:wanted]
        hits = [
            SearchHit(
                code=self._documents[row].code,
                score=round(float(relevance[i]), 3),
                payload=self._documents[row].payload,
            )
            for i, row in ((int(i), int(rows[i])) for i in order)
        ]
        return SearchResult(hits=hits, total=total, page=page, page_size=page_size)

    def _best_per_service(
        self, rows: np.ndarray, keys: np.ndarray, relevance: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        services = self._service_ids[rows]
        best = np.full(self._service_count, -1, dtype=np.int64)
        np.maximum.at(best, services, keys)
        winners = keys == best[services]
        rows, keys, relevance, services = rows[winners], keys[winners], relevance[winners], services[winners]
        first = np.full(self._service_count, np.iinfo(np.int32).max, dtype=np.int32)
        np.minimum.at(first, services, rows)
        keep = rows == first[services]
        return rows[keep], keys[keep], relevance[keep]

    def _score(self, plan: QueryPlan) -> tuple[np.ndarray, np.ndarray]:
        concepts = [c for c in plan.concepts if c.alternatives]
        code_rows = self._code_rows(plan.codes)
        if not concepts and code_rows.size == 0:
            empty = np.zeros(0, dtype=np.int32)
            return empty, np.zeros(0, dtype=np.float32)
        score = np.zeros(len(self._documents), dtype=np.float32)
        matched = np.zeros(len(self._documents), dtype=np.int16)
        for concept in concepts:
            rows, values = self._concept_scores(concept)
            if rows.size:
                score[rows] += values
                matched[rows] += 1
        if code_rows.size:
            score[code_rows] += 100.0
            matched[code_rows] = max(1, len(concepts))
        rows = np.flatnonzero(matched).astype(np.int32)
        coverage = matched[rows].astype(np.float32) / max(1, len(concepts))
        relevance = score[rows] * (0.25 + 0.75 * np.minimum(coverage, 1.0) ** 2)
        return rows, relevance

    def _concept_scores(self, concept: Concept) -> tuple[np.ndarray, np.ndarray]:
        present = [(term, weight) for term, weight in concept.alternatives if term in self._postings]
        if not present:
            return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32)
        # Alternatives are readings of one need: they share the rarest reading's idf, so our
        # stated preference among them decides, not how rare each happens to be.
        idf = max(self._idf[term] for term, _ in present)
        parts_rows = []
        parts_values = []
        for term, weight in present:
            posting = self._postings[term]
            parts_rows.append(posting.rows)
            parts_values.append(posting.weights * np.float32(weight * idf))
        if not parts_rows:
            return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32)
        if len(parts_rows) == 1:
            return parts_rows[0], parts_values[0]
        rows = np.concatenate(parts_rows)
        values = np.concatenate(parts_values)
        order = np.argsort(rows, kind="stable")
        rows, values = rows[order], values[order]
        starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        return rows[starts], np.maximum.reduceat(values, starts)

    def _code_rows(self, codes: Sequence[str]) -> np.ndarray:
        found: list[np.ndarray] = []
        for code in codes:
            row = self._row_by_folded_code.get(code)
            if row is not None:
                found.append(np.asarray([row], dtype=np.int32))
            basic = self._rows_by_basic.get(code)
            if basic is not None:
                found.append(basic)
        if not found:
            return np.zeros(0, dtype=np.int32)
        return np.unique(np.concatenate(found))

    def _region_table(self, code: str) -> np.ndarray:
        """Per region row: -1 when unavailable there, else the closeness bonus."""
        table = self._region_tables.get(code)
        if table is not None:
            return table
        if code not in self._regions or code == "":
            raise UnknownRegion(code)
        table = np.full(len(self._parents), -1.0, dtype=np.float32)
        here = self._regions[code]
        table[here] = 0.3
        ancestor, bonus = self._parents[here], 0.2
        while ancestor >= 0:
            table[ancestor] = max(bonus, 0.0)
            ancestor, bonus = self._parents[ancestor], bonus - 0.1
        stack = list(self._children[here])
        while stack:
            child = stack.pop()
            table[child] = 0.1
            stack.extend(self._children[child])
        self._region_tables[code] = table
        return table


def _audience_mask(audiences: Iterable[str]) -> int:
    mask = 0
    for audience in audiences:
        if audience not in AUDIENCES:
            raise UnknownAudience(audience)
        mask |= AUDIENCES[audience]
    return mask or _ALL_AUDIENCES


def _add_field(analyzer: Analyzer, weights: dict[str, float], text: str, weight: float) -> None:
    for term, factor in analyzer.index_terms(text):
        value = weight * factor
        if weights.get(term, 0.0) < value:
            weights[term] = value


def _merge(parts: list[tuple[np.ndarray, float]]) -> _Posting:
    if len(parts) == 1:
        rows, weight = parts[0]
        return _Posting(rows=rows, weights=np.full(rows.size, weight, dtype=np.float32))
    rows = np.concatenate([r for r, _ in parts])
    weights = np.concatenate([np.full(r.size, w, dtype=np.float32) for r, w in parts])
    order = np.lexsort((-weights, rows))
    rows, weights = rows[order], weights[order]
    first = np.r_[True, rows[1:] != rows[:-1]]
    return _Posting(rows=rows[first], weights=weights[first])
