'use strict';
// The one module that calls the backend: bearer token, silent login and refresh, one retry
// after a refresh, and the table that turns every stable error code into a message for people.
const config = require('../config');
const http = require('./http');
const session = require('./session');
const platform = require('./platform');

// Stable error codes from the backend (error.code) and from the phone (ClientError.code).
// tests/error-codes.test.js checks that every code raised under app/ and handlers/ is here.
const ERROR_MESSAGES = {
  // Requests
  bad_request: '请求有误，请更新小程序后重试',
  validation_failed: '填写的信息有误，请检查后重试',
  invalid_json: '请求格式有误，请更新小程序后重试',
  unsupported_media_type: '请求类型有误，请更新小程序后重试',
  body_too_large: '提交的内容过大，请精简后重试',
  request_head_too_large: '请求地址或请求头过长，请精简后重试',
  method_not_allowed: '暂不支持此操作',
  not_found: '未找到相关内容',
  conflict: '数据已被他人修改，请刷新后重试',
  rate_limited: '操作过于频繁，请稍后再试',
  // Sign-in and identity
  unauthorized: '请先登录',
  token_expired: '登录已过期，请重新进入小程序',
  token_invalid: '登录状态无效，请重新进入小程序',
  refresh_token_reused: '账号在别处登录，已为您退出，请重新进入小程序',
  invalid_credentials: '用户名或密码错误',
  login_blocked: '该微信账号暂时无法登录，请稍后再试',
  forbidden: '您没有权限进行此操作',
  user_not_found: '未找到该用户',
  code_invalid: '微信授权已失效，请重试',
  code_used: '微信授权已使用，请重试',
  realname_required: '请先完成实名认证',
  realname_already_bound: '您已完成实名认证，无需重复认证',
  name_invalid: '姓名格式有误，请核对',
  id_number_invalid: '身份证号码有误，请核对后重新输入',
  id_number_taken: '该身份证号码已绑定其他微信账号',
  face_verification_required: '为保护您的信息安全，请先完成人脸核身',
  verify_id_invalid: '人脸核身请求无效，请重新开始',
  verify_id_expired: '人脸核身已超时，请重新开始',
  verify_id_used: '该次人脸核身已使用，请重新开始',
  face_not_completed: '人脸核身尚未完成，请完成后再试',
  face_failed: '人脸核身未通过，请确认是本人操作后重试',
  // Enterprises
  credit_code_invalid: '统一社会信用代码有误，请核对',
  enterprise_exists: '该企业已登记',
  // Catalogue
  service_not_found: '未找到该服务事项，可能已下架',
  zone_not_found: '未找到该专区，可能已下线',
  bundle_not_found: '未找到该“一件事”，可能已下线',
  unknown_region: '暂不支持该地区',
  unknown_audience: '服务对象有误',
  unknown_department: '未找到该部门',
  search_query_empty: '请输入要搜索的内容',
  search_query_too_long: '搜索内容过长，请精简后再试',
  search_query_invalid: '搜索内容包含无法识别的字符，请修改后再试',
  revision_conflict: '内容已被他人修改，请刷新后重试',
  already_exists: '该编码已存在',
  invalid_entries: '专区条目有误',
  import_rejected: '导入内容有错误，未导入任何数据',
  import_unreadable: '导入文件无法读取，请检查格式',
  // Licences
  licence_not_found: '未找到该证照',
  licence_not_active: '该证照当前不可用（已暂停、吊销或过期）',
  licence_invalid: '证照信息有误',
  licence_conflict: '该证照编号已存在且内容不同',
  licence_type_not_found: '未找到该证照类型',
  licence_type_code_invalid: '证照类型代码有误（应为21位数字或大写字母）',
  identifier_invalid: '证照标识有误',
  issuer_not_found: '未找到发证机构',
  issuer_key_not_found: '未找到该发证机构密钥',
  issuer_not_allowed: '该机构无权签发此类证照',
  certificate_invalid: '发证机构证书无效',
  signing_key_unavailable: '亮证服务暂时不可用，请稍后再试',
  payload_invalid: '亮证码无效，请刷新后重试',
  transition_not_allowed: '证照当前状态不允许此操作',
  consent_not_found: '授权不存在或已失效',
  consent_not_withdrawable: '该授权已被使用或已撤回，无法再撤回',
  feed_rejected: '发证数据被拒绝',
  // Payments
  invalid_bill_ref: '缴款编号格式有误，请核对',
  bill_not_found: '未查询到待缴账单，请核对填写的信息',
  bill_not_payable: '该账单无需缴纳（已缴清或已撤销）',
  bill_being_paid: '该账单已缴纳或正在缴纳，请勿重复支付',
  bill_already_paid: '该账单已缴纳，无需重复支付',
  unknown_channel: '暂不支持该支付方式',
  idempotency_key_required: '支付请求缺少编号，请返回重新发起支付',
  idempotency_key_reused: '支付请求已变更，请返回重新发起支付',
  idempotency_conflict: '支付请求已变更，请返回重新发起支付',
  idempotency_key_in_progress: '支付请求正在处理，请稍候',
  payment_not_found: '未找到该支付订单',
  refund_exceeds_paid: '退款金额超过已支付金额',
  refund_not_allowed: '该订单当前不能退款',
  partial_refund_not_allowed: '已入账的缴费只能全额退款（需先由缴费单位冲正）',
  reversal_not_found: '该订单没有冲正请求',
  reversal_not_pending: '该冲正已不在等待缴费单位答复',
  reconciliation_item_not_found: '未找到该对账差异',
  agency_unavailable: '缴费单位系统暂时不可用，请稍后再试',
  channel_unavailable: '支付渠道暂时不可用，请稍后再试',
  channel_refused: '支付渠道拒绝了本次支付，请稍后再试',
  channel_unreachable: '支付渠道连接失败，请稍后再试',
  // Our side or a partner's
  upstream_unavailable: '合作方系统暂时不可用，请稍后再试',
  upstream_error: '合作方系统返回错误，请稍后再试',
  service_unavailable: '系统维护中，请稍后再试',
  request_timeout: '请求超时，请检查网络后重试',
  length_required: '请求格式有误，请更新小程序后重试',
  store_unavailable: '系统繁忙，请稍后重试',
  internal_error: '系统繁忙，请稍后再试',
  // Raised on the phone, not by the backend.
  network_error: '网络连接失败，请检查网络后重试',
  wx_login_failed: '微信登录失败，请稍后重试',
  face_cancelled: '已取消人脸核身',
  payment_cancelled: '已取消支付',
  sandbox_failed: '模拟环境调用失败，请稍后再试',
};

