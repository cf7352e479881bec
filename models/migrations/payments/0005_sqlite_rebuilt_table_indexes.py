"""Indexes that SQLite lost when Tortoise rebuilt two tables.

Tortoise applies an AlterField on SQLite by copying the table into a new one and dropping the old,
which drops every CREATE INDEX on it: 0002 (started_at) took payment_reconciliation_runs.day with
it, 0003 (PaymentRefund.status) payment_refunds.status and next_poll_at, so the refund poller and
the reconciliation lookups scanned whole tables. PostgreSQL alters in place and kept them. The
names are the ones Tortoise gives these indexes, so IF NOT EXISTS makes this a no-op where they
survived (PostgreSQL) and a repair where they did not; it changes no model state.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [('payments', '0004_refund_failure_message')]

    initial = False

    operations = [
        ops.RunSQL(
            [
                'CREATE INDEX IF NOT EXISTS "idx_payment_rec_day_104d31" ON "payment_reconciliation_runs" ("day")',
                'CREATE INDEX IF NOT EXISTS "idx_payment_ref_status_4ccffa" ON "payment_refunds" ("status")',
                'CREATE INDEX IF NOT EXISTS "idx_payment_ref_next_po_94bd87" ON "payment_refunds" ("next_poll_at")',
            ],
            reverse_sql=ops.RunSQL.noop,  # the indexes belong to 0001: going back keeps them
        ),
    ]
