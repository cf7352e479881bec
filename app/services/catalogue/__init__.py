"""The service catalogue: regions, departments, service items and their guides, theme zones,
一件事 bundles, resident reads (cached, with ETags) and search, and the operators' editor.

Boundary: no HTTP here. Search itself is app/search (in-process, no database); search_sync
keeps each worker's index in step with the published items. demo_data generates the Guangdong
demo catalogue as plain records; seeding stores it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.config import Settings
from app.context import Adapters
from app.services.catalogue.admin import CatalogueAdmin
from app.services.catalogue.reads import CatalogueReader
from app.services.catalogue.regions import RegionTree
from app.services.catalogue.search_sync import CatalogueSearch
from app.services.catalogue.transfer import CatalogueTransfer


@dataclass
class Catalogue:
    """What handlers reach as services(request).catalogue."""

    reader: CatalogueReader
    admin: CatalogueAdmin
    transfer: CatalogueTransfer
    search: CatalogueSearch


def wire(services: Any, settings: Settings, adapters: Adapters) -> None:
    assert adapters.clock and adapters.cache
    config = settings.catalogue
    search = CatalogueSearch(
        cache=adapters.cache, poll_seconds=config.index_poll_seconds, flush_seconds=config.views_flush_seconds
    )
    regions = RegionTree(lambda: search.known_version)
    services.catalogue = Catalogue(
        reader=CatalogueReader(
            cache=adapters.cache, clock=adapters.clock, search=search, regions=regions, ttl=config.cache_ttl
        ),
        admin=CatalogueAdmin(clock=adapters.clock, search=search),
        transfer=CatalogueTransfer(clock=adapters.clock, search=search),
        search=search,
    )
    services.background.append(search)
