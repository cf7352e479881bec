"""WeChat Pay v3 crypto and parsing, against known vectors and the real key files."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.adapters._paycrypto import (
    CryptoError,
    aes_gcm_decrypt,
    aes_gcm_encrypt,
    certificate_serial,
    fen_to_yuan,
    load_certificate,
    load_private_key,
    parse_wechatpay_authorization,
    rsa_sign,
    rsa_verify,
    wechatpay_authorization,
    wechatpay_pay_sign_message,
    wechatpay_request_message,
    wechatpay_response_message,
    yuan_to_fen,
)
from app.adapters.wechatpay import parse_trade_bill, truncate_utf8
from app.ports import ChannelError
from app.sandbox.wechatpay import CERTS

# The vector in /work/shared/reference/wechat-api.md §2.5.
VECTOR_KEY = "0123456789abcdef0123456789abcdef"
VECTOR_NONCE = "abcdefghijkl"
VECTOR_CIPHERTEXT = "Eu6myr+6GaECeJdOZPZ6BX5lij2Vohspf9pbw6Eor54J6prefQGx4A8pw4JzQ/lkgFh/UIp8nXF6h6aOBw=="
VECTOR_PLAINTEXT = b'{"out_trade_no":"T1","trade_state":"SUCCESS"}'


def test_aes_gcm_matches_the_reference_vector():
    assert aes_gcm_encrypt(VECTOR_KEY, VECTOR_NONCE, VECTOR_PLAINTEXT, "transaction") == VECTOR_CIPHERTEXT
    assert aes_gcm_decrypt(VECTOR_KEY, VECTOR_NONCE, VECTOR_CIPHERTEXT, "transaction") == VECTOR_PLAINTEXT


@pytest.mark.parametrize(
    ("key", "nonce", "aad"),
    [
        ("0123456789abcdef0123456789abcdeX", VECTOR_NONCE, "transaction"),  # another APIv3 key
        (VECTOR_KEY, "abcdefghijkX", "transaction"),
        (VECTOR_KEY, VECTOR_NONCE, "refund"),  # associated data is authenticated too
    ],
)
def test_aes_gcm_refuses_anything_but_the_exact_key_nonce_and_aad(key, nonce, aad):
    with pytest.raises(CryptoError):
        aes_gcm_decrypt(key, nonce, VECTOR_CIPHERTEXT, aad)


def test_aes_gcm_refuses_a_key_of_the_wrong_length():
    with pytest.raises(CryptoError):
        aes_gcm_decrypt("short", VECTOR_NONCE, VECTOR_CIPHERTEXT, "transaction")


def test_request_message_is_five_lines_over_raw_body_bytes():
    body = b'{"a": 1}'
    message = wechatpay_request_message("post", "/v3/x?y=1", "1554208460", "N1", body)
    assert message == b'POST\n/v3/x?y=1\n1554208460\nN1\n{"a": 1}\n'
    assert wechatpay_response_message("1", "N", b"") == b"1\nN\n\n"
    assert wechatpay_pay_sign_message("wx1", "2", "n", "prepay_id=p") == b"wx1\n2\nn\nprepay_id=p\n"


def test_authorization_header_round_trip_verifies_with_the_merchant_certificate():
    key = load_private_key((CERTS / "merchant_private_key.pem").read_text())
    certificate = load_certificate((CERTS / "merchant_cert.pem").read_text())
    header = wechatpay_authorization(
        mchid="1900000109", serial_no=certificate_serial(certificate), private_key=key, method="GET",
        url="/v3/certificates", timestamp="1700000000", nonce="ABC", body=b"",
    )
    parts = parse_wechatpay_authorization(header)
    assert parts["mchid"] == "1900000109" and parts["serial_no"] == certificate_serial(certificate)
    message = wechatpay_request_message("GET", "/v3/certificates", parts["timestamp"], parts["nonce_str"], b"")
    assert rsa_verify(certificate.public_key(), message, parts["signature"])
    assert not rsa_verify(certificate.public_key(), message.replace(b"GET", b"PUT"), parts["signature"])
    assert parse_wechatpay_authorization("Bearer abc") == {}


def test_rsa_verify_rejects_garbage_and_another_key():
    merchant = load_private_key((CERTS / "merchant_private_key.pem").read_text())
    platform = load_certificate((CERTS / "platform_cert.pem").read_text())
    signature = rsa_sign(merchant, b"hello")
    assert not rsa_verify(platform.public_key(), b"hello", signature)
    assert not rsa_verify(platform.public_key(), b"hello", "WECHATPAY/SIGNTEST/abc")


@pytest.mark.parametrize(("yuan", "fen"), [("0.01", 1), ("123.45", 12345), ("`10.00", 1000), ("-3.20", -320)])
def test_yuan_and_fen_convert_exactly(yuan, fen):
    assert yuan_to_fen(yuan) == fen
    assert fen_to_yuan(fen) == yuan.lstrip("`")


def test_yuan_with_fractions_of_a_fen_is_refused():
    with pytest.raises(ValueError):
        yuan_to_fen("1.005")
    with pytest.raises(ValueError):
        yuan_to_fen("abc")


BILL = (
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,"
    "应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,"
    "手续费,费率,订单金额,申请退款金额,费率备注\r\n"
    "`2026-11-20 23:59:59,`wx1,`1900000109,`0,`,`4200001,`P001,`o1,`JSAPI,`SUCCESS,`OTHERS,`CNY,`200.00,`0.00,"
    "`0,`0,`0.00,`0.00,`,`,`罚款,`,`0.00000,`0.60%,`200.00,`0.00,`\r\n"
    "`2026-11-20 10:00:00,`wx1,`1900000109,`0,`,`4200002,`P002,`o1,`JSAPI,`REFUND,`OTHERS,`CNY,`0.00,`0.00,"
    "`5001,`R001,`12.34,`0.00,`ORIGINAL,`SUCCESS,`罚款,`,`0.00000,`0.60%,`0.00,`12.34,`\r\n"
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\r\n"
    "`2,`200.00,`12.34,`0.00,`0.00000,`200.00,`12.34\r\n"
)


def test_trade_bill_parses_yuan_into_fen_and_beijing_time_into_utc():
    payment, refund = parse_trade_bill(BILL)
    assert (payment.order_no, payment.kind, payment.amount) == ("P001", "payment", 20000)
    assert payment.occurred_at == datetime(2026, 11, 20, 15, 59, 59, tzinfo=UTC)
    assert (refund.kind, refund.amount, refund.refund_no, refund.channel_txn_id) == ("refund", 1234, "R001", "4200002")


def test_trade_bill_whose_summary_disagrees_is_refused():
    with pytest.raises(ChannelError) as caught:
        parse_trade_bill(BILL.replace("`2,`200.00", "`3,`200.00"))
    assert caught.value.code == "bill_unreadable"


def test_trade_bill_with_a_bad_amount_is_refused():
    with pytest.raises(ChannelError):
        parse_trade_bill(BILL.replace("`200.00,`0.00,`\r\n", "`2x0.00,`0.00,`\r\n", 1))


def test_descriptions_are_cut_to_127_utf8_bytes_on_a_character_boundary():
    cut = truncate_utf8("交通违法罚款" * 20, 127)
    assert len(cut.encode()) <= 127 and cut == "交通违法罚款" * 7
    assert truncate_utf8("fine", 127) == "fine"
