"""The service catalogue: regions, departments, service items with their guides, zones, bundles.

A service item's columns hold what residents see once it is published. Edits to a published
item go to `draft` (the whole working copy) until the next publish copies them into the columns,
so residents never see half-finished work. `revision` numbers the working copy; every publish
also stores an immutable ServiceItemVersion. Every operator change leaves a CatalogueChange row.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

ITEM_STATUSES = ("draft", "published", "retired")


class Region(Model):
    """An administrative division with its GB/T 2260 code, in a tree by parent_code."""

    code = fields.CharField(max_length=12, primary_key=True)
    name = fields.CharField(max_length=50)
    level = fields.CharField(max_length=12)
    parent_code = fields.CharField(max_length=12, null=True, db_index=True)
    phone_area_code = fields.CharField(max_length=8, default="")

    class Meta:
        table = "catalogue_regions"


class Department(Model):
    """A government body that implements service items, keyed by its credit code."""

    code = fields.CharField(max_length=18, primary_key=True)
    name = fields.CharField(max_length=100)
    kind = fields.CharField(max_length=40, default="")
    region_code = fields.CharField(max_length=12, db_index=True)

    class Meta:
        table = "catalogue_departments"


class ServiceItem(Model):
    """One implemented service item (implementation code) and its guide."""

    code = fields.CharField(max_length=40, primary_key=True)
    basic_code = fields.CharField(max_length=20, db_index=True)
    name = fields.CharField(max_length=200)
    item_type = fields.CharField(max_length=20)
    department_code = fields.CharField(max_length=18, db_index=True)
    region_code = fields.CharField(max_length=12, db_index=True)
    audiences: list[str] = fields.JSONField(default=list)
    aliases: list[str] = fields.JSONField(default=list)
    guide: dict = fields.JSONField(default=dict)
    status = fields.CharField(max_length=12, default="draft", db_index=True)
    revision = fields.IntField(default=1)
    published_revision = fields.IntField(null=True)
    draft: dict | None = fields.JSONField(null=True)
    views = fields.BigIntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    published_at = fields.DatetimeField(null=True)

    class Meta:
        table = "catalogue_items"

    @property
    def has_unpublished_changes(self) -> bool:
        return self.published_revision != self.revision


class ServiceItemVersion(Model):
    """An immutable snapshot of an item as it was published."""

    id = fields.BigIntField(primary_key=True)
    item_code = fields.CharField(max_length=40, db_index=True)
    revision = fields.IntField()
    content: dict = fields.JSONField()
    published_by = fields.BigIntField(null=True)
    published_at = fields.DatetimeField()

    class Meta:
        table = "catalogue_item_versions"
        unique_together = (("item_code", "revision"),)


class Zone(Model):
    """A theme zone on the home page, shown in its region and below, within its window."""

    id = fields.BigIntField(primary_key=True)
    slug = fields.CharField(max_length=40, unique=True)
    title = fields.CharField(max_length=40)
    icon = fields.CharField(max_length=200, default="")
    description = fields.CharField(max_length=200, default="")
    audiences: list[str] = fields.JSONField(default=list)
    region_code = fields.CharField(max_length=12)
    publish_from = fields.DatetimeField(null=True)
    publish_until = fields.DatetimeField(null=True)
    status = fields.CharField(max_length=12, default="draft")
    position = fields.IntField(default=0)
    revision = fields.IntField(default=1)
    updated_at = fields.DatetimeField(auto_now=True)

    entries: fields.ReverseRelation[ZoneEntry]

    class Meta:
        table = "catalogue_zones"


class ZoneEntry(Model):
    """One tile of a zone: a standard item (by basic code) or a bundle, in display order."""

    id = fields.BigIntField(primary_key=True)
    zone: fields.ForeignKeyRelation[Zone] = fields.ForeignKeyField(
        "catalogue.Zone", related_name="entries", on_delete=fields.CASCADE
    )
    position = fields.IntField()
    kind = fields.CharField(max_length=10)
    basic_code = fields.CharField(max_length=20, null=True)
    bundle_slug = fields.CharField(max_length=40, null=True)
    title = fields.CharField(max_length=60, default="")

    class Meta:
        table = "catalogue_zone_entries"


class Bundle(Model):
    """An 一件事 bundle: standard items of several departments done as one, in flow order."""

    id = fields.BigIntField(primary_key=True)
    slug = fields.CharField(max_length=40, unique=True)
    title = fields.CharField(max_length=60)
    description = fields.CharField(max_length=300, default="")
    audiences: list[str] = fields.JSONField(default=list)
    region_code = fields.CharField(max_length=12)
    basic_codes: list[str] = fields.JSONField(default=list)
    status = fields.CharField(max_length=12, default="draft")
    revision = fields.IntField(default=1)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "catalogue_bundles"


class CatalogueChange(Model):
    """Who changed what in the catalogue, and when."""

    id = fields.BigIntField(primary_key=True)
    at = fields.DatetimeField()
    actor_id = fields.BigIntField(null=True)
    entity = fields.CharField(max_length=12)
    entity_key = fields.CharField(max_length=40, db_index=True)
    action = fields.CharField(max_length=12)
    changes: dict = fields.JSONField(default=dict)

    class Meta:
        table = "catalogue_changes"


class CatalogueVersion(Model):
    """The catalogue version, one row: every change residents can see bumps it, every worker polls it."""

    id = fields.IntField(primary_key=True)
    version = fields.BigIntField(default=0)

    class Meta:
        table = "catalogue_version"
