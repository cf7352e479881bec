"""The migrated schema has exactly the indexes the models declare, on the store under test.

Each index is compared as (columns, unique). Tortoise applies some migrations on SQLite by
rebuilding the table, which drops the table's indexes while PostgreSQL keeps them: so the
comparison runs on the store of each CI pass, over every table of every feature.
"""

from typing import Any

from tortoise import Tortoise, connections

from tests.conftest import ON_POSTGRES, LiveServer

Index = tuple[tuple[str, ...], bool]  # columns in order, unique


def _declared(model: Any) -> set[Index]:
    """index=True and unique=True fields (one-to-one keys too), Meta.unique_together and
    Meta.indexes; the primary key is left out on both sides."""
    meta = model._meta

    def column(name: str) -> str:
        return meta.fields_db_projection.get(name) or meta.fields_map[name].source_field

    declared: set[Index] = set()
    for name, db_column in meta.fields_db_projection.items():
        field = meta.fields_map[name]
        if field.pk:
            continue
        if field.unique:
            declared.add(((db_column,), True))
        elif field.index:
            declared.add(((db_column,), False))
    for names in meta.unique_together or ():
        declared.add((tuple(column(name) for name in names), True))
    for index in meta.indexes or ():
        names = index if isinstance(index, tuple) else index.fields
        assert names and not getattr(index, "expressions", None), f"{meta.db_table}: compare {index!r} by hand"
        declared.add((tuple(column(name) for name in names), False))
    return declared


async def _in_database(table: str) -> set[Index]:
    conn = connections.get("default")
    if ON_POSTGRES:
        _, rows = await conn.execute_query(
            "SELECT i.indisunique AS is_unique, array_agg(a.attname ORDER BY k.n) AS columns FROM pg_index i"
            " CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)"
            " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum"
            " WHERE i.indrelid = $1::regclass AND NOT i.indisprimary GROUP BY i.indexrelid, i.indisunique",
            [table],
        )
        return {(tuple(row["columns"]), row["is_unique"]) for row in rows}
    _, rows = await conn.execute_query(f"PRAGMA index_list('{table}')")
    found: set[Index] = set()
    for row in rows:
        if row["origin"] == "pk":
            continue
        _, columns = await conn.execute_query(f"PRAGMA index_info('{row['name']}')")
        found.add((tuple(c["name"] for c in sorted(columns, key=lambda c: c["seqno"])), bool(row["unique"])))
    return found


async def test_every_table_has_the_indexes_its_model_declares(live: LiveServer) -> None:
    differences = {}
    tables = 0
    for models in Tortoise.apps.values():
        for model in models.values():
            table = model._meta.db_table
            declared, present = _declared(model), await _in_database(table)
            tables += 1
            if declared != present:
                differences[table] = {"missing": sorted(declared - present), "undeclared": sorted(present - declared)}
    assert tables > 30  # every feature's models were compared
    assert differences == {}


async def test_the_comparison_sees_the_indexes_the_licence_reads_rely_on(live: LiveServer) -> None:
    # The holder's consent list and usage log filter licence_consents on licence_id (Meta.indexes),
    # next to the granted_by_id index (index=True) and the one-time code's unique key.
    consent = Tortoise.apps["licences"]["ConsentGrant"]
    present = await _in_database(consent._meta.db_table)
    assert {(("licence_id",), False), (("granted_by_id",), False), (("code_hash",), True)} <= present
    assert _declared(consent) == present
