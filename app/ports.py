"""Small protocols for every outside party.

Services depend on these, never on an adapter. Each port has a production adapter in
app/adapters/ that reaches the party (or its in-project sandbox) by base URL, and tests use
either the sandbox or a fake from tests/fakes.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from app.lc1.trust_list import TrustList
    from app.lc1.verifier import VerificationResult


# --------------------------------------------------------------------------- time and cache
class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class Cache(Protocol):
    """The small slice of Redis the service uses (Redis, or the in-process stand-in)."""

    async def get(self, key: str) -> bytes | None: ...

    async def get_many(self, *keys: str) -> list[bytes | None]:
        """Several values in one round trip, in the order asked."""
        ...

    async def set(
        self, key: str, value: bytes | str, *, ttl: float | None = None, only_if_absent: bool = False
    ) -> bool:
        """Store a value; with only_if_absent, returns False when the key already existed."""
        ...

    async def claim_many(self, claims: Sequence[tuple[str, float]]) -> list[bool]:
        """Create each (key, ttl) that does not exist yet, in one atomic step; True for each key
        this call created (a replay guard: the first claim of a nonce wins, across workers)."""
        ...

    async def delete(self, *keys: str) -> int: ...

    async def incr(self, key: str, *, ttl: float) -> int:
        """Increment a counter, starting its time-to-live when the counter is created."""
        ...

    async def ttl(self, key: str) -> float:
        """Seconds left to live; -1 when the key has no expiry, -2 when it does not exist."""
        ...

    async def ping(self) -> bool: ...


# --------------------------------------------------------------------------- QR rendering
class QrRenderer(Protocol):
    """Renders a QR presentation payload (CPU work: call through asyncio.to_thread)."""

    def png(self, payload: str, *, scale: int = 4, border: int = 4) -> bytes: ...

    def svg(self, payload: str, *, scale: int = 4, border: int = 4) -> str: ...


# --------------------------------------------------------------------------- LC1 presentations
class PresentationVerifier(Protocol):
    """Checks LC1 codes against a trust list (app.lc1.verifier.verify), possibly off the event loop."""

    async def verify(self, payload: str, trust_list: TrustList, now: datetime, *, skew: int) -> VerificationResult:
        """Exactly what app.lc1.verifier.verify answers for the same arguments."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


# --------------------------------------------------------------------------- WeChat
@dataclass(frozen=True)
class WeChatSession:
    openid: str
    session_key: str
    unionid: str | None = None


@dataclass(frozen=True)
class FaceCheckResult:
    verify_ret: int

    @property
    def passed(self) -> bool:
        return self.verify_ret == 10000