const FALLBACK_MESSAGE = '操作失败，请稍后再试';
// Codes whose message is worth a request id, so the help desk can find the log line.
const SHOW_REQUEST_ID = new Set([
  'internal_error', 'service_unavailable', 'store_unavailable', 'upstream_error', 'upstream_unavailable',
]);

function messageFor(code, { requestId, retryAfter, context } = {}) {
  if (code === 'rate_limited' && retryAfter) return `操作过于频繁，请 ${retryAfter} 秒后再试`;
  // A licence issued with a future start date is active but not yet valid: say from when.
  if (code === 'licence_not_active' && context && context.valid_from) {
    return `该证照尚未生效，${context.valid_from} 起可以出示`;
  }
  const known = Object.prototype.hasOwnProperty.call(ERROR_MESSAGES, code);
  const base = known ? ERROR_MESSAGES[code] : FALLBACK_MESSAGE;
  if ((!known || SHOW_REQUEST_ID.has(code)) && requestId) return `${base}（请求编号：${requestId}）`;
  return base;
}

class ApiError extends Error {
  constructor({ status, code, requestId, context, retryAfter }) {
    const userMessage = messageFor(code, { requestId, retryAfter, context });
    super(userMessage);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.userMessage = userMessage;
    this.requestId = requestId || null;
    this.context = context || {};
    this.retryAfter = retryAfter || null;
  }
}

function toApiError(res) {
  const body = res.data && typeof res.data === 'object' ? res.data : {};
  const error = body.error && typeof body.error === 'object' ? body.error : {};
  const retryAfter = Number(http.headerValue(res.header, 'Retry-After')) || null;
  return new ApiError({
    status: res.statusCode,
    code: error.code || (res.statusCode >= 500 ? 'internal_error' : 'unknown_error'),
    requestId: body.request_id || http.headerValue(res.header, 'X-Request-ID'),
    context: error.context,
    retryAfter,
  });
}

function fromClientError(err) {
  const code = err && err.code && ERROR_MESSAGES[err.code] ? err.code : 'network_error';
  return new ApiError({ status: 0, code });
}

// 503 store_unavailable: the backend's database or cache did not answer, the request was fine
// and wrote nothing, so it goes out once more after Retry-After (capped) with the same headers
// and body (an Idempotency-Key among them).
const STORE_RETRY_CAP_SECONDS = 3;

