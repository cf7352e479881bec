"""Electronic licences: types and issuers, issuance (API and agency feed), the wallet, signed QR
presentations, inspection online and offline (the trust list), usage log and consent.

Boundary: no HTTP here. The token format and the offline verifier live in app/lc1 (usable on
their own); rendering QR images is the QrRenderer port; WeChat notifications go through the
identity service's WeChat client.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from cryptography import x509

from app.config import Settings, project_path
from app.context import Adapters
from app.services.licences.catalogue import SIGNER_CACHE_SECONDS, LicenceCatalogue
from app.services.licences.inspection import InspectionService
from app.services.licences.keys import load_key_ring
from app.services.licences.service import LicenceService
from app.services.licences.trust import TrustStore


@dataclass
class Licences:
    """What handlers reach as services(request).licences."""

    catalogue: LicenceCatalogue
    holders: LicenceService
    inspections: InspectionService
    trust: TrustStore


def wire(services: Any, settings: Settings, adapters: Adapters) -> None:
    assert adapters.clock and adapters.cache and adapters.wechat
    config = settings.licences
    keys = load_key_ring(project_path(config.keys_dir), config.private_keys_pem.reveal())
    certificate_path = project_path(config.trust_list_certificate) if config.trust_list_certificate else None
    signer = (
        x509.load_pem_x509_certificate(certificate_path.read_bytes())
        if certificate_path and certificate_path.exists()
        else None
    )
    catalogue = LicenceCatalogue(
        clock=adapters.clock,
        audit=services.audit,
        keys=keys,
        retirement_grace=timedelta(seconds=config.presentation_ttl + config.clock_skew + SIGNER_CACHE_SECONDS),
    )
    trust = TrustStore(
        clock=adapters.clock,
        cache=adapters.cache,
        catalogue=catalogue,
        keys=keys,
        signer_certificate=signer,
        document_ttl=config.trust_list_ttl,
        cache_seconds=config.trust_list_cache_seconds,
        revocation_window=timedelta(days=config.revocation_window_days),
    )
    verifier = adapters.extra["presentation_verifier"]
    holders = LicenceService(
        settings=config,
        clock=adapters.clock,
        identity=services.identity,
        audit=services.audit,
        catalogue=catalogue,
        trust=trust,
        renderer=adapters.extra["qr_renderer"],
        verifier=verifier,
    )
    inspections = InspectionService(
        settings=config,
        clock=adapters.clock,
        cache=adapters.cache,
        identity=services.identity,
        wechat=adapters.wechat,
        trust=trust,
        verifier=verifier,
        template_id=settings.wechat.template_licence_checked,
    )
    services.licences = Licences(catalogue=catalogue, holders=holders, inspections=inspections, trust=trust)
    # Started before the inspections and stopped after them (Services.stop runs in reverse).
    services.background += [verifier, inspections]
