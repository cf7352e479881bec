"""Errors of the catalogue use-cases, each with its own stable code."""

from __future__ import annotations

from app.errors import AppError


class ServiceItemNotFound(AppError):
    status, code, message = 404, "service_not_found", "No such service item."


class ZoneNotFound(AppError):
    status, code, message = 404, "zone_not_found", "No such zone."


class BundleNotFound(AppError):
    status, code, message = 404, "bundle_not_found", "No such bundle."


# A body or query naming something that does not exist is well-formed but wrong: 422, like
# validation_failed (a path naming a missing row is 404: the *_not_found codes above).
class UnknownRegion(AppError):
    status, code, message = 422, "unknown_region", "The region code is not a known region."


class UnknownAudience(AppError):
    status, code, message = 422, "unknown_audience", "The audience must be individual or enterprise."


class UnknownDepartment(AppError):
    status, code, message = 422, "unknown_department", "The department code is not a known department."


class SearchQueryEmpty(AppError):
    status, code, message = 400, "search_query_empty", "Type something to search for."


class SearchQueryTooLong(AppError):
    status, code, message = 400, "search_query_too_long", "The search text is too long."


class SearchQueryInvalid(AppError):
    status, code, message = 400, "search_query_invalid", "The search text contains control characters."


class RevisionConflict(AppError):
    status, code, message = 409, "revision_conflict", "Someone changed this since you loaded it; reload and retry."


class TransitionNotAllowed(AppError):
    status, code, message = 409, "transition_not_allowed", "This change is not allowed in the current status."


class AlreadyExists(AppError):
    status, code, message = 409, "already_exists", "Something with this code already exists."


class InvalidEntries(AppError):
    status, code, message = 422, "invalid_entries", "Some entries refer to unknown items or bundles."


class ImportRejected(AppError):
    status, code, message = 422, "import_rejected", "Some rows are invalid; nothing was imported."


class ImportUnreadable(AppError):
    status, code, message = 400, "import_unreadable", "The file could not be read as JSON or CSV."
