"""A self-contained, in-process search engine for the service catalogue.

Boundary: pure Python and numpy, no database, no web framework. Callers build a `SearchIndex`
from `SearchDocument`s (and the region tree) and query it; keeping it in step with the database
is the catalogue service's job.
"""

from app.search.index import (
    Region,
    SearchDocument,
    SearchHit,
    SearchIndex,
    SearchResult,
    UnknownAudience,
    UnknownRegion,
)
from app.search.query import Analyzer
from app.search.text import MAX_QUERY_CHARS

__all__ = [
    "MAX_QUERY_CHARS",
    "Analyzer",
    "Region",
    "SearchDocument",
    "SearchHit",
    "SearchIndex",
    "SearchResult",
    "UnknownAudience",
    "UnknownRegion",
]
