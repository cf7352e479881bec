"""One status per kind of mistake: a body or query naming something that does not exist is 422
(well-formed, semantically wrong), a path naming a missing row is 404; a code keeps one status."""

from __future__ import annotations

import importlib

from app.errors import AppError

# Every module that declares errors (services declare theirs next to the use-case).
_ERROR_MODULES = (
    "app.errors",
    "app.services.catalogue.errors",
    "app.services.identity.service",
    "app.services.licences.errors",
    "app.services.payments.errors",
)


def _statuses_by_code() -> dict[str, set[int]]:
    for module in _ERROR_MODULES:
        importlib.import_module(module)
    found: dict[str, set[int]] = {}
    classes: list[type[AppError]] = [AppError]
    while classes:
        cls = classes.pop()
        found.setdefault(cls.code, set()).add(cls.status)
        classes.extend(cls.__subclasses__())
    return found


def test_each_code_has_one_status() -> None:
    mixed = {code: sorted(statuses) for code, statuses in _statuses_by_code().items() if len(statuses) > 1}
    assert mixed == {}


def test_unknown_references_are_422_and_missing_rows_404() -> None:
    statuses = _statuses_by_code()
    unknown = {code: statuses[code] for code in statuses if code.startswith("unknown_")}
    assert {"unknown_region", "unknown_audience", "unknown_department", "unknown_channel"} <= set(unknown)
    assert {code: status for code, status in unknown.items() if status != {422}} == {}
    not_found = {code: statuses[code] for code in statuses if code.endswith("_not_found")}
    assert {code: status for code, status in not_found.items() if status != {404}} == {}