function pause(seconds) {
  return new Promise((resolve) => setTimeout(resolve, seconds * 1000));
}

async function send(options, { retried = false } = {}) {
  let res;
  try {
    res = await http.send(options);
  } catch (err) {
    throw fromClientError(err);
  }
  if (res.statusCode >= 200 && res.statusCode < 300) return res.data;
  const error = toApiError(res);
  if (error.code === 'store_unavailable' && !retried) {
    await pause(Math.min(error.retryAfter || 1, STORE_RETRY_CAP_SECONDS));
    return send(options, { retried: true });
  }
  throw error;
}

async function loginCode() {
  try {
    return await platform.getLoginCode();
  } catch (err) {
    throw fromClientError(err);
  }
}

// WeChat spends a wx.login code at its first exchange, even when our answer was a 503: the one
// retry of a login that met store_unavailable takes a fresh code instead of resending the spent one.
async function login() {
  for (let attempt = 0; ; attempt += 1) {
    const code = await loginCode();
    try {
      const body = await send({ method: 'POST', path: '/api/v1/auth/login', data: { code } }, { retried: true });
      session.save(body);
      return body.user;
    } catch (error) {
      if (error.code !== 'store_unavailable' || attempt > 0) throw error;
      await pause(Math.min(error.retryAfter || 1, STORE_RETRY_CAP_SECONDS));
    }
  }
}

// A rejected refresh token (expired, revoked, reused) means a fresh silent wx.login;
// network and server failures are passed on so a flaky network does not log people out.
async function renewSession() {
  const refreshToken = session.refreshToken();
  if (refreshToken) {
    try {
      const body = await send({
        method: 'POST',
        path: '/api/v1/auth/refresh',
        data: { refresh_token: refreshToken },
      });
      session.save(body);
      return;
    } catch (err) {
      if (err.status === 0 || err.status >= 500 || err.status === 429) throw err;
      session.clear();
    }
  }
  await login();
}

// Several requests failing at once share one renewal: a refresh token works only once.
let renewal = null;
function renewOnce() {
  if (!renewal) {
    renewal = renewSession().finally(() => {
      renewal = null;
    });
  }
  return renewal;
}

// Answers after which a new access token may help: expired, or unreadable (e.g. signed with a
// key the server no longer trusts). The refresh token decides; if it is refused too, log in again.
const RENEWABLE = new Set(['token_expired', 'token_invalid']);

async function request({ method = 'GET', path, query, data, header = {}, auth = true }) {
  if (!auth) return send({ method, path, query, data, header });
  if (session.expiresWithin(config.refreshLeewaySeconds)) await renewOnce();
  let usedToken = null;
  const attempt = () => {
    usedToken = session.accessToken();
    return send({
      method,
      path,
      query,
      data,
      // The caller's headers (an Idempotency-Key among them) go out unchanged on the retry.
      header: Object.assign({}, header, { Authorization: `Bearer ${usedToken}` }),
    });
  };
  try {
    return await attempt();
  } catch (err) {
    if (err.status !== 401 || !RENEWABLE.has(err.code)) throw err;
    // Another request may have renewed the session while this one was in flight.
    if (session.accessToken() === usedToken) await renewOnce();
    return attempt();
  }
}

// A fresh key for each payment attempt; retries of that attempt reuse it.
function newIdempotencyKey() {
  const hex = platform.randomHex(32).split('');
  hex[12] = '4';
  hex[16] = '89ab'[parseInt(hex[16], 16) % 4];
  const s = hex.join('');
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
}

// A toast holds about two short lines; longer messages (with a request id) need a dialog.
function showError(err) {
  const message = err && err.userMessage ? err.userMessage : messageFor(err && err.code);
  if (message.length <= 14) {
    wx.showToast({ title: message, icon: 'none', duration: 3000 });
  } else {
    wx.showModal({ title: '提示', content: message, showCancel: false });
  }
}

module.exports = {
  ERROR_MESSAGES,
  ApiError,
  messageFor,
  request,
  login,
  renewSession: renewOnce,
  fromClientError,
  newIdempotencyKey,
  showError,
  get: (path, query) => request({ method: 'GET', path, query }),
  // Catalogue reads need no login, so they keep working when identity is unavailable.
  publicGet: (path, query) => request({ method: 'GET', path, query, auth: false }),
  post: (path, data, header) => request({ method: 'POST', path, data, header }),
  put: (path, data) => request({ method: 'PUT', path, data }),
  del: (path) => request({ method: 'DELETE', path }),
};
