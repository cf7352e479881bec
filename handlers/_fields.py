"""Field types the request models share, so one kind of value has one rule on every route.

    class ConsentBody(BaseModel):
        department: FreeText = Field(min_length=2, max_length=100)

    class ReconcileBody(BaseModel):
        date: PastDay

`FreeText` (and `FreeTextLines`, for text that may span lines): what a person types for others
to read, without control or format characters that could reorder or hide it (app/characters.py).

`Day` and `Moment`: a date as `YYYY-MM-DD`, a time as ISO 8601 with its zone, strictly: a JSON
number or a bare date is not a time (pydantic's lax mode would read `0` as 1970-01-01), and
both lie in [2000-01-01, 2100-01-01), so arithmetic on them (a Beijing day's UTC bounds, the
+08:00 rendering) never overflows and nothing stored is a typo for another century.
`LicenceDay` reaches back to 1949-10-01 (a licence may have been valid since before 2000);
`PastDay` is a Day not after today in Beijing (a reconciliation needs a day that has begun).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator
from pydantic_core import PydanticCustomError

from app.answers import SHANGHAI
from app.characters import shows_what_it_says

EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 1, 1)  # exclusive
LICENCE_EARLIEST = date(1949, 10, 1)
_EARLIEST_AT = datetime(EARLIEST.year, EARLIEST.month, EARLIEST.day, tzinfo=UTC)
_LATEST_AT = datetime(LATEST.year, LATEST.month, LATEST.day, tzinfo=UTC)

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MOMENT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.,][0-9]{1,9})?)?([Zz]|[+-][0-9]{2}:[0-9]{2})")


def _free_text(value: str) -> str:
    if not shows_what_it_says(value):
        raise PydanticCustomError("hidden_characters", "must not hold control or formatting characters (bidi "
                                  "controls, zero-width characters) or line breaks")
    return value


def _free_text_lines(value: str) -> str:
    if not shows_what_it_says(value, multiline=True):
        raise PydanticCustomError("hidden_characters", "must not hold control or formatting characters (bidi "
                                  "controls, zero-width characters)")
    return value


FreeText = Annotated[str, AfterValidator(_free_text)]
FreeTextLines = Annotated[str, AfterValidator(_free_text_lines)]


def _out_of_range(earliest: date, latest: date) -> PydanticCustomError:
    return PydanticCustomError("out_of_range", "must be on or after {earliest} and before {latest}",
                               {"earliest": earliest.isoformat(), "latest": latest.isoformat()})


def _day_between(earliest: date, latest: date) -> BeforeValidator:
    def parse(value: Any) -> date:
        if not (isinstance(value, str) and _DAY.fullmatch(value)):
            raise PydanticCustomError("iso_date", "must be a date written YYYY-MM-DD")
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise PydanticCustomError("iso_date", "is not a calendar date") from None
        if not earliest <= day < latest:
            raise _out_of_range(earliest, latest)
        return day

    return BeforeValidator(parse)


def _moment(value: Any) -> datetime:
    if not (isinstance(value, str) and _MOMENT.fullmatch(value)):
        raise PydanticCustomError("iso_datetime", "must be a time written as ISO 8601 with its zone, "
                                  "e.g. 2026-01-01T08:00:00+08:00")
    try:
        moment = datetime.fromisoformat(value.upper().replace(",", "."))
    except ValueError:
        raise PydanticCustomError("iso_datetime", "is not a calendar time") from None
    # The wall-clock year first: converting year 1 or 9999 with its offset to UTC overflows.
    if not (EARLIEST.year <= moment.year < LATEST.year and _EARLIEST_AT <= moment < _LATEST_AT):
        raise _out_of_range(EARLIEST, LATEST)
    return moment


def _not_after_today(day: date) -> date:
    today = datetime.now(SHANGHAI).date()
    if day > today:
        raise PydanticCustomError("future_date", "must not be after today ({today}, Beijing)",
                                  {"today": today.isoformat()})
    return day


Day = Annotated[date, _day_between(EARLIEST, LATEST)]
LicenceDay = Annotated[date, _day_between(LICENCE_EARLIEST, LATEST)]
PastDay = Annotated[date, _day_between(EARLIEST, LATEST), AfterValidator(_not_after_today)]
Moment = Annotated[AwareDatetime, BeforeValidator(_moment)]
