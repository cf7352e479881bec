"""The migrated schema has the indexes the licence reads rely on, on either store."""

from tortoise import connections

from tests.conftest import ON_POSTGRES, LiveServer


async def _indexes(table: str) -> set[tuple[str, ...]]:
    """The column lists of the table's indexes."""
    conn = connections.get("default")
    if ON_POSTGRES:
        _, rows = await conn.execute_query(
            "SELECT array_agg(a.attname ORDER BY k.n) AS columns FROM pg_index i"
            " CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)"
            " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum"
            " WHERE i.indrelid = $1::regclass GROUP BY i.indexrelid",
            [table],
        )
        return {tuple(row["columns"]) for row in rows}
    _, rows = await conn.execute_query(f"PRAGMA index_list('{table}')")
    found = set()
    for row in rows:
        _, columns = await conn.execute_query(f"PRAGMA index_info('{row['name']}')")
        found.add(tuple(column["name"] for column in sorted(columns, key=lambda c: c["seqno"])))
    return found


async def test_consents_are_found_by_licence_through_an_index(live: LiveServer) -> None:
    # The holder's consent list and usage log filter licence_consents on licence_id.
    indexes = await _indexes("licence_consents")
    assert any(columns[0] == "licence_id" for columns in indexes), indexes
    assert ("granted_by_id",) in indexes  # adding it left the table's other indexes alone
