"""Real-name binding, phone binding and face verification 2.0."""

import typing

import pytest
from pydantic import BaseModel

from app.services.identity.idnumbers import id_check_char
from models.identity import FaceVerification, User
from tests.conftest import bind_realname, login, pass_face
from tests.factories import make_id_number


def with_check(first17: str) -> str:
    return first17 + id_check_char(first17)


@pytest.mark.parametrize(
    ("id_number", "reason"),
    [
        ("440106199001010011" if id_check_char("44010619900101001") != "1" else "440106199001010012", "checksum"),
        (with_check("44010619900231001"), "birth_date"),
        (with_check("44010620990101001"), "birth_date"),
        (with_check("99010619900101001"), "region"),
        ("44010619900101001Z", "format"),
    ],
)
async def test_invalid_id_numbers_are_refused_and_nothing_is_written(api, id_number, reason):
    session = await login(api)
    response = await api.post(
        "/api/v1/me/realname", json={"name": "王五", "id_number": id_number}, headers=session.headers
    )
    assert response.status_code == 422
    assert response.json()["error"] == {
        "code": "id_number_invalid",
        "message": "The ID number is not valid.",
        "context": {"reason": reason},
    }
    user = await User.get(id=session.user_id)
    assert user.id_number_index is None and user.real_name_enc is None and user.realname_verified_at is None


