"""The helper process that verifies LC1 codes in batches, off the service's event loop.

Run as `python -m app.lc1.worker` by app.adapters.verifier.ProcessVerifier. ES256 verification
costs ~90 µs a code and the whole check ~150-250 µs; here it runs on another core, and the event
loop pays only for one frame each way per batch. This module is also the one definition of the
pipe protocol, for both sides.

Frames, both ways: a 4-byte big-endian body length, then a CBOR body. Items and answers are
flat arrays (fields one after another), because a CBOR array per item costs the event loop more
than all of an item's fields, and answers use stringref (repeated texts sent once).

    parent -> child  [seq, {version: trust_list_payload | None}, [forgotten version, ...],
                      [version, payload, timestamp (float seconds), skew, ...]]
    child -> parent  [seq, [valid, reason, key index, issuer, issued_at, expires_at, token_id,
                      licence, ...]]    in item order; the frame [0, []] says the child is ready

Trust lists are sent once per child, under a small version number the parent chooses, and kept
until the parent says to forget them. In an answer, reason is a Reason value or None, the key
index points into that trust list's `keys` (None without a key), and the five claim fields are
None when `verify` returned no claims. An answer whose `valid` is ERROR could not be verified
here: the parent verifies that code itself. The child ignores SIGINT (the parent decides when it
stops) and exits at the end of its input, so it never outlives its parent.
"""

from __future__ import annotations

import os
import signal
import sys
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any, BinaryIO

import cbor2

from app.lc1 import codec
from app.lc1.trust_list import TrustList, parse_trust_list_payload
from app.lc1.verifier import Reason, VerificationResult, verify

ERROR = "error"
READY = 0  # the seq of the frame a child sends once it can take work
HEADER_BYTES = 4
MAX_FRAME_BYTES = 64 * 1024 * 1024
_REASONS = {reason.value: reason for reason in Reason}


class FrameError(ValueError):
    """Bytes on the pipe that are not a frame of this protocol."""


def encode_frame(message: Any, *, string_referencing: bool = False) -> bytes:
    """With string_referencing (stringref, tags 256 and 25), a text repeated in the frame is sent
    once: answers repeat issuers and licence field names, and the event loop decodes each once."""
    body = cbor2.dumps(message, string_referencing=string_referencing)
    return len(body).to_bytes(HEADER_BYTES, "big") + body


