"""The audit chain: every security event recorded, and any edit or deletion detected."""

import asyncio
import os
import sys

from app.services.identity.audit import verify_chain
from models.identity import AuditEvent
from tests.conftest import ON_POSTGRES, bind_realname, login, pass_face


async def test_security_events_are_recorded_without_personal_data(api):
    session = await pass_face(api, await bind_realname(api, await login(api)))
    kinds = [e.kind for e in await AuditEvent.filter(actor_id=session.user_id).order_by("seq")]
    assert kinds[:1] == ["login"] and "realname_bound" in kinds and "face_pass" in kinds
    for event in await AuditEvent.filter(actor_id=session.user_id):
        assert session.id_number not in str(event.data)


async def test_chain_detects_edits_and_deletions(api):
    await login(api)
    assert (await verify_chain()).intact
    last = await AuditEvent.all().order_by("-seq").first()
    middle = await AuditEvent.all().order_by("seq").first()

    original = middle.kind
    await AuditEvent.filter(seq=middle.seq).update(kind="login_forged")
    report = await verify_chain()
    assert not report.intact and report.first_bad_seq == middle.seq
    await AuditEvent.filter(seq=middle.seq).update(kind=original)
    assert (await verify_chain()).intact

    saved = {f: getattr(last, f) for f in ("seq", "at", "kind", "actor_id", "subject", "data", "prev_hash", "hash")}
    await AuditEvent.filter(seq=last.seq).delete()
    report = await verify_chain()
    assert not report.intact and "deleted" in report.problem
    await AuditEvent.create(**saved)
    assert (await verify_chain()).intact


async def audit_verify(env: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app", "audit-verify", env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    return process.returncode or 0, output.decode()


async def test_audit_verify_command(api, live):
    await login(api)
    env = {**os.environ, "APP_DATABASE_URL": live.settings.database.url}
    if live.settings.redis.url:
        env["APP_REDIS_URL"] = live.settings.redis.url
    code, output = await audit_verify(env)
    assert code == 0, output
    assert "intact" in output

    first = await AuditEvent.all().order_by("seq").first()
    await AuditEvent.filter(seq=first.seq).update(subject="user:tampered")
    try:
        code, output = await audit_verify(env)
        assert code == 1
        assert "BROKEN" in output
    finally:
        await AuditEvent.filter(seq=first.seq).update(subject=first.subject)


async def test_concurrent_appends_keep_one_linear_chain(live):
    import asyncio

    from app.services.identity.audit import AuditLog

    audit: AuditLog = live.app.ctx.services.audit
    await asyncio.gather(*(audit.record("test_event", subject=f"n:{n}") for n in range(20)))
    report = await verify_chain()
    assert report.intact, report.summary()
    assert ON_POSTGRES in (True, False)


async def test_concurrent_first_logins_all_succeed(api):
    """Each first login appends to the chain; concurrent ones must serialise, not fail."""
    import asyncio

    from tests.conftest import login

    sessions = await asyncio.gather(*(login(api) for _ in range(8)))
    assert len({s.user_id for s in sessions}) == 8
    assert (await verify_chain()).intact