class WeChatError(Exception):
    """WeChat answered with an errcode (or did not answer: errcode -1)."""

    def __init__(self, errcode: int | None, errmsg: str = ""):
        super().__init__(f"{errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


class WeChatAnswerInvalid(WeChatError):
    """Something at WeChat's address answered, but not as WeChat does (not JSON, not an object,
    a field missing or of the wrong type): no errcode. `errmsg` names what was wrong, never a
    value (values may be personal data)."""

    def __init__(self, errmsg: str):
        super().__init__(None, errmsg)


class WeChatMiniProgram(Protocol):
    """The mini-program server APIs (api.weixin.qq.com or its sandbox)."""

    async def code_to_session(self, code: str) -> WeChatSession: ...

    async def get_phone_number(self, code: str) -> str:
        """The pure phone number behind a getPhoneNumber code."""
        ...

    async def face_get_verify_id(self, *, out_seq_no: str, cert_name: str, cert_no: str, openid: str) -> str: ...

    async def face_query_verify_info(
        self, *, verify_id: str, out_seq_no: str, cert_hash: str, openid: str
    ) -> FaceCheckResult: ...

    async def send_subscribe_message(
        self, *, openid: str, template_id: str, data: Mapping[str, str], page: str | None = None
    ) -> None: ...


# --------------------------------------------------------------------------- payment channels
ChannelName = Literal["wechatpay", "alipay"]


@dataclass(frozen=True)
class ChannelOrder:
    """What we ask a channel to open for one of our payment orders."""

    order_no: str
    amount: int  # fen
    description: str
    expires_at: datetime
    payer_openid: str | None = None  # WeChat Pay JSAPI needs the payer's openid


@dataclass(frozen=True)
class ChannelTransaction:
    """The channel's view of one order, from a query or a verified notify."""

    order_no: str
    state: Literal["unpaid", "paid", "closed", "refunded", "failed"]
    amount: int  # fen, as the channel reports it
    channel_txn_id: str | None = None
    paid_at: datetime | None = None
    raw_state: str = ""
    app_id: str | None = None  # appid / app_id the channel reports, checked against ours
    merchant_id: str | None = None  # mchid / seller_id the channel reports, checked against ours


@dataclass(frozen=True)
class ChannelRefund:
    refund_no: str
    order_no: str
    state: Literal["processing", "succeeded", "failed"]
    # fen of this refund; from an Alipay refund notify it is the trade's cumulative refund_fee,
    # which equals this refund's amount only for the first refund of an order
    amount: int
    channel_refund_id: str | None = None
    total: int | None = None  # fen of the whole payment, when the channel states it (checked against ours)
    # A failed refund: the channel's own code (WeChat Pay error code or refund status, Alipay
    # sub_code) and message, as far as the channel gave them.
    failure_code: str | None = None
    failure_message: str | None = None


@dataclass(frozen=True)
class ChannelNotify:
    """A notify that passed signature verification and decryption."""

    event_id: str
    kind: Literal["payment", "refund"]
    transaction: ChannelTransaction | None = None
    refund: ChannelRefund | None = None


@dataclass(frozen=True)
class ChannelBillRow:
    """One line of a channel's daily bill."""

    order_no: str
    channel_txn_id: str
    kind: Literal["payment", "refund"]
    amount: int  # fen
    occurred_at: datetime
    refund_no: str | None = None


@dataclass(frozen=True)
class NotifyAnswer:
    """What the channel expects back from our notify endpoint."""

    status: int
    body: bytes
    content_type: str


class PaymentChannel(Protocol):
    name: ChannelName

    async def create(self, order: ChannelOrder) -> dict[str, Any]:
        """Open the order at the channel; returns what the mini-program needs to pay."""
        ...

    async def query(self, order_no: str) -> ChannelTransaction: ...

    async def close(self, order_no: str) -> None:
        """Close an unpaid order; raises ChannelOrderAlreadyPaid if the channel says it is paid."""
        ...

    async def refund(self, *, order_no: str, refund_no: str, amount: int, total: int, reason: str) -> ChannelRefund: ...

    async def query_refund(self, *, order_no: str, refund_no: str) -> ChannelRefund: ...

    def verify_notify(self, headers: Mapping[str, str], body: bytes) -> ChannelNotify:
        """Verify signature (and decrypt); raises NotifyRejected with a reason otherwise."""
        ...

    def answer_notify(self, *, accepted: bool) -> NotifyAnswer: ...

    async def download_bill(self, day: date) -> list[ChannelBillRow]: ...


class ChannelError(Exception):
    """A channel call failed; `retryable` says whether the outcome may still change.

    Codes the channel adapters use. Retryable (the call may or may not have taken effect):
    channel_timeout, channel_unreachable, channel_unavailable (5xx / system busy),
    channel_bad_signature (an answer we cannot trust), channel_bad_response, bill_hash_mismatch,
    bill_unreadable. Final: order_not_found, order_no_used (same number, other content),
    order_closed, order_paid (ChannelOrderAlreadyPaid), refund_exceeds_paid, payer_required,
    channel_auth_failed (our signature or clock), channel_misconfigured, channel_rejected,
    bill_unavailable.
    """

    def __init__(
        self, message: str, *, code: str = "channel_error", retryable: bool = True,
        channel_code: str | None = None, channel_message: str | None = None,
    ):
        super().__init__(message)
        self.code = code
        self.retryable = retryable
        # What the channel itself answered (WeChat Pay `code`/`message`, Alipay `sub_code`/`sub_msg`),
        # when it answered at all: operators read it on a refused refund.
        self.channel_code = channel_code
        self.channel_message = channel_message


class ChannelOrderAlreadyPaid(ChannelError):
    def __init__(self, message: str = "the channel reports the order as paid"):
        super().__init__(message, code="order_paid", retryable=False)


class NotifyRejected(Exception):
    """reason: missing_signature_headers, missing_signature, signtest_probe, stale_timestamp,
    unknown_serial, bad_signature, unsupported_signature_type, unsupported_algorithm,
    decryption_failed, malformed_body, app_mismatch, merchant_mismatch, unsupported_event."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# --------------------------------------------------------------------------- billing agencies
BillType = Literal["fine", "tax", "fee"]


@dataclass(frozen=True)
class AgencyBill:
    """An amount owed, as the billing agency states it right now."""

    bill_type: BillType
    bill_ref: str
    agency: str
    description: str
    payer_name_masked: str
    principal: int  # fen
    late_fee: int  # fen
    due_date: date | None
    status: Literal["unpaid", "paid", "cancelled"]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def amount_due(self) -> int:
        return self.principal + self.late_fee


@dataclass(frozen=True)
class AgencyReceipt:
    """The agency's acknowledgement of a settlement, with its electronic receipt."""

    settlement_id: str
    receipt_no: str
    receipt: dict[str, Any]


@dataclass(frozen=True)
class AgencySettlementRecord:
    """One settlement as the agency's own books hold it (for reconciliation)."""

    settlement_id: str
    bill_ref: str
    amount: int  # fen
    paid_at: datetime
    channel: str
    channel_txn_id: str
    reversal_id: str | None = None  # set once the agency reversed this settlement


@dataclass(frozen=True)
class AgencyReversal:
    """The agency's acknowledgement that a settlement is reversed (冲正): the bill is unpaid again."""

    reversal_id: str
    settlement_id: str
    amount: int  # fen
    reversed_at: datetime
    voided_receipt_no: str | None = None  # the receipt the agency cancelled (冲红)


class AgencyError(Exception):
    def __init__(self, message: str, *, code: str = "agency_error", retryable: bool = True):
        super().__init__(message)
        self.code = code
        self.retryable = retryable


class BillingAgency(Protocol):
    name: str

    async def lookup(self, bill_ref: str, *, second_factor: str | None = None) -> AgencyBill:
        """Raises AgencyError(code='bill_not_found', retryable=False) when unknown."""
        ...

    async def settle(
        self,
        *,
        settlement_id: str,
        bill_ref: str,
        amount: int,
        paid_at: datetime,
        channel: str,
        channel_txn_id: str,
    ) -> AgencyReceipt:
        """Idempotent by settlement_id: a repeat returns the first receipt."""
        ...

    async def reverse_settlement(
        self, *, reversal_id: str, settlement_id: str, bill_ref: str, amount: int, reason: str
    ) -> AgencyReversal:
        """Undo a settlement as a whole, so the bill is owed again; idempotent by reversal_id.

        Final refusals raise AgencyError(retryable=False): reversal_not_allowed (the agency no
        longer lets this settlement be undone), settlement_not_found, settlement_already_reversed
        (under another reversal id), reversal_amount_mismatch, reversal_id_reused, invalid_reversal.
        """
        ...

    async def settlements_on(self, day: date) -> list[AgencySettlementRecord]:
        """The settlements the agency booked for payments made on `day` (Asia/Shanghai)."""
        ...
