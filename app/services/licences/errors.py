"""Errors the licence use-cases raise, each with its HTTP status and stable code."""

from __future__ import annotations

from app.errors import AppError, BadRequest, Conflict, NotFound, ValidationFailed


class LicenceNotFound(NotFound):
    code, message = "licence_not_found", "No such licence."


class LicenceNotActive(Conflict):
    code, message = "licence_not_active", "This licence cannot be shown now."


class LicenceConflict(Conflict):
    code, message = "licence_conflict", "A licence with this identifier exists with other content."


class TransitionNotAllowed(Conflict):
    code, message = "transition_not_allowed", "The licence cannot change to that status."


class LicenceInvalid(ValidationFailed):
    code, message = "licence_invalid", "The licence does not match its type."


class IdentifierInvalid(ValidationFailed):
    code, message = "identifier_invalid", "The licence identifier is not a valid GB/T 36904 identifier."


class LicenceTypeNotFound(NotFound):
    code, message = "licence_type_not_found", "No such licence type."


class IssuerNotFound(NotFound):
    code, message = "issuer_not_found", "No such licence issuer."


class IssuerKeyNotFound(NotFound):
    code, message = "issuer_key_not_found", "This issuer has no key with this id."


class LicenceTypeCodeInvalid(ValidationFailed):
    code, message = "licence_type_code_invalid", "A licence type code is 21 characters, digits and capital letters."


class IssuerNotAllowed(ValidationFailed):
    code, message = "issuer_not_allowed", "This issuer may not issue this licence type."


class CertificateInvalid(ValidationFailed):
    code, message = "certificate_invalid", "The certificate is not a usable ES256 issuer certificate."


class SigningKeyUnavailable(AppError):
    status, code, message = 503, "signing_key_unavailable", "No signing key is available for this issuer."


class PayloadInvalid(BadRequest):
    code, message = "payload_invalid", "This is not a presentation of this licence."


class ConsentNotFound(NotFound):
    code, message = "consent_not_found", "No usable consent matches this code."


class ConsentNotWithdrawable(Conflict):
    code, message = "consent_not_withdrawable", "This consent was already used or withdrawn."


class FeedRejected(BadRequest):
    code, message = "feed_rejected", "The feed batch is not signed by a key of this issuer."
