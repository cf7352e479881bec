"""Alipay RSA2 signing content, notify verification and bill parsing, without a network."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest

from app.adapters._paycrypto import alipay_sign_content, load_private_key, load_public_key, rsa_sign, rsa_verify
from app.adapters.alipay import AlipayChannel, parse_trade_bill, parse_trade_bill_zip
from app.ports import ChannelError, NotifyRejected
from app.sandbox.alipay import CERTS, SANDBOX_APP_ID, SANDBOX_SELLER_ID


def test_sign_content_is_sorted_unencoded_and_skips_sign_and_empty_values():
    params = {"b": "2", "a": "x y&z", "sign": "S", "sign_type": "RSA2", "empty": "", "c": "中文"}
    assert alipay_sign_content(params) == "a=x y&z&b=2&c=中文&sign_type=RSA2".encode()
    assert alipay_sign_content(params, exclude=("sign", "sign_type")) == "a=x y&z&b=2&c=中文".encode()


def test_bare_base64_public_keys_load_as_alipay_publishes_them():
    pem = (CERTS / "alipay_public_key.pem").read_text()
    bare = "".join(line for line in pem.splitlines() if "-----" not in line)
    assert load_public_key(bare).public_numbers() == load_public_key(pem).public_numbers()


def _channel() -> AlipayChannel:
    return AlipayChannel(
        gateway_url="http://127.0.0.1:9/gateway.do", app_id=SANDBOX_APP_ID, seller_id=SANDBOX_SELLER_ID,
        app_private_key=(CERTS / "app_private_key.pem").read_text(),
        alipay_public_key=(CERTS / "alipay_public_key.pem").read_text(), notify_url="http://127.0.0.1:9/notify",
    )


def _notify(**changes: str) -> dict[str, str]:
    params = {
        "notify_time": "2026-11-21 10:00:00", "notify_type": "trade_status_sync", "notify_id": "n1",
        "app_id": SANDBOX_APP_ID, "charset": "utf-8", "version": "1.0", "sign_type": "RSA2",
        "trade_no": "2026112122001000000000000001", "out_trade_no": "P001", "seller_id": SANDBOX_SELLER_ID,
        "trade_status": "TRADE_SUCCESS", "total_amount": "200.00", "gmt_payment": "2026-11-21 09:59:58",
    }
    params.update(changes)
    return params


def _signed(params: dict[str, str], key_file: str = "alipay_private_key.pem") -> bytes:
    key = load_private_key((CERTS / key_file).read_text())
    signature = rsa_sign(key, alipay_sign_content(params, exclude=("sign", "sign_type")))
    return urlencode({**params, "sign": signature}).encode()


def test_a_signed_notify_verifies_into_a_paid_transaction():
    notify = _channel().verify_notify({}, _signed(_notify()))
    tx = notify.transaction
    assert notify.event_id == "n1" and tx is not None
    assert (tx.order_no, tx.state, tx.amount) == ("P001", "paid", 20000)
    assert (tx.app_id, tx.merchant_id) == (SANDBOX_APP_ID, SANDBOX_SELLER_ID)
    assert tx.paid_at == datetime(2026, 11, 21, 1, 59, 58, tzinfo=UTC)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (_signed(_notify(), key_file="app_private_key.pem"), "bad_signature"),
        (_signed(_notify()).replace(b"200.00", b"300.00"), "bad_signature"),
        (_signed(_notify(app_id="2021999999999999")), "app_mismatch"),
        (_signed(_notify(seller_id="2088999999999999")), "merchant_mismatch"),
        (urlencode(_notify()).encode(), "missing_signature"),
        (_signed(_notify()).replace(b"sign_type=RSA2", b"sign_type=RSA"), "unsupported_signature_type"),
        (b"\xff\xfe", "malformed_body"),
        (_signed(_notify(total_amount="abc")), "malformed_body"),
    ],
)
def test_bad_notifies_are_rejected_with_their_reason(body: bytes, reason: str):
    with pytest.raises(NotifyRejected) as caught:
        _channel().verify_notify({}, body)
    assert caught.value.reason == reason


def test_a_refund_notify_names_the_refund_by_out_biz_no():
    notify = _channel().verify_notify({}, _signed(_notify(out_biz_no="R001", refund_fee="50.00",
                                                          gmt_refund="2026-11-21 11:00:00")))
    assert notify.kind == "refund" and notify.refund is not None
    assert (notify.refund.refund_no, notify.refund.amount, notify.refund.state) == ("R001", 5000, "succeeded")


def test_notify_answers_are_plain_success_and_fail():
    channel = _channel()
    assert channel.answer_notify(accepted=True).body == b"success"
    assert channel.answer_notify(accepted=False).body == b"fail"


def test_request_signature_verifies_with_the_app_public_key():
    params = _channel().sign_request("alipay.trade.query", {"out_trade_no": "P001"})
    public = load_public_key((CERTS / "app_public_key.pem").read_text())
    assert params["sign_type"] == "RSA2" and params["biz_content"] == '{"out_trade_no":"P001"}'
    assert rsa_verify(public, alipay_sign_content(params), params["sign"])


BILL = (
    "#支付宝业务明细查询\r\n#账号：[2088000000000001]\r\n"
    "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,"
    "订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,"
    "券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注\r\n"
    "2026112122001,P001,交易,罚款,2026-11-21 09:00:00,2026-11-21 09:01:00,,,,,2088x,200.00,200.00,0.00,0.00,"
    "0.00,0.00,0.00,,0.00,0.00,,0.00,0.00,\r\n"
    "2026112122001,P001,退款,罚款,2026-11-21 09:00:00,2026-11-21 12:00:00,,,,,2088x,200.00,-50.00,0.00,0.00,"
    "0.00,0.00,0.00,,0.00,0.00,R001,0.00,0.00,\r\n"
    "#-----------------------------------------业务明细列表结束------------------------------------\r\n"
    "#交易合计：1笔，退款合计：1笔\r\n"
)


def test_bill_rows_come_out_in_fen_with_refunds_positive():
    payment, refund = parse_trade_bill(BILL)
    assert (payment.kind, payment.amount, payment.order_no) == ("payment", 20000, "P001")
    assert (refund.kind, refund.amount, refund.refund_no) == ("refund", 5000, "R001")
    assert refund.occurred_at == datetime(2026, 11, 21, 4, 0, tzinfo=UTC)


def test_bill_whose_totals_disagree_or_whose_zip_is_damaged_is_refused():
    with pytest.raises(ChannelError):
        parse_trade_bill(BILL.replace("退款合计：1笔", "退款合计：2笔"))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("2088_20261121_业务明细.csv", BILL.encode("gbk"))
    assert len(parse_trade_bill_zip(buffer.getvalue())) == 2
    with pytest.raises(ChannelError) as caught:
        parse_trade_bill_zip(buffer.getvalue()[:40])
    assert caught.value.code == "bill_unreadable"