class FrameReader:
    """Splits a byte stream into decoded frames; raises FrameError on anything else."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._size = 0
        self._needed = HEADER_BYTES  # bytes to hold before the next frame can be decoded

    def feed(self, data: bytes) -> list[Any]:
        self._chunks.append(data)
        self._size += len(data)
        if self._size < self._needed:
            return []
        # Joined once per complete frame, and decoded in place: answers run to ~60 KB a batch.
        whole = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        view = memoryview(whole)
        messages = []
        start = 0
        while True:
            if len(whole) - start < HEADER_BYTES:
                self._needed = HEADER_BYTES
                break
            size = int.from_bytes(view[start : start + HEADER_BYTES], "big")
            if size > MAX_FRAME_BYTES:
                raise FrameError("frame too large")
            end = start + HEADER_BYTES + size
            if len(whole) < end:
                self._needed = end - start
                break
            try:
                messages.append(cbor2.loads(view[start + HEADER_BYTES : end]))
            except (cbor2.CBORError, ValueError, TypeError, OverflowError, RecursionError) as exc:
                raise FrameError("body is not CBOR") from exc
            start = end
        rest = whole[start:]
        self._chunks = [rest] if rest else []
        self._size = len(rest)
        return messages


def read_frame(stream: BinaryIO) -> Any | None:
    """The next frame from a blocking stream; None at the end of the stream."""
    header = stream.read(HEADER_BYTES)
    if len(header) < HEADER_BYTES:
        return None
    size = int.from_bytes(header, "big")
    if size > MAX_FRAME_BYTES:
        raise FrameError("frame too large")
    body = stream.read(size)
    if len(body) < size:
        return None
    return cbor2.loads(body)


# --------------------------------------------------------------------------- answers
ANSWER_FIELDS = 8
_NO_CLAIMS = (None, None, None, None, None)
_ERROR_ANSWER = (ERROR, *[None] * (ANSWER_FIELDS - 1))


def pack_result(result: VerificationResult, trust_list: TrustList) -> tuple[Any, ...]:
    """The answer fields for one item (child side)."""
    index = None
    if result.key is not None:
        # By identity: the parent hands back its own key object at this position.
        index = next(i for i, key in enumerate(trust_list.keys) if key is result.key)
    reason = None if result.reason is None else result.reason.value
    claims = result.claims
    if claims is None:
        return (result.valid, reason, index, *_NO_CLAIMS)
    licence = claims.licence
    # LC1 licence fields are text: the common case needs no walk through the values.
    if not all(type(value) is str for value in licence.values()) and not _survives_cbor(licence):
        raise ValueError("licence fields would not come back unchanged")
    return (result.valid, reason, index, claims.issuer, claims.issued_at, claims.expires_at, claims.token_id, claims.licence)


def unpack_results(answers: list[Any], trust_lists: list[TrustList]) -> list[VerificationResult | None]:
    """What `verify` returned for each item (parent side), None where the child answered ERROR.

    Raises FrameError (or the ValueError, TypeError, KeyError, IndexError of a bad field) on garbage.
    """
    if len(answers) != ANSWER_FIELDS * len(trust_lists):
        raise FrameError("answer count differs from the batch")
    results: list[VerificationResult | None] = []
    fields = iter(answers)
    for trust_list, valid, reason, index, issuer, issued_at, expires_at, token_id, licence in zip(
        trust_lists, *[fields] * ANSWER_FIELDS, strict=True
    ):
        if valid is not True and valid is not False:
            if valid != ERROR:
                raise FrameError("valid must be a boolean")
            results.append(None)
            continue
        if index is not None and index < 0:
            raise FrameError("key index out of range")
        results.append(
            VerificationResult(
                valid=valid,
                reason=None if reason is None else _REASONS[reason],
                claims=None
                if issuer is None
                else codec.LicenceClaims(
                    issuer=issuer, issued_at=issued_at, expires_at=expires_at, token_id=token_id, licence=licence
                ),
                key=None if index is None else trust_list.keys[index],
            )
        )
    return results


def _survives_cbor(value: Any) -> bool:
    # Licence fields are plain text and numbers; anything else (tags, sets, shared values) might
    # decode differently, so such a code is left to the parent.
    kind = type(value)
    if value is None or kind in (str, int, float, bool, bytes):
        return True
    if kind is list:
        return all(_survives_cbor(item) for item in value)
    if kind is dict:
        return all(type(key) is str and _survives_cbor(item) for key, item in value.items())
    return False


# --------------------------------------------------------------------------- the child
def answer_batch(request: list[Any], trust_lists: dict[int, TrustList | None]) -> list[Any]:
    """Verify one request frame's items, keeping `trust_lists` up to date; the response frame."""
    seq, new_lists, forgotten, items = request
    for version in forgotten:
        trust_lists.pop(version, None)
    for version, payload in new_lists.items():
        trust_lists[version] = _parse_or_none(payload)
    answers: list[Any] = []
    fields = iter(items)
    for version, payload, timestamp, skew in zip(*[fields] * 4, strict=True):
        trust_list = trust_lists.get(version)
        if trust_list is None:  # one we could not parse (said so already): the parent checks it
            answers += _ERROR_ANSWER
            continue
        try:
            result = verify(payload, trust_list, datetime.fromtimestamp(timestamp, UTC), skew=skew)
            answers += pack_result(result, trust_list)
        except Exception as exc:
            # The type only: messages may quote the code, which is personal data.
            print(f"app.lc1.worker: item failed with {type(exc).__name__}", file=sys.stderr, flush=True)
            answers += _ERROR_ANSWER
    return [seq, answers]


def _parse_or_none(payload: Any) -> TrustList | None:
    if payload is None:
        return None
    try:
        return parse_trust_list_payload(payload)
    except Exception as exc:
        print(f"app.lc1.worker: trust list refused ({type(exc).__name__})", file=sys.stderr, flush=True)
        return None


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    source = sys.stdin.buffer
    # Frames go to a private copy of stdout; a stray print lands on stderr, not in the protocol.
    sink = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    trust_lists: dict[int, TrustList | None] = {}
    try:
        sink.write(encode_frame([READY, []]))
        sink.flush()
        while (request := read_frame(source)) is not None:
            sink.write(encode_frame(answer_batch(request, trust_lists), string_referencing=True))
            sink.flush()
    except BrokenPipeError:  # the parent has gone; close quietly rather than at exit, noisily
        with suppress(OSError):
            sink.close()


if __name__ == "__main__":
    main()
