"""ProcessVerifier answers exactly as verify does: batched in a helper process, inline when it fails."""

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from app.adapters.verifier import InlineVerifier, ProcessVerifier
from app.lc1 import codec, worker
from app.lc1.identifier import LicenceIdentifier
from app.lc1.trust_list import revocation_hash
from app.lc1.verifier import Reason, verify
from tests.unit.test_lc1_verifier import (
    FOOD,
    IDENTIFIER,
    ISSUER_A,
    ISSUER_B,
    KEY_A,
    KEY_A_OLD,
    KEY_B,
    KID_A,
    KID_A_OLD,
    KID_B,
    NOW,
    ROGUE,
    TRUST,
    T,
    issuer_key,
    mint,
)

SKEW = 60
KEY_C = ec.derive_private_key(0xC0C, ec.SECP256R1())
KID_C = bytes([5]) * 8
LATER = NOW + timedelta(seconds=86_400 + 100)


def flip(payload: str, index: int) -> str:
    body = bytearray(codec.b45_decode(payload[4:]))
    body[index] ^= 0x01
    return "LC1:" + codec.b45_encode(bytes(body))


def uncompressed() -> str:
    claims = codec.LicenceClaims(ISSUER_A, T, T + 90, b"cti-0002", {"id": IDENTIFIER, "t": FOOD})
    return "LC1:" + codec.b45_encode(codec.sign_es256(codec.encode_claims(claims), KEY_A, KID_A))


COLLIDING = replace(TRUST, keys=(issuer_key(KEY_B, KID_A, ISSUER_B), *TRUST.keys))
RETIRED = replace(TRUST, keys=(issuer_key(KEY_A, KID_A, ISSUER_A, not_after=T - 1000),))
RESTRICTED = replace(TRUST, keys=(issuer_key(KEY_A, KID_A, ISSUER_A, licence_types=("OTHER",)),))
REVOKED = replace(TRUST, revoked=frozenset({revocation_hash(IDENTIFIER)}))
IDENTIFIER_B = str(LicenceIdentifier(FOOD, ISSUER_B, "JY24401060000002", "001"))
LONG = mint(sc="预包装食品销售；" * 6)

CASES = {
    "valid": (mint(), TRUST, NOW),
    "valid_long_compressed": (LONG, TRUST, NOW),
    "valid_uncompressed": (uncompressed(), TRUST, NOW),
    "valid_rotated_key": (mint(KEY_A_OLD, KID_A_OLD), TRUST, NOW),
    "valid_issuer_b": (mint(KEY_B, KID_B, issuer=ISSUER_B, identifier=IDENTIFIER_B), TRUST, NOW),
    "valid_kid_collision": (mint(), COLLIDING, NOW),
    "bad_prefix": ("HC1:" + mint()[4:], TRUST, NOW),
    "empty": ("", TRUST, NOW),
    "prefix_only": ("LC1:", TRUST, NOW),
    "garbage": ("garbage", TRUST, NOW),
    "too_large": ("LC1:" + "A" * 5000, TRUST, NOW),
    "binary": ("\x00\x01binary", TRUST, NOW),
    "not_ascii": ("LC1:ä€", TRUST, NOW),
    "lone_surrogate": ("LC1:\ud800", TRUST, NOW),
    "truncated": (mint()[:-3], TRUST, NOW),
    "flipped_header": (flip(LONG, 0), TRUST, NOW),
    "flipped_middle": (flip(LONG, 40), TRUST, NOW),
    "flipped_last": (flip(LONG, -1), TRUST, NOW),
    "flipped_signature": (flip(uncompressed(), -1), TRUST, NOW),
    "unknown_kid": (mint(ROGUE, bytes(8)), TRUST, NOW),
    "rogue_key_trusted_kid": (mint(ROGUE, KID_A), TRUST, NOW),
    "other_issuers_key": (mint(KEY_B, KID_B), TRUST, NOW),
    "expired": (mint(iat=T - 151), TRUST, NOW),
    "not_yet_valid": (mint(iat=T + 61), TRUST, NOW),
    "key_outside_validity": (mint(), RETIRED, NOW),
    "key_usage": (mint(), RESTRICTED, NOW),
    "revoked": (mint(), REVOKED, NOW),
    "stale_trust_list": (mint(iat=T + 86_400 + 100), TRUST, LATER),
    "lifetime_too_long": (mint(life=91), TRUST, NOW),
    "bad_identifier": (mint(identifier=IDENTIFIER[:-1] + "Z"), TRUST, NOW),
}


