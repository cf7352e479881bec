"""Settings: config.toml, then environment overrides, into frozen dataclasses; validated at start.

Every key `[section] key` can be overridden by the environment variable APP_<SECTION>_<KEY>
(upper case), e.g. APP_DATABASE_URL or APP_SECURITY_FIELD_ENCRYPTION_KEY. The file itself is
./config.toml unless APP_CONFIG names another. Secrets are `Secret` values: their repr is masked,
so printing or logging settings never shows them.
"""

from __future__ import annotations

import base64
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SANDBOX_CERTS = PROJECT_ROOT / "certs" / "sandbox"


class Secret:
    """A secret string whose repr and str are masked; call reveal() where it is really needed."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')" if self._value else "Secret('')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


def project_path(path: str) -> Path:
    """A configured path: absolute as given, relative to the project root otherwise."""
    candidate = Path(path)
    return candidate if candidate.is_absolute() else PROJECT_ROOT / candidate


class ConfigError(Exception):
    """The configuration is invalid; the service refuses to start."""


# Well-known sandbox values. Production refuses to start while any of them is in use.
SANDBOX_FIELD_KEY = "c2FuZGJveC1maWVsZC1lbmNyeXB0aW9uLWtleS0wMDE="
SANDBOX_BLIND_INDEX_KEY = "c2FuZGJveC1ibGluZC1pbmRleC1obWFjLWtleS0wMDAx"
SANDBOX_WECHAT_SECRET = "sandbox-wechat-app-secret-000001"
SANDBOX_TRAFFIC_SECRET = "sandbox-traffic-agency-secret-01"
SANDBOX_TAX_SECRET = "sandbox-tax-agency-secret-000001"
SANDBOX_WECHATPAY_APIV3_KEY = "sandboxApiV3Key0123456789abcdefX"


@dataclass(frozen=True)
class ServiceSettings:
    environment: str = "development"  # "production" turns on the hard start-up checks
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    # Where outside parties (channel notifies) reach us; defaults to http://127.0.0.1:<port>.
    public_base_url: str = ""
    max_body_bytes: int = 1_048_576
    request_timeout: float = 30.0
    graceful_shutdown_timeout: float = 15.0
    # Behind a proxy: the header carrying the client address and how many proxies to trust.
    real_ip_header: str = ""
    proxies_count: int = 0
    log_level: str = "INFO"
    # Tests switch the catch-all 500 renderer off so real bugs show their tracebacks.
    render_unexpected_errors: bool = True

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def self_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return (self.public_base_url or self.self_base_url).rstrip("/")


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = "sqlite://var/app.sqlite3"
    pool_max_size: int = 10

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite://")


@dataclass(frozen=True)
class RedisSettings:
    url: str = ""  # empty: the in-process stand-in (one worker only)
    key_prefix: str = "gov:"


@dataclass(frozen=True)
class SecuritySettings:
    jwt_issuer: str = "https://gov-miniapp.sandbox"
    jwt_audience: str = "gov-miniapp"
    access_token_ttl: int = 600
    refresh_token_ttl: int = 30 * 24 * 3600
    # PEM private keys (*.pem) sign and verify; public keys (*.pub.pem) only verify, for the
    # overlap after a rotation. The key named by jwt_active_kid (file stem) signs.
    jwt_keys_dir: str = str(SANDBOX_CERTS / "jwt")
    jwt_active_kid: str = ""
    field_encryption_key: Secret = field(default_factory=lambda: Secret(SANDBOX_FIELD_KEY))
    blind_index_key: Secret = field(default_factory=lambda: Secret(SANDBOX_BLIND_INDEX_KEY))
    face_window_seconds: int = 600


@dataclass(frozen=True)
class RateLimitSettings:
    window_seconds: int = 60
    login_per_ip: int = 60
    login_per_openid: int = 10
    face_start_per_ip: int = 20
    face_start_per_openid: int = 5
    phone_per_ip: int = 20
    phone_per_openid: int = 5
    # Operator logins: only failures count. This many failures for one username (or from one
    # address) within operator_failure_window_seconds lock it out for operator_lockout_seconds.
    operator_login_per_username: int = 5
    operator_login_per_ip: int = 20
    operator_failure_window_seconds: int = 900
    operator_lockout_seconds: int = 900


@dataclass(frozen=True)
class WeChatSettings:
    appid: str = "wxsandbox00000001"
    secret: Secret = field(default_factory=lambda: Secret(SANDBOX_WECHAT_SECRET))
    api_base: str = ""  # empty with the sandbox on: the in-process WeChat sandbox
    timeout: float = 5.0
    template_licence_checked: str = "TPL_LICENCE_CHECKED"
    template_payment_receipt: str = "TPL_PAYMENT_RECEIPT"


@dataclass(frozen=True)
class SandboxSettings:
    enabled: bool = True
    # Which parties to mount (wechat, wechatpay, alipay, traffic, tax, licence-feed); empty: all.
    parties: tuple[str, ...] = ()
    # Seconds of a channel's retry schedule per real second: tests compress time.
    time_compression: float = 1.0


@dataclass(frozen=True)
class CatalogueSettings:
    cache_ttl: int = 300
    index_poll_seconds: float = 1.0  # how often a worker checks for a newer catalogue version
    views_flush_seconds: float = 15.0  # how often view counts reach search ranking and the database


@dataclass(frozen=True)
class LicenceSettings:
    presentation_ttl: int = 90  # seconds a QR presentation lives; at most 90
    refresh_after: int = 30  # the mini-program fetches a new presentation this often
    clock_skew: int = 60  # seconds of clock difference inspections tolerate
    # Issuer and trust-list keys: a secrets mount with <name>.key.pem and <name>.cert.pem, and/or
    # PEM private keys in APP_LICENCES_PRIVATE_KEYS_PEM. The sandbox keys are for development only.
    keys_dir: str = str(SANDBOX_CERTS / "licences")
    private_keys_pem: Secret = field(default_factory=lambda: Secret(""))
    trust_list_certificate: str = str(SANDBOX_CERTS / "licences" / "trust-list-2026.cert.pem")
    trust_list_ttl: int = 86_400  # how long an offline verifier may use a fetched list
    trust_list_cache_seconds: int = 30
    # Presentations live 90 s, so only recent revocations can still matter to a verifier.
    revocation_window_days: int = 7
    # At most one "your licence was checked" message per licence in this many seconds: each
    # uses up a subscribe credit, and the usage log lists every check anyway.
    notify_interval_seconds: int = 600
    # Check presentation codes (ES256 and decoding, ~150-250 µs each) in a helper process beside
    # each worker, in batches, so the event loop is not held up; false checks them on the loop.
    verify_in_helper_process: bool = True


@dataclass(frozen=True)
class PaymentSettings:
    order_ttl: int = 900
    idempotency_ttl: int = 86_400
    # Run the settlement/poll/refund worker inside the service; `python -m app worker` runs more.
    in_process_worker: bool = True
    worker_interval: float = 1.0
    worker_batch: int = 50
    claim_lease: float = 60.0  # seconds a claimed job stays invisible to other workers
    settlement_retry_delays: tuple[float, ...] = (5, 15, 30, 60, 120, 300, 600, 1800, 3600)
    # Asking the channel about an order that got no notify (WeChat: after at most a minute).
    poll_delays: tuple[float, ...] = (60, 120, 300, 600)
    created_grace: float = 60.0  # an order stuck in `created` this long is resolved by query
    reconcile_at: str = "10:30"  # Asia/Shanghai, the day after
    agency_timeout: float = 5.0
    traffic_base_url: str = ""  # empty with the sandbox on: the in-process sandbox
    traffic_client_id: str = "gov-relay"
    traffic_secret: Secret = field(default_factory=lambda: Secret(SANDBOX_TRAFFIC_SECRET))
    traffic_ref_pattern: str = r"^[0-9]{16}$"  # 决定书编号 (ASCII digits: \d would take any script's)
    tax_base_url: str = ""
    tax_client_id: str = "gov-relay"
    tax_secret: Secret = field(default_factory=lambda: Secret(SANDBOX_TAX_SECRET))
    tax_ref_pattern: str = r"^[0-9]{20}$"  # 缴款码 / tax notice number


@dataclass(frozen=True)
class WeChatPaySettings:
    """WeChat Pay API v3 (direct merchant, JSAPI). Keys: PEM text from the environment (e.g.
    APP_WECHATPAY_MERCHANT_PRIVATE_KEY) or, when that is empty, the file at *_path (a secrets mount)."""

    base_url: str = ""  # empty with the sandbox on: the in-process sandbox
    mchid: str = "1900000109"
    appid: str = ""  # empty: the mini-program's wechat.appid
    merchant_serial_no: str = "711D634A826B4DE4D3787E51D72A74F26A41170F"
    merchant_private_key: Secret = field(default_factory=lambda: Secret(""))
    merchant_private_key_path: str = str(SANDBOX_CERTS / "wechatpay" / "merchant_private_key.pem")
    apiv3_key: Secret = field(default_factory=lambda: Secret(SANDBOX_WECHATPAY_APIV3_KEY))
    # Public-key mode (PUB_KEY_ID_...), platform certificates (fetched from /v3/certificates and
    # optionally pre-loaded from files), or both during WeChat's 7-day switch.
    public_key_id: str = "PUB_KEY_ID_0119000001092026112100000000000001"
    public_key_path: str = str(SANDBOX_CERTS / "wechatpay" / "wechatpay_public_key.pem")
    platform_certificate_paths: tuple[str, ...] = ()
    notify_url: str = ""  # empty: <service.base_url>/notify/wechatpay
    timeout: float = 5.0
    notify_max_age: int = 300  # seconds; older Wechatpay-Timestamp values are replays


@dataclass(frozen=True)
class AlipaySettings:
    """Alipay open platform (RSA2, public-key mode). Keys as for WeChat Pay: env text or a file."""

    gateway_url: str = ""  # empty with the sandbox on: the in-process sandbox's /gateway.do
    app_id: str = "2021000000000001"
    seller_id: str = "2088000000000001"  # the merchant PID notifies must name
    app_private_key: Secret = field(default_factory=lambda: Secret(""))
    app_private_key_path: str = str(SANDBOX_CERTS / "alipay" / "app_private_key.pem")
    alipay_public_key: str = ""
    alipay_public_key_path: str = str(SANDBOX_CERTS / "alipay" / "alipay_public_key.pem")
    notify_url: str = ""  # empty: <service.base_url>/notify/alipay
    timeout: float = 5.0


@dataclass(frozen=True)
class Settings:
    service: ServiceSettings = field(default_factory=ServiceSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    redis: RedisSettings = field(default_factory=RedisSettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)
    rate_limits: RateLimitSettings = field(default_factory=RateLimitSettings)
    wechat: WeChatSettings = field(default_factory=WeChatSettings)
    sandbox: SandboxSettings = field(default_factory=SandboxSettings)
    catalogue: CatalogueSettings = field(default_factory=CatalogueSettings)
    licences: LicenceSettings = field(default_factory=LicenceSettings)
    payments: PaymentSettings = field(default_factory=PaymentSettings)
    wechatpay: WeChatPaySettings = field(default_factory=WeChatPaySettings)
    alipay: AlipaySettings = field(default_factory=AlipaySettings)

    def with_overrides(self, **sections: dict[str, Any]) -> Settings:
        """A copy with some keys replaced, e.g. with_overrides(database={"url": ...})."""
        changed = {
            name: _build(type(getattr(self, name)), values, f"{name}.", base=getattr(self, name))
            for name, values in sections.items()
        }
        settings = replace(self, **changed)
        validate(settings)
        return settings

    def sandbox_base(self, party: str) -> str:
        """Base URL of an in-process sandbox party."""
        return f"{self.service.self_base_url}/sandbox/{party}"


def load_settings(path: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    config_path = Path(path or env.get("APP_CONFIG") or PROJECT_ROOT / "config.toml")
    data: dict[str, Any] = {}
    if config_path.exists():
        with config_path.open("rb") as fh:
            data = tomllib.load(fh)
    for name, value in env.items():
        if not name.startswith("APP_") or name == "APP_CONFIG":
            continue
        section, _, key = name[4:].lower().partition("_")
        # Section names may contain underscores (rate_limits): find the longest match.
        for candidate in sorted((f.name for f in fields(Settings)), key=len, reverse=True):
            prefix = candidate + "_"
            if name[4:].lower().startswith(prefix):
                section, key = candidate, name[4 + len(prefix) :].lower()
                break
        data.setdefault(section, {})[key] = value
    settings = _build(Settings, data, "")
    validate(settings)
    return settings


def _build(cls: type, data: dict[str, Any], where: str, base: Any = None) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"[{where.rstrip('.')}] must be a table")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(where + u for u in sorted(unknown))}")
    values: dict[str, Any] = {}
    for f in fields(cls):
        hint = hints[f.name]
        if isinstance(hint, type) and is_dataclass(hint):
            values[f.name] = _build(hint, data.get(f.name, {}), f"{where}{f.name}.", getattr(base, f.name, None))
        elif f.name in data:
            values[f.name] = _coerce(hint, data[f.name], where + f.name)
    if base is not None:
        return replace(base, **values)
    return cls(**values)


def _coerce(hint: Any, value: Any, name: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
        origin = typing.get_origin(hint)
    try:
        if hint is Secret:
            return value if isinstance(value, Secret) else Secret(str(value))
        if hint is bool:
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("1", "true", "yes", "on"):
                return True
            if str(value).lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if hint is int:
            if isinstance(value, bool):
                raise ValueError(value)
            return int(value)
        if hint is float:
            return float(value)
        if hint is str:
            if not isinstance(value, (str, int, float)):
                raise ValueError(value)
            return str(value)
        if origin in (list, tuple):
            items = value if isinstance(value, (list, tuple)) else [v for v in str(value).split(",") if v]
            (item_hint, *_) = typing.get_args(hint) or (str,)
            return tuple(_coerce(item_hint, v, name) for v in items)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: {value!r} is not a valid {getattr(hint, '__name__', hint)}") from None
    return value


def _decoded_key(secret: Secret, name: str, size: int) -> bytes:
    try:
        key = base64.b64decode(secret.reveal(), validate=True)
    except ValueError:
        raise ConfigError(f"{name} must be base64") from None
    if len(key) < size:
        raise ConfigError(f"{name} must decode to at least {size} bytes")
    return key


def validate(settings: Settings) -> None:
    """Fail fast on settings the service cannot run with."""
    service, security = settings.service, settings.security
    if service.environment not in ("development", "test", "production"):
        raise ConfigError("service.environment must be development, test or production")
    if not 0 < service.port < 65536:
        raise ConfigError("service.port must be between 1 and 65535")
    if service.workers < 1:
        raise ConfigError("service.workers must be at least 1")
    if service.workers > 1 and not settings.redis.url:
        raise ConfigError("several workers need Redis: set redis.url (APP_REDIS_URL)")
    if service.workers > 1 and settings.database.is_sqlite:
        raise ConfigError("several workers need PostgreSQL: set database.url (APP_DATABASE_URL)")
    if service.max_body_bytes < 1024:
        raise ConfigError("service.max_body_bytes must be at least 1024")
    if security.access_token_ttl <= 0 or security.refresh_token_ttl <= security.access_token_ttl:
        raise ConfigError("token lifetimes must be positive, refresh longer than access")
    _decoded_key(security.field_encryption_key, "security.field_encryption_key", 32)
    _decoded_key(security.blind_index_key, "security.blind_index_key", 32)
    if not 0 < settings.licences.refresh_after < settings.licences.presentation_ttl <= 90:
        raise ConfigError("licences: need 0 < refresh_after < presentation_ttl <= 90")
    if any(getattr(settings.rate_limits, f.name) < 1 for f in fields(settings.rate_limits)):
        raise ConfigError("rate_limits: every limit and window must be at least 1")
    if settings.licences.notify_interval_seconds < 1 or settings.licences.trust_list_cache_seconds < 1:
        raise ConfigError("licences: notify_interval_seconds and trust_list_cache_seconds must be at least 1")
    if service.is_production:
        _validate_production(settings)


def _validate_production(settings: Settings) -> None:
    problems = []
    if settings.sandbox.enabled:
        problems.append("the sandbox is enabled")
    if settings.security.field_encryption_key.reveal() == SANDBOX_FIELD_KEY:
        problems.append("security.field_encryption_key is the sandbox default")
    if settings.security.blind_index_key.reveal() == SANDBOX_BLIND_INDEX_KEY:
        problems.append("security.blind_index_key is the sandbox default")
    if settings.wechat.secret.reveal() in ("", SANDBOX_WECHAT_SECRET):
        problems.append("wechat.secret is missing or the sandbox default")
    if not settings.wechat.api_base:
        problems.append("wechat.api_base is not set")
    keys_dir = project_path(settings.security.jwt_keys_dir)
    if keys_dir.resolve().is_relative_to(SANDBOX_CERTS.resolve()):
        problems.append("security.jwt_keys_dir points at the sandbox keys")
    elif not any(keys_dir.glob("*.pem")) if keys_dir.exists() else True:
        problems.append("security.jwt_keys_dir holds no signing key")
    licence_keys = project_path(settings.licences.keys_dir)
    if licence_keys.resolve().is_relative_to(SANDBOX_CERTS.resolve()):
        problems.append("licences.keys_dir points at the sandbox keys")
    payments = settings.payments
    if payments.traffic_secret.reveal() in ("", SANDBOX_TRAFFIC_SECRET) or not payments.traffic_base_url:
        problems.append("payments.traffic_secret / traffic_base_url are missing or the sandbox default")
    if payments.tax_secret.reveal() in ("", SANDBOX_TAX_SECRET) or not payments.tax_base_url:
        problems.append("payments.tax_secret / tax_base_url are missing or the sandbox default")
    sandbox_keys = SANDBOX_CERTS.resolve()
    wechatpay, alipay = settings.wechatpay, settings.alipay
    if not wechatpay.base_url or wechatpay.apiv3_key.reveal() in ("", SANDBOX_WECHATPAY_APIV3_KEY):
        problems.append("wechatpay.base_url / apiv3_key are missing or the sandbox default")
    if not alipay.gateway_url:
        problems.append("alipay.gateway_url is not set")
    for name, text, path in (
        ("wechatpay.merchant_private_key", wechatpay.merchant_private_key, wechatpay.merchant_private_key_path),
        ("alipay.app_private_key", alipay.app_private_key, alipay.app_private_key_path),
    ):
        if not text and (PROJECT_ROOT / path).resolve().is_relative_to(sandbox_keys):
            problems.append(f"{name} is the sandbox key")
    if problems:
        raise ConfigError("production refuses to start: " + "; ".join(problems))