async def test_a_full_width_spelling_of_a_bound_id_number_is_the_same_number(api):
    first = await bind_realname(api, await login(api), name="王五")
    assert first.id_number is not None
    full_width = first.id_number.translate(str.maketrans("0123456789X", "０１２３４５６７８９Ｘ"))
    other = await login(api)
    response = await api.post(
        "/api/v1/me/realname", json={"name": "王五", "id_number": full_width}, headers=other.headers
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "id_number_taken"
    odd = await api.post(
        "/api/v1/me/realname", json={"name": "王五", "id_number": "²" + first.id_number[1:]}, headers=other.headers
    )
    assert odd.status_code == 422
    assert odd.json()["error"]["code"] == "id_number_invalid"


@pytest.mark.parametrize("name", ["李𬌗", "王〇华", "𠇔明", "买买提·艾力"])
async def test_names_with_rare_characters_can_be_bound(api, name):
    # 生僻字 outside the Basic Multilingual Plane appear in real names; refusing them locks people out.
    session = await login(api)
    response = await api.post(
        "/api/v1/me/realname", json={"name": name, "id_number": make_id_number()}, headers=session.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["name_masked"] == "*" + name[1:]


@pytest.mark.parametrize("name", ["张三<b>", "12345", "张\u200b三"])
async def test_names_that_are_not_names_are_refused(api, name):
    session = await login(api)
    response = await api.post(
        "/api/v1/me/realname", json={"name": name, "id_number": make_id_number()}, headers=session.headers
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "name_invalid"


async def test_bind_shows_only_masked_data_and_encrypts_at_rest(api):
    session = await login(api)
    number = make_id_number()
    response = await api.post(
        "/api/v1/me/realname", json={"name": "张三丰", "id_number": number}, headers=session.headers
    )
    assert response.status_code == 200
    body = response.json()
    assert body["realname_verified"] is True
    assert body["name_masked"] == "*三丰"
    assert body["id_number_masked"] == number[0] + "*" * 16 + number[-1]
    assert number not in response.text
    user = await User.get(id=session.user_id)
    assert number not in (user.id_number_enc or "") and "张三丰" not in (user.real_name_enc or "")
    assert user.id_region_code == number[:6]


async def test_one_id_number_binds_one_account(api):
    number = make_id_number()
    first = await bind_realname(api, await login(api), id_number=number)
    again = await api.post("/api/v1/me/realname", json={"name": "张三", "id_number": number}, headers=first.headers)
    assert again.status_code == 200  # the same identity again is idempotent
    other = await login(api)
    taken = await api.post("/api/v1/me/realname", json={"name": "张三", "id_number": number}, headers=other.headers)
    assert taken.status_code == 409
    assert taken.json()["error"]["code"] == "id_number_taken"
    assert (await User.get(id=other.user_id)).id_number_index is None


async def test_a_bound_account_cannot_switch_identity(api):
    session = await bind_realname(api, await login(api))
    switch = await api.post(
        "/api/v1/me/realname", json={"name": "赵六", "id_number": make_id_number()}, headers=session.headers
    )
    assert switch.status_code == 409
    assert switch.json()["error"]["code"] == "realname_already_bound"


async def test_concurrent_binding_of_one_number_has_one_winner(api):
    import asyncio

    number = make_id_number()
    sessions = [await login(api) for _ in range(5)]
    answers = await asyncio.gather(
        *(
            api.post("/api/v1/me/realname", json={"name": "钱七", "id_number": number}, headers=s.headers)
            for s in sessions
        )
    )
    assert sorted(a.status_code for a in answers) == [200, 409, 409, 409, 409]
    assert await User.filter(id__in=[s.user_id for s in sessions], id_number_index__not_isnull=True).count() == 1


async def test_phone_binding(api):
    session = await login(api)
    code = (await api.post("/sandbox/wechat/phone-code", json={"phone": "13800138000"})).json()["code"]
    response = await api.post("/api/v1/me/phone", json={"code": code}, headers=session.headers)
    assert response.status_code == 200
    assert response.json() == {"phone_masked": "138****8000"}
    user = await User.get(id=session.user_id)
    assert user.phone_index and "13800138000" not in (user.phone_enc or "")
    reused = await api.post("/api/v1/me/phone", json={"code": code}, headers=session.headers)
    assert reused.status_code == 400
    assert reused.json()["error"]["code"] == "code_invalid"


async def test_phone_binding_survives_an_expired_access_token_at_wechat(api, live):
    """The adapter refetches WeChat's access token when WeChat says it expired (42001)."""
    session = await login(api)
    await api.post("/sandbox/wechat/expire-token")
    code = (await api.post("/sandbox/wechat/phone-code", json={"phone": "13900139000"})).json()["code"]
    response = await api.post("/api/v1/me/phone", json={"code": code}, headers=session.headers)
    assert response.status_code == 200, response.text


async def test_face_needs_a_bound_identity(api):
    session = await login(api)
    response = await api.post("/api/v1/auth/face/start", headers=session.headers)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "realname_required"


async def test_face_pass_gives_a_face_verified_token(api):
    session = await pass_face(api, await bind_realname(api, await login(api)))
    me = (await api.get("/api/v1/me", headers=session.headers)).json()
    assert me["face_verified_at"] is not None


async def start_face(api, session):
    response = await api.post("/api/v1/auth/face/start", headers=session.headers)
    assert response.status_code == 200
    return response.json()["verify_id"]


@pytest.mark.parametrize("outcome", ["fail", "cancel"])
async def test_face_failure_and_cancel(api, outcome):
    session = await bind_realname(api, await login(api))
    verify_id = await start_face(api, session)
    await api.post("/sandbox/wechat/face", json={"verify_id": verify_id, "outcome": outcome})
    response = await api.post("/api/v1/auth/face/finish", json={"verify_id": verify_id}, headers=session.headers)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "face_failed"
    assert (await User.get(id=session.user_id)).face_verified_at is None
    assert (await FaceVerification.get(verify_id=verify_id)).status == "failed"


async def test_face_not_completed_can_be_finished_later(api):
    session = await bind_realname(api, await login(api))
    verify_id = await start_face(api, session)
    early = await api.post("/api/v1/auth/face/finish", json={"verify_id": verify_id}, headers=session.headers)
    assert early.status_code == 409
    assert early.json()["error"]["code"] == "face_not_completed"
    await api.post("/sandbox/wechat/face", json={"verify_id": verify_id, "outcome": "pass"})
    done = await api.post("/api/v1/auth/face/finish", json={"verify_id": verify_id}, headers=session.headers)
    assert done.status_code == 200


async def test_replayed_and_foreign_verify_ids(api):
    owner = await bind_realname(api, await login(api))
    verify_id = await start_face(api, owner)
    await api.post("/sandbox/wechat/face", json={"verify_id": verify_id, "outcome": "pass"})
    stranger = await bind_realname(api, await login(api))
    foreign = await api.post("/api/v1/auth/face/finish", json={"verify_id": verify_id}, headers=stranger.headers)
    assert foreign.status_code == 404
    assert foreign.json()["error"]["code"] == "verify_id_invalid"
    assert (
        await api.post("/api/v1/auth/face/finish", json={"verify_id": verify_id}, headers=owner.headers)
    ).status_code == 200
    replay = await api.post("/api/v1/auth/face/finish", json={"verify_id": verify_id}, headers=owner.headers)
    assert replay.status_code == 409
    assert replay.json()["error"]["code"] == "verify_id_used"
    unknown = await api.post("/api/v1/auth/face/finish", json={"verify_id": "vf_nope"}, headers=owner.headers)
    assert unknown.status_code == 404


async def test_step_up_guard_on_a_sensitive_route(api):
    """Granting an agent is a face-verified action: without a recent pass it answers 403."""
    session = await bind_realname(api, await login(api))
    response = await api.post(
        "/api/v1/enterprises/91440106MA5CXXXX0X/agents",
        json={
            "name": "张三",
            "id_number": make_id_number(),
            "scopes": ["licences"],
            "expires_at": "2027-01-01T00:00:00+08:00",
        },
        headers=session.headers,
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "face_verification_required"


def test_guard_window_uses_the_face_time_in_the_token():
    from datetime import UTC, datetime

    from app.context import Principal
    from app.errors import FaceVerificationRequired
    from app.services.identity.service import IdentityService

    class Clock:
        def now(self):
            return datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    class Settings:
        class security:
            face_window_seconds = 600

    service = IdentityService.__new__(IdentityService)
    service.settings, service.clock = Settings, Clock()
    now = Clock().now().timestamp()
    service.require_recent_face(Principal(1, frozenset(), "s", face_verified_at=int(now) - 599))
    for stale in (None, int(now) - 601):
        with pytest.raises(FaceVerificationRequired):
            service.require_recent_face(Principal(1, frozenset(), "s", face_verified_at=stale))


async def test_preferences_take_only_real_booleans(api):
    session = await login(api)
    for loose in ("yes", "true", 1, 0, None):
        refused = await api.put(
            "/api/v1/me/preferences", json={"notify_on_licence_check": loose}, headers=session.headers
        )
        assert refused.status_code == 422, (loose, refused.text)
        assert refused.json()["error"]["context"]["fields"][0]["field"] == "notify_on_licence_check"
    for value in (True, False):
        saved = await api.put(
            "/api/v1/me/preferences", json={"notify_on_licence_check": value}, headers=session.headers
        )
        assert saved.status_code == 200, saved.text
    assert (await User.get(id=session.user_id)).notify_on_licence_check is False


def test_every_boolean_in_a_request_body_is_strict(live):
    """JSON has true and false; "yes", 1 or "0" in a body is a client bug, not a boolean."""

    def models(annotation):
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield annotation
            for field in annotation.model_fields.values():
                yield from models(field.annotation)
        for arg in typing.get_args(annotation):
            yield from models(arg)

    loose = []
    for route in live.app.router.routes:
        spec = getattr(route.handler, "__endpoint__", None)
        for model in models(spec.body if spec else None):
            for name, field in model.model_fields.items():
                bools = field.annotation is bool or bool in typing.get_args(field.annotation)
                if bools and not any(getattr(mark, "strict", False) for mark in field.metadata):
                    loose.append(f"{model.__name__}.{name}")
    assert loose == []
