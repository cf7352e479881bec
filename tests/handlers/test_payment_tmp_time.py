import time, uuid, asyncio
import httpx
from tests.conftest import Session
from tests.test_payment_support import make_fine


async def test_time(api: httpx.AsyncClient, resident: Session) -> None:
    fines = [await make_fine(api) for _ in range(60)]
    t = time.perf_counter()
    for fine in fines[:30]:
        r = await api.post("/api/v1/payments", json={"bill_type": "fine", "bill_ref": fine["decision_no"], "plate": fine["plate"], "channel": "wechatpay"},
                           headers=resident.headers | {"Idempotency-Key": uuid.uuid4().hex})
        assert r.status_code == 201
    print("sequential per create ms", (time.perf_counter() - t) / 30 * 1000)
    t = time.perf_counter()
    async def one(fine):
        r = await api.post("/api/v1/payments", json={"bill_type": "fine", "bill_ref": fine["decision_no"], "plate": fine["plate"], "channel": "wechatpay"},
                           headers=resident.headers | {"Idempotency-Key": uuid.uuid4().hex})
        assert r.status_code == 201
    await asyncio.gather(*(one(f) for f in fines[30:]))
    print("concurrent 30 creates/s", 30 / (time.perf_counter() - t))
