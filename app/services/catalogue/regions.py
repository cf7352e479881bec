"""The region tree, held in memory per worker (about 150 rows) and reloaded with the catalogue,
and the check other features make of the region codes operators give them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from app.services.catalogue.errors import UnknownRegion
from app.services.identity.idnumbers import PROVINCE_CODES
from models.catalogue import Region


def is_division_code(code: str) -> bool:
    """Whether `code` has the shape of a GB/T 2260 division code: six digits, a province-level
    prefix, and a county part only below a city part (440000, 440100, 440106; not 999999, 440006)."""
    return (
        len(code) == 6
        and code.isascii()
        and code.isdigit()
        and code[:2] in PROVINCE_CODES
        and (code[2:4] != "00" or code[4:] == "00")
    )


async def unknown_regions(codes: Iterable[str]) -> list[str]:
    """The codes among `codes` that name no region, each once, in the order given.

    The catalogue's region tree decides when it has any region. A catalogue without a single
    region (a fresh install that has not seeded or imported its tree) cannot tell, so then a code
    need only have the shape of a GB/T 2260 code: operators can register enterprises, issuers and
    licences before the catalogue is filled in, and still cannot store junk such as 999999.
    """
    wanted = list(dict.fromkeys(codes))
    shaped = [code for code in wanted if len(code) == 6 and code.isascii() and code.isdigit()]
    known = {str(code) for code in await Region.filter(code__in=shaped).values_list("code", flat=True)} if shaped else set()
    if len(known) == len(wanted):
        return []
    tree_is_empty = not known and not await Region.exists()
    return unknown_among(wanted, known=known, tree_is_empty=tree_is_empty)


def unknown_among(codes: list[str], *, known: set[str], tree_is_empty: bool) -> list[str]:
    """unknown_regions' rule, given the codes the tree knows and whether it has any region at all."""
    if tree_is_empty:
        return [code for code in codes if not is_division_code(code)]
    return [code for code in codes if code not in known]


@dataclass(frozen=True)
class RegionNode:
    code: str
    name: str
    level: str
    parent_code: str | None


class LoadedTree:
    def __init__(self, nodes: list[RegionNode]) -> None:
        self._nodes = {node.code: node for node in nodes}
        self._children: dict[str | None, list[str]] = {}
        for node in sorted(nodes, key=lambda n: n.code):
            parent = node.parent_code if node.parent_code in self._nodes else None
            self._children.setdefault(parent, []).append(node.code)
        roots = self._children.get(None, [])
        self.root_code = roots[0] if roots else ""
        self._chains: dict[str, list[str]] = {}

    def knows(self, code: str) -> bool:
        return code in self._nodes

    def require(self, code: str) -> None:
        if code not in self._nodes:
            raise UnknownRegion(context={"region": code[:20]})

    def chain(self, code: str) -> list[str]:
        """The region and its ancestors, nearest first."""
        chain = self._chains.get(code)
        if chain is None:
            chain = []
            current: str | None = code
            while current is not None and current in self._nodes and current not in chain:
                chain.append(current)
                current = self._nodes[current].parent_code
            self._chains[code] = chain
        return chain

    def is_within(self, code: str, ancestor: str) -> bool:
        return ancestor in self.chain(code)

    def view(self, code: str) -> dict[str, Any]:
        node = self._nodes[code]
        return {"code": node.code, "name": node.name, "level": node.level}

    def as_tree(self) -> list[dict[str, Any]]:
        def build(code: str) -> dict[str, Any]:
            return {**self.view(code), "children": [build(child) for child in self._children.get(code, [])]}

        return [build(code) for code in self._children.get(None, [])]


class RegionTree:
    """Loads the tree on first use and again whenever the catalogue version moves."""

    def __init__(self, version: Callable[[], str]) -> None:
        self._version = version
        self._loaded: LoadedTree | None = None
        self._loaded_version: str | None = None
        self._lock = asyncio.Lock()

    async def current(self) -> LoadedTree:
        version = self._version()
        if self._loaded is None or self._loaded_version != version:
            async with self._lock:
                if self._loaded is None or self._loaded_version != version:
                    rows = await Region.all().values_list("code", "name", "level", "parent_code")
                    self._loaded = LoadedTree([RegionNode(*row) for row in rows])
                    self._loaded_version = version
        assert self._loaded is not None
        return self._loaded
