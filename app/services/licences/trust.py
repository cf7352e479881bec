"""Which issuer keys are trusted now, and the signed trust list offline verifiers download."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from datetime import timedelta

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from app.batching import SharedCall
from app.lc1.trust_list import TrustList, revocation_hash, sign_trust_list, trust_list_payload
from app.ports import Cache, Clock
from app.services.licences.catalogue import LicenceCatalogue
from app.services.licences.errors import SigningKeyUnavailable
from app.services.licences.keys import KeyRing, certificate_kid
from app.services.licences.states import LicenceStatus
from models.licences import Licence, LicenceIssuerKey

DOCUMENT_KEY = "licences:trust-list"
# Keys change rarely; each worker reuses its snapshot this long (licence status is read live).
ONLINE_SNAPSHOT_SECONDS = 5.0
# An unknown kid may be a key registered on another worker a moment ago: look again, at most
# this often.
UNKNOWN_KID_RECHECK_SECONDS = 1.0


@dataclass
class SignedTrustList:
    document: bytes
    etag: str


@dataclass
class TrustStore:
    clock: Clock
    cache: Cache
    catalogue: LicenceCatalogue
    keys: KeyRing
    signer_certificate: x509.Certificate | None
    document_ttl: int
    cache_seconds: int
    revocation_window: timedelta
    _online: tuple[float, TrustList] | None = field(default=None, repr=False)
    _generation: int = field(default=0, repr=False)  # moves on at each invalidate()
    _read_online: SharedCall[int, TrustList] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._read_online = SharedCall(self._read_keys)

    def private_key_for(self, row: LicenceIssuerKey) -> ec.EllipticCurvePrivateKey | None:
        public_key = x509.load_pem_x509_certificate(row.certificate_pem.encode()).public_key()
        assert isinstance(public_key, ec.EllipticCurvePublicKey)
        return self.keys.private_key_for(public_key)

    async def online(self, *, max_age: float = ONLINE_SNAPSHOT_SECONDS) -> TrustList:
        """The keys the service itself verifies against (no revocations: it reads status live)."""
        if self._online is not None and time.monotonic() - self._online[0] < max_age:
            return self._online[1]
        # Requests in flight when the snapshot runs out share one read; one after invalidate()
        # waits for a read that began after it.
        return await self._read_online(self._generation)

    async def _read_keys(self, generation: int) -> TrustList:
        now_mono = time.monotonic()
        keys = await self.catalogue.trusted_keys(self.clock.now())
        # The same object while nothing changed: the verifier process is sent a list only once.
        if self._online is not None and self._online[1].keys == keys:
            trust_list = self._online[1]
        else:
            trust_list = TrustList(keys=keys)
        if generation == self._generation:
            self._online = (now_mono, trust_list)
        return trust_list

    async def invalidate(self) -> None:
        self._online = None
        self._generation += 1
        await self.cache.delete(DOCUMENT_KEY)

    async def signed_document(self) -> SignedTrustList:
        cached = await self.cache.get(DOCUMENT_KEY)
        if cached is not None:
            etag, _, document = cached.partition(b"\n")
            return SignedTrustList(document=document, etag=etag.decode())
        signed = await self._build()
        await self.cache.set(DOCUMENT_KEY, signed.etag.encode() + b"\n" + signed.document, ttl=self.cache_seconds)
        return signed

    async def _build(self) -> SignedTrustList:
        if self.signer_certificate is None:
            raise SigningKeyUnavailable("No trust-list signing key is configured.")
        signer_public = self.signer_certificate.public_key()
        assert isinstance(signer_public, ec.EllipticCurvePublicKey)
        signer = self.keys.private_key_for(signer_public)
        if signer is None:
            raise SigningKeyUnavailable("The trust-list signing key is not available.")
        now = self.clock.now()
        # Presentations live at most 90 s: only recent revocations can still matter offline.
        identifiers = await Licence.filter(
            status__in=(LicenceStatus.REVOKED, LicenceStatus.SUSPENDED),
            status_changed_at__gte=now - self.revocation_window,
        ).values_list("identifier", flat=True)
        keys = await self.catalogue.trusted_keys(now)
        issued_at = int(now.timestamp())
        trust_list = TrustList(
            keys=keys,
            revoked=frozenset(revocation_hash(str(i)) for i in identifiers),
            sequence=issued_at,
            issued_at=issued_at,
            expires_at=issued_at + self.document_ttl,
        )
        # The ETag covers what the list says and which half of its lifetime it was signed in, not
        # the exact moment: a verifier revalidating an unchanged copy gets 304 only while that
        # copy has at least half its lifetime left, never once its own expires_at is near.
        content = trust_list_payload(trust_list)
        content.pop("sequence"), content.pop("issued_at"), content.pop("expires_at")
        content["signed_in"] = issued_at // max(self.document_ttl // 2, 1)
        etag = '"' + hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:32] + '"'
        document = sign_trust_list(trust_list, signer, certificate_kid(self.signer_certificate))
        return SignedTrustList(document=document, etag=etag)

