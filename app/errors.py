"""The error hierarchy. Each error carries its HTTP status and a stable snake_case code.

Services raise these (or subclasses declared next to the use-case); one renderer in
app/factory.py turns them into `{"error": {"code", "message", "context"}, "request_id"}`.
`context` is shown to clients, so it never holds secrets or personal data.
"""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    status: int = 500
    code: str = "internal_error"
    message: str = "Something went wrong on our side."

    def __init__(
        self,
        message: str | None = None,
        *,
        context: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ):
        self.detail = message or self.message
        self.context = context or {}
        self.headers = headers or {}
        super().__init__(self.detail)


class BadRequest(AppError):
    status, code, message = 400, "bad_request", "The request could not be understood."


class InvalidJson(BadRequest):
    code, message = "invalid_json", "The request body is not valid JSON."


class UnsupportedMediaType(AppError):
    status, code, message = 415, "unsupported_media_type", "Send the body as application/json."


class BodyTooLarge(AppError):
    status, code, message = 413, "body_too_large", "The request body is too large."


class RequestHeadTooLarge(AppError):
    status, code, message = 431, "request_head_too_large", "The URL or the request headers are too long."


class ValidationFailed(AppError):
    status, code, message = 422, "validation_failed", "Some fields are missing or invalid."


class Unauthorized(AppError):
    status, code, message = 401, "unauthorized", "Log in first."
    # A 401 names its scheme (RFC 9110 §11.6.1, RFC 6750 §3); a bad token says so.
    challenge = 'Bearer realm="api"'

    def __init__(self, message: str | None = None, *, context: dict[str, Any] | None = None):
        super().__init__(message, context=context, headers={"WWW-Authenticate": self.challenge})


class TokenExpired(Unauthorized):
    code, message = "token_expired", "The token has expired."
    challenge = 'Bearer realm="api", error="invalid_token", error_description="expired"'


class TokenInvalid(Unauthorized):
    code, message = "token_invalid", "The token is not valid."
    challenge = 'Bearer realm="api", error="invalid_token"'


class Forbidden(AppError):
    status, code, message = 403, "forbidden", "You may not do this."


class FaceVerificationRequired(Forbidden):
    code, message = "face_verification_required", "Verify your face again to continue."


class NotFound(AppError):
    status, code, message = 404, "not_found", "Not found."


class MethodNotAllowed(AppError):
    status, code, message = 405, "method_not_allowed", "This method is not allowed here."


class Conflict(AppError):
    status, code, message = 409, "conflict", "The request conflicts with the current state."


class RateLimited(AppError):
    status, code, message = 429, "rate_limited", "Too many requests; try again later."

    def __init__(self, retry_after: int, message: str | None = None):
        retry_after = max(1, int(retry_after))
        super().__init__(message, context={"retry_after": retry_after}, headers={"Retry-After": str(retry_after)})


class UpstreamUnavailable(AppError):
    status, code, message = 503, "upstream_unavailable", "A partner system did not answer; try again."


class UpstreamRejected(AppError):
    status, code, message = 502, "upstream_error", "A partner system refused the request."


class StoreUnavailable(AppError):
    """The database or Redis did not answer: the request was fine and may be sent again."""

    status, code, message = 503, "store_unavailable", "A data store did not answer; try again shortly."

    def __init__(self) -> None:
        super().__init__(headers={"Retry-After": "1"})


class ServiceUnavailable(AppError):
    status, code, message = 503, "service_unavailable", "The service is not ready."
