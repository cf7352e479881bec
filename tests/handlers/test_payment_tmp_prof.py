import cProfile, pstats, io, time, uuid
import httpx
from tests.conftest import Session
from tests.test_payment_support import make_fine


async def test_prof(api: httpx.AsyncClient, resident: Session) -> None:
    fines = [await make_fine(api) for _ in range(40)]
    prof = cProfile.Profile()
    t = time.perf_counter()
    prof.enable()
    for fine in fines:
        r = await api.post("/api/v1/payments", json={"bill_type": "fine", "bill_ref": fine["decision_no"], "plate": fine["plate"], "channel": "wechatpay"},
                           headers=resident.headers | {"Idempotency-Key": uuid.uuid4().hex})
        assert r.status_code == 201
    prof.disable()
    print("per create ms", (time.perf_counter() - t) / len(fines) * 1000)
    s = io.StringIO()
    pstats.Stats(prof, stream=s).sort_stats("cumtime").print_stats(70)
    print(s.getvalue()[:14000])
