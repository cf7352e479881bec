import pytest

from app.config import ConfigError, Secret, Settings, load_settings


def test_environment_overrides_file_values(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("[service]\nport = 9000\n[rate_limits]\nlogin_per_ip = 7\n")
    settings = load_settings(config, env={"APP_SERVICE_PORT": "9100", "APP_RATE_LIMITS_LOGIN_PER_OPENID": "3"})
    assert settings.service.port == 9100
    assert settings.rate_limits.login_per_ip == 7
    assert settings.rate_limits.login_per_openid == 3


def test_invalid_values_fail_fast(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("[service]\nport = 'eighty'\n")
    with pytest.raises(ConfigError, match=r"service\.port"):
        load_settings(config, env={})
    config.write_text("[service]\nprot = 80\n")
    with pytest.raises(ConfigError, match="unknown setting"):
        load_settings(config, env={})


def test_secrets_are_masked_in_repr():
    settings = load_settings(env={"APP_WECHAT_SECRET": "super-secret-value"})
    assert settings.wechat.secret.reveal() == "super-secret-value"
    assert "super-secret-value" not in repr(settings)
    assert "super-secret-value" not in str(settings.wechat.secret)
    assert repr(Secret("x")) == "Secret('**********')"


def test_several_workers_need_redis_and_postgres():
    with pytest.raises(ConfigError, match="Redis"):
        load_settings(env={"APP_SERVICE_WORKERS": "2"})
    with pytest.raises(ConfigError, match="PostgreSQL"):
        load_settings(env={"APP_SERVICE_WORKERS": "2", "APP_REDIS_URL": "redis://127.0.0.1:6379/0"})


def test_production_refuses_sandbox_defaults(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load_settings(env={"APP_SERVICE_ENVIRONMENT": "production"})
    message = str(exc.value)
    for problem in ("sandbox is enabled", "field_encryption_key", "blind_index_key", "wechat.secret", "jwt_keys_dir"):
        assert problem in message


def test_production_starts_with_real_secrets_and_keys(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    key = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "prod-1.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    env = {
        "APP_SERVICE_ENVIRONMENT": "production",
        "APP_SANDBOX_ENABLED": "false",
        "APP_SECURITY_FIELD_ENCRYPTION_KEY": "cHJvZHVjdGlvbi1maWVsZC1rZXktMzItYnl0ZXMtbG9uZyE=",
        "APP_SECURITY_BLIND_INDEX_KEY": "cHJvZHVjdGlvbi1ibGluZC1pbmRleC1rZXktMzItYnl0ZXMh",
        "APP_SECURITY_JWT_KEYS_DIR": str(tmp_path),
        "APP_WECHAT_SECRET": "a-real-app-secret",
        "APP_WECHAT_API_BASE": "https://api.weixin.qq.com",
        "APP_LICENCES_KEYS_DIR": str(tmp_path / "licence-keys"),
        "APP_PAYMENTS_TRAFFIC_SECRET": "traffic-production-secret",
        "APP_PAYMENTS_TRAFFIC_BASE_URL": "https://traffic.example.gov.cn",
        "APP_PAYMENTS_TAX_SECRET": "tax-production-secret",
        "APP_PAYMENTS_TAX_BASE_URL": "https://tax.example.gov.cn",
        "APP_WECHATPAY_BASE_URL": "https://api.mch.weixin.qq.com",
        "APP_WECHATPAY_APIV3_KEY": "0123456789abcdef0123456789abcdef",
        "APP_WECHATPAY_MERCHANT_PRIVATE_KEY": pem,
        "APP_ALIPAY_GATEWAY_URL": "https://openapi.alipay.com/gateway.do",
        "APP_ALIPAY_APP_PRIVATE_KEY": pem,
    }
    settings = load_settings(env=env)
    assert settings.service.is_production


def test_short_keys_rejected():
    with pytest.raises(ConfigError, match="field_encryption_key"):
        load_settings(env={"APP_SECURITY_FIELD_ENCRYPTION_KEY": "c2hvcnQ="})


def test_defaults_build():
    assert isinstance(Settings(), Settings)


def test_operator_lockout_settings_have_defaults_and_are_checked():
    limits = load_settings(env={}).rate_limits
    assert (limits.operator_login_per_username, limits.operator_login_per_ip) == (5, 20)
    assert (limits.operator_failure_window_seconds, limits.operator_lockout_seconds) == (900, 900)
    with pytest.raises(ConfigError, match="rate_limits"):
        load_settings(env={"APP_RATE_LIMITS_OPERATOR_LOCKOUT_SECONDS": "0"})