def assert_same(got, payload, trust_list, now):
    expected = verify(payload, trust_list, now, skew=SKEW)
    assert (got.valid, got.reason, got.claims) == (expected.valid, expected.reason, expected.claims)
    assert got.key is expected.key  # the caller's own key object, not an equal copy
    assert got == expected


def gone(pid: int) -> bool:
    """True once the process has exited and been reaped (a zombie still answers signal 0)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def until(predicate, *, within: float = 5.0, pause: float = 0.005) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(pause)


@pytest.fixture(scope="module")
async def shared():
    verifier = ProcessVerifier()
    await verifier.start()
    yield verifier
    await verifier.stop()


@pytest.fixture
async def fresh():
    verifier = ProcessVerifier(timeout=0.5, restart_interval=0.0)
    await verifier.start()
    assert verifier.pid is not None
    yield verifier
    await verifier.stop()


def test_the_cases_cover_every_outcome_we_can_produce():
    reasons = {verify(payload, trust, now, skew=SKEW).reason for payload, trust, now in CASES.values()}
    assert reasons >= {
        None, Reason.BAD_PREFIX, Reason.BAD_ENCODING, Reason.TOO_LARGE, Reason.BAD_COSE,
        Reason.BAD_COMPRESSION, Reason.UNKNOWN_KID, Reason.BAD_SIGNATURE, Reason.ISSUER_MISMATCH,
        Reason.EXPIRED, Reason.NOT_YET_VALID, Reason.KEY_NOT_VALID, Reason.KEY_USAGE, Reason.REVOKED,
        Reason.STALE_TRUST_LIST, Reason.BAD_CLAIMS,
    }


@pytest.mark.parametrize("case", CASES)
async def test_same_answer_as_verify(shared, case):
    payload, trust_list, now = CASES[case]
    inline, frames = shared.codes_verified_inline, shared.frames_sent
    assert_same(await shared.verify(payload, trust_list, now, skew=SKEW), payload, trust_list, now)
    assert shared.codes_verified_inline == inline
    # The child answered, except for what is refused before any cryptography without a trip.
    assert shared.frames_sent == frames + (case not in {"too_large", "not_ascii", "lone_surrogate"})


async def test_every_case_at_once_in_one_frame_with_many_trust_lists(shared):
    inline = shared.codes_verified_inline
    for _ in range(2):  # the second round reuses (or resends) the lists the first one sent
        frames = shared.frames_sent
        results = await asyncio.gather(*(shared.verify(p, t, n, skew=SKEW) for p, t, n in CASES.values()))
        for result, (payload, trust_list, now) in zip(results, CASES.values(), strict=True):
            assert_same(result, payload, trust_list, now)
        assert shared.frames_sent == frames + 1
    assert shared.codes_verified_inline == inline


async def test_concurrent_calls_travel_in_few_frames(shared):
    codes = [mint(h=f"商户{i}", iat=T - i % 200) for i in range(300)]
    frames = shared.frames_sent
    results = await asyncio.gather(*(shared.verify(code, TRUST, NOW, skew=SKEW) for code in codes))
    for result, code in zip(results, codes, strict=True):
        assert_same(result, code, TRUST, NOW)
    assert sum(result.valid for result in results) == 251  # 49 have iat < T - 150: expired
    assert shared.frames_sent - frames <= 3  # 300 calls: at most 200 a frame, plus stragglers


async def test_two_frames_in_flight_are_answered_in_order(fresh):
    """While the child works on one frame the next is already in its pipe; each batch gets its
    own answers, in order, and nothing falls back inline."""
    first, second = [mint(h=f"甲{i}") for i in range(3)], [mint(KEY_C, KID_C, h=f"乙{i}") for i in range(2)]
    trust_list = replace(TRUST, keys=(*TRUST.keys, issuer_key(KEY_C, KID_C, ISSUER_A)))
    os.kill(fresh.pid, signal.SIGSTOP)  # hold the child, so both frames are outstanding together
    waiting = [asyncio.create_task(fresh.verify(code, trust_list, NOW, skew=SKEW)) for code in first]
    await until(lambda: fresh.frames_sent == 1)
    waiting += [asyncio.create_task(fresh.verify(code, trust_list, NOW, skew=SKEW)) for code in second]
    await until(lambda: fresh.frames_sent == 2)
    os.kill(fresh.pid, signal.SIGCONT)
    for task, code in zip(waiting, first + second, strict=True):
        assert_same(await task, code, trust_list, NOW)
    assert fresh.codes_verified_inline == 0


async def test_trust_list_changes_are_honoured(shared):
    code_a, code_c = mint(), mint(KEY_C, KID_C)
    inline = shared.codes_verified_inline
    without_a = replace(TRUST, keys=TRUST.keys[1:])
    with_c = replace(TRUST, keys=(*TRUST.keys, issuer_key(KEY_C, KID_C, ISSUER_A)))
    assert (await shared.verify(code_a, TRUST, NOW, skew=SKEW)).valid
    assert (await shared.verify(code_a, without_a, NOW, skew=SKEW)).reason == Reason.UNKNOWN_KID
    assert (await shared.verify(code_c, TRUST, NOW, skew=SKEW)).reason == Reason.UNKNOWN_KID
    result = await shared.verify(code_c, with_c, NOW, skew=SKEW)
    assert result.valid and result.key is with_c.keys[-1]
    assert shared.codes_verified_inline == inline


async def test_what_the_child_cannot_verify_is_verified_inline(shared, caplog):
    odd = replace(TRUST, revoked=frozenset({b"short"}))  # the document holds 16-byte entries only
    code, pid, inline = mint(), shared.pid, shared.codes_verified_inline
    with caplog.at_level(logging.WARNING, logger="app.adapters.verifier"):
        results = await asyncio.gather(
            shared.verify(code, odd, NOW, skew=SKEW), shared.verify(code, TRUST, NOW, skew=SKEW)
        )
    assert_same(results[0], code, odd, NOW)
    assert_same(results[1], code, TRUST, NOW)
    assert shared.codes_verified_inline == inline + 1 and shared.pid == pid  # only that code; same child
    assert "could not check 1 codes" in caplog.text


async def test_child_killed_between_batches(fresh, caplog):
    code = mint()
    assert_same(await fresh.verify(code, TRUST, NOW, skew=SKEW), code, TRUST, NOW)
    old = fresh.pid
    os.kill(old, signal.SIGKILL)
    with caplog.at_level(logging.WARNING, logger="app.adapters.verifier"):
        assert_same(await fresh.verify(code, TRUST, NOW, skew=SKEW), code, TRUST, NOW)
    assert fresh.codes_verified_inline == 1
    # Only the verifier's own line counts: asyncio's child watcher may add "Unknown child process
    # pid" for the killed child, depending on which reaps it first.
    ours = [record for record in caplog.records if record.name == "app.adapters.verifier"]
    assert len(ours) == 1 and code not in caplog.text
    await until(lambda: gone(old))

    async def restarted():  # calls meanwhile are answered inline, and correctly
        while fresh.pid in (None, old):
            assert_same(await fresh.verify(code, TRUST, NOW, skew=SKEW), code, TRUST, NOW)
            await asyncio.sleep(0.01)

    await asyncio.wait_for(restarted(), 5)
    inline, frames = fresh.codes_verified_inline, fresh.frames_sent
    assert_same(await fresh.verify(code, TRUST, NOW, skew=SKEW), code, TRUST, NOW)
    assert (fresh.codes_verified_inline, fresh.frames_sent) == (inline, frames + 1)  # the new child answered


async def test_child_killed_during_a_batch(fresh):
    codes = [mint(h=f"商户{i}") for i in range(150)]
    pid, frames = fresh.pid, fresh.frames_sent
    calls = [asyncio.create_task(fresh.verify(code, TRUST, NOW, skew=SKEW)) for code in codes]
    # Once the frame is written, the child needs ~30 ms to answer it: kill it meanwhile.
    await until(lambda: fresh.frames_sent > frames, pause=0)
    os.kill(pid, signal.SIGKILL)
    for result, code in zip(await asyncio.gather(*calls), codes, strict=True):
        assert_same(result, code, TRUST, NOW)
    assert fresh.codes_verified_inline == len(codes)
    assert fresh.pid is None
    await until(lambda: gone(pid))


async def test_hung_child_times_out_and_is_killed(fresh, caplog):
    code, pid = mint(), fresh.pid
    os.kill(pid, signal.SIGSTOP)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="app.adapters.verifier"):
        assert_same(await fresh.verify(code, TRUST, NOW, skew=SKEW), code, TRUST, NOW)
    assert 0.5 <= time.monotonic() - started < 2
    assert fresh.codes_verified_inline == 1 and "did not answer within 0.5 s" in caplog.text
    await until(lambda: gone(pid))


async def test_stop_leaves_no_process_and_start_works_again():
    verifier = ProcessVerifier()
    code = mint()
    for _ in range(2):
        await verifier.start()
        pid = verifier.pid
        assert pid is not None
        assert_same(await verifier.verify(code, TRUST, NOW, skew=SKEW), code, TRUST, NOW)
        await verifier.stop()
        assert verifier.pid is None and gone(pid)
    frames = verifier.frames_sent
    assert_same(await verifier.verify(code, TRUST, NOW, skew=SKEW), code, TRUST, NOW)
    assert verifier.frames_sent == frames and verifier.pid is None  # inline, and no restart


async def test_stop_lets_the_batch_in_flight_finish():
    verifier = ProcessVerifier()
    await verifier.start()
    codes = [mint(h=f"商户{i}") for i in range(100)]
    frames = verifier.frames_sent
    calls = [asyncio.create_task(verifier.verify(code, TRUST, NOW, skew=SKEW)) for code in codes]
    await until(lambda: verifier.frames_sent > frames, pause=0)
    await verifier.stop()
    for result, code in zip(await asyncio.gather(*calls), codes, strict=True):
        assert_same(result, code, TRUST, NOW)
    assert verifier.codes_verified_inline == 0


async def test_a_helper_that_cannot_start_means_inline_and_one_warning(caplog):
    verifier = ProcessVerifier(command=["/nonexistent/python"], restart_interval=0.0)
    code = mint()
    with caplog.at_level(logging.WARNING, logger="app.adapters.verifier"):
        await verifier.start()
        for _ in range(3):
            assert_same(await verifier.verify(code, TRUST, NOW, skew=SKEW), code, TRUST, NOW)
            await asyncio.sleep(0.01)  # let the restart attempts run (and fail)
    await verifier.stop()
    assert verifier.pid is None and verifier.frames_sent == 0
    assert [record.getMessage() for record in caplog.records] == [
        "the LC1 verifier process could not be started (FileNotFoundError); checking codes inline"
    ]


HELPER_THAT_ANSWERS = (
    "import sys\n"
    "from app.lc1.worker import encode_frame, read_frame\n"
    "sys.stdout.buffer.write(encode_frame([0, []])); sys.stdout.buffer.flush()\n"
    "read_frame(sys.stdin.buffer)\n"
    "sys.stdout.buffer.write({answer}); sys.stdout.buffer.flush()\n"
    "sys.stdin.buffer.read()\n"
)


@pytest.mark.parametrize(
    ("answer", "logged"),
    [
        ("b'\\x00\\x00\\x00\\x03not'", "wrote garbage"),
        ("encode_frame([1, [True, None, None]])", "failed a batch (FrameError)"),
        ("encode_frame([1, [True, 'no_such_reason', *[None] * 6]])", "failed a batch (KeyError)"),
    ],
)
async def test_a_helper_answering_garbage_is_killed_and_the_batch_verified_inline(caplog, answer, logged):
    command = [sys.executable, "-c", HELPER_THAT_ANSWERS.format(answer=answer)]
    verifier = ProcessVerifier(command=command, restart_interval=60)
    await verifier.start()
    pid, code = verifier.pid, mint()
    assert pid is not None
    with caplog.at_level(logging.WARNING, logger="app.adapters.verifier"):
        assert_same(await verifier.verify(code, TRUST, NOW, skew=SKEW), code, TRUST, NOW)
    assert logged in caplog.text and verifier.pid is None
    await until(lambda: gone(pid))
    await verifier.stop()


async def test_inline_verifier_is_verify():
    inline = InlineVerifier()
    await inline.start()
    for payload, trust_list, now in CASES.values():
        assert_same(await inline.verify(payload, trust_list, now, skew=SKEW), payload, trust_list, now)
    await inline.stop()


# --------------------------------------------------------------------------- the helper itself
def test_frames_split_and_joined_anyhow_decode_the_same():
    messages = [[1, {}, [], [1, "LC1:ABC", 1.5, 60]], [2, [True, None, 0, "x", 1, 2, b"c", {"h": "商户"}]]]
    stream = b"".join(worker.encode_frame(message) for message in messages)
    for step in (1, 3, 7, len(stream)):
        reader = worker.FrameReader()
        decoded = [m for i in range(0, len(stream), step) for m in reader.feed(stream[i : i + step])]
        assert decoded == messages
    with pytest.raises(worker.FrameError):
        worker.FrameReader().feed(b"\x00\x00\x00\x02\xff\xff")
    with pytest.raises(worker.FrameError):
        worker.FrameReader().feed(b"\xff\xff\xff\xff")


def test_the_helper_ignores_sigint_and_exits_at_end_of_input():
    command = [sys.executable, "-m", "app.lc1.worker"]
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE) as child:
        try:
            assert worker.read_frame(child.stdout) == [0, []]
            child.send_signal(signal.SIGINT)
            child.stdin.write(worker.encode_frame([1, {}, [], []]))
            child.stdin.flush()
            assert worker.read_frame(child.stdout) == [1, []]
            child.stdin.close()
            assert child.wait(timeout=5) == 0
        finally:
            if child.poll() is None:
                child.kill()
