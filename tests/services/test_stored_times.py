"""Times are instants on every store, whatever offset they arrived in.

SQLite keeps a time as text and compares text: a channel's success_time in +08:00 stored as
given sorted after a UTC bound it is earlier than, so a Beijing day's reconciliation missed
the payments of its last eight hours (and took in the previous day's)."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from app.services.payments.reconcile import day_bounds
from models.payments import ReconciliationRun

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def test_a_time_stored_in_beijing_offset_falls_in_its_utc_range(live):
    day = date(2031, 5, 17)  # a day no other test stores anything on
    start, end = day_bounds(day)
    late_evening = datetime(2031, 5, 17, 23, 30, tzinfo=SHANGHAI)  # 15:30 UTC, inside the day
    day_before = datetime(2031, 5, 16, 20, 0, tzinfo=SHANGHAI)  # 12:00 UTC on the 16th, outside
    runs = [
        await ReconciliationRun.create(day=day, status="running", started_at=datetime.now(UTC), summary={})
        for _ in range(2)
    ]
    # An update, as a compare-and-set state change writes paid_at (SQLite: one text per value).
    for run, when in zip(runs, (late_evening, day_before), strict=True):
        await ReconciliationRun.filter(id=run.id).update(started_at=when, finished_at=when)
    try:
        inside = await ReconciliationRun.filter(started_at__gte=start, started_at__lt=end)
        assert [run.id for run in inside] == [runs[0].id]
        ordered = await ReconciliationRun.filter(id__in=[run.id for run in runs]).order_by("started_at")
        assert [run.id for run in ordered] == [runs[1].id, runs[0].id]
        stored = await ReconciliationRun.get(id=runs[0].id)
        assert stored.started_at == late_evening and stored.started_at.utcoffset() == timedelta(0)
        assert stored.started_at.astimezone(UTC).hour == 15
    finally:
        await ReconciliationRun.filter(id__in=[run.id for run in runs]).delete()
