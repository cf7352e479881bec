'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { createWx, errorResponse, tokens, loadModules } = require('./wx-stub');

const CJK = /[\u4e00-\u9fff]/;
const REQUIRED_CODES = [
  'validation_failed', 'invalid_json', 'body_too_large', 'unauthorized', 'token_expired',
  'token_invalid', 'forbidden', 'not_found', 'rate_limited', 'face_verification_required',
  'realname_required', 'id_number_invalid', 'id_number_taken', 'code_invalid', 'code_used',
  'verify_id_invalid', 'face_failed', 'payment_not_found', 'bill_not_found', 'bill_already_paid',
  'idempotency_conflict', 'licence_not_active', 'conflict', 'internal_error',
];

function signedIn(session, suffix = 'old', expiresIn = 900) {
  session.save({ access_token: `access-${suffix}`, refresh_token: `refresh-${suffix}`, expires_in: expiresIn });
}

test('every required error code has its own Chinese message', () => {
  const { request } = loadModules();
  const messages = new Set();
  for (const code of REQUIRED_CODES) {
    const message = request.ERROR_MESSAGES[code];
    assert.ok(message, `no message for ${code}`);
    assert.match(message, CJK, `${code} message is not Chinese`);
    messages.add(message);
  }
  assert.equal(messages.size, REQUIRED_CODES.length, 'two codes share one message');
});

test('a known error code becomes its message; an unknown one falls back with the request id', async () => {
  global.wx = createWx({
    'GET /api/v1/bills/N1': () => errorResponse(404, 'bill_not_found', 'req-bill'),
    'GET /api/v1/bills/N2': () => errorResponse(418, 'brand_new_code', 'req-new'),
  });
  const { request, session } = loadModules();
  signedIn(session);
  await assert.rejects(request.get('/api/v1/bills/N1'), (err) => {
    assert.equal(err.code, 'bill_not_found');
    assert.equal(err.status, 404);
    assert.equal(err.userMessage, request.ERROR_MESSAGES.bill_not_found);
    assert.equal(err.requestId, 'req-bill');
    return true;
  });
  await assert.rejects(request.get('/api/v1/bills/N2'), (err) => {
    assert.equal(err.code, 'brand_new_code');
    assert.match(err.userMessage, /^操作失败/);
    assert.match(err.userMessage, /req-new/);
    return true;
  });
});

test('a server error shows the request id; a rate limit shows Retry-After', async () => {
  global.wx = createWx({
    'GET /api/v1/me': () => errorResponse(500, 'internal_error', 'req-500'),
    'POST /api/v1/auth/face/start': () => errorResponse(429, 'rate_limited', 'req-429', { 'retry-after': '42' }),
  });
  const { request, session } = loadModules();
  signedIn(session);
  await assert.rejects(request.get('/api/v1/me'), (err) => err.code === 'internal_error' && /req-500/.test(err.userMessage));
  await assert.rejects(request.post('/api/v1/auth/face/start', {}), (err) => {
    assert.equal(err.retryAfter, 42);
    assert.match(err.userMessage, /42 秒/);
    return true;
  });
});

test('a response without the envelope still maps by status', async () => {
  global.wx = createWx({ 'GET /api/v1/me': () => ({ statusCode: 502, data: '<html>bad gateway</html>' }) });
  const { request, session } = loadModules();
  signedIn(session);
  await assert.rejects(request.get('/api/v1/me'), (err) => err.code === 'internal_error' && err.status === 502);
});

test('a network failure becomes network_error', async () => {
  global.wx = createWx({ 'GET /api/v1/me': () => { throw new Error('offline'); } });
  const { request, session } = loadModules();
  signedIn(session);
  await assert.rejects(request.get('/api/v1/me'), (err) => {
    assert.equal(err.code, 'network_error');
    assert.equal(err.status, 0);
    assert.equal(err.userMessage, request.ERROR_MESSAGES.network_error);
    return true;
  });
});

test('the first authenticated call logs in silently with wx.login and sends the bearer token', async () => {
  const wx = createWx({
    'POST /api/v1/auth/login': (call) => {
      assert.deepEqual(call.data, { code: 'wx-login-code' });
      return tokens('new');
    },
    'GET /api/v1/me': () => ({ statusCode: 200, data: { id: 'u1' } }),
  });
  global.wx = wx;
  const { request, session } = loadModules();
  assert.deepEqual(await request.get('/api/v1/me'), { id: 'u1' });
  assert.deepEqual(wx.calls.map((c) => `${c.method} ${c.path}`), ['POST /api/v1/auth/login', 'GET /api/v1/me']);
  assert.equal(wx.calls[0].header.Authorization, undefined);
  assert.equal(wx.calls[1].header.Authorization, 'Bearer access-new');
  assert.equal(session.refreshToken(), 'refresh-new');
  assert.equal(session.user().id, 'u1');
});

test('in the sandbox the login code comes from the sandbox helper route', async () => {
  const wx = createWx({
    'POST /sandbox/wechat/login-code': (call) => {
      assert.match(call.data.openid, /^sandbox-/);
      return { statusCode: 200, data: { code: 'sandbox-code' } };
    },
    'POST /api/v1/auth/login': (call) => (call.data.code === 'sandbox-code' ? tokens('s') : errorResponse(400, 'code_invalid')),
  });
  global.wx = wx;
  const { request } = loadModules({ sandbox: true });
  const user = await request.login();
  assert.equal(user.id, 'u1');
  const openid = wx.calls[0].data.openid;
  await request.login();
  assert.equal(wx.calls[2].data.openid, openid, 'the sandbox identity should persist on the device');
});

test('a 401 token_expired refreshes once and retries with the new token', async () => {
  const wx = createWx({
    'POST /api/v1/auth/refresh': (call) => {
      assert.deepEqual(call.data, { refresh_token: 'refresh-old' });
      return tokens('new');
    },
    'GET /api/v1/licences': (call) => (call.header.Authorization === 'Bearer access-new'
      ? { statusCode: 200, data: { items: [] } }
      : errorResponse(401, 'token_expired')),
  });
  global.wx = wx;
  const { request, session } = loadModules();
  signedIn(session);
  assert.deepEqual(await request.get('/api/v1/licences'), { items: [] });
  assert.deepEqual(wx.calls.map((c) => c.path), ['/api/v1/licences', '/api/v1/auth/refresh', '/api/v1/licences']);
  assert.equal(session.accessToken(), 'access-new');
  assert.equal(session.refreshToken(), 'refresh-new');
});

test('the retry happens only once: a second 401 reaches the caller', async () => {
  const wx = createWx({
    'POST /api/v1/auth/refresh': () => tokens('new'),
    'GET /api/v1/licences': () => errorResponse(401, 'token_expired'),
  });
  global.wx = wx;
  const { request, session } = loadModules();
  signedIn(session);
  await assert.rejects(request.get('/api/v1/licences'), (err) => err.code === 'token_expired');
  assert.equal(wx.calls.filter((c) => c.path === '/api/v1/licences').length, 2);
  assert.equal(wx.calls.filter((c) => c.path === '/api/v1/auth/refresh').length, 1);
});

test('other errors are not retried', async () => {
  const wx = createWx({
    'POST /api/v1/licences/L1/presentations': () => errorResponse(403, 'face_verification_required'),
  });
  global.wx = wx;
  const { request, session } = loadModules();
  signedIn(session);
  await assert.rejects(request.post('/api/v1/licences/L1/presentations', {}), (err) => err.code === 'face_verification_required' && err.status === 403);
  assert.equal(wx.calls.length, 1);
});

test('concurrent 401s share a single refresh, because a refresh token works only once', async () => {
  let refreshes = 0;
  const wx = createWx({
    'POST /api/v1/auth/refresh': () => {
      refreshes += 1;
      return refreshes === 1 ? tokens('new') : errorResponse(401, 'refresh_token_reused');
    },
    'GET /api/v1/me': (call) => (call.header.Authorization === 'Bearer access-new'
      ? { statusCode: 200, data: { ok: 1 } }
      : errorResponse(401, 'token_expired')),
  });
  global.wx = wx;
  const { request, session } = loadModules();
  signedIn(session);
  const results = await Promise.all([request.get('/api/v1/me'), request.get('/api/v1/me'), request.get('/api/v1/me')]);
  assert.deepEqual(results, [{ ok: 1 }, { ok: 1 }, { ok: 1 }]);
  assert.equal(refreshes, 1);
});

test('a rejected refresh token falls back to a fresh silent login', async () => {
  const wx = createWx({
    'POST /api/v1/auth/refresh': () => errorResponse(401, 'refresh_token_reused'),
    'POST /api/v1/auth/login': () => tokens('relogin'),
    'GET /api/v1/me': (call) => (call.header.Authorization === 'Bearer access-relogin'
      ? { statusCode: 200, data: { ok: 1 } }
      : errorResponse(401, 'token_expired')),
  });
  global.wx = wx;
  const { request, session } = loadModules();
  signedIn(session);
  assert.deepEqual(await request.get('/api/v1/me'), { ok: 1 });
  assert.deepEqual(wx.calls.map((c) => c.path), ['/api/v1/me', '/api/v1/auth/refresh', '/api/v1/auth/login', '/api/v1/me']);
  assert.equal(session.refreshToken(), 'refresh-relogin');
});

test('a refresh that fails on the network keeps the session and reports network_error', async () => {
  const wx = createWx({
    'POST /api/v1/auth/refresh': () => { throw new Error('offline'); },
    'GET /api/v1/me': () => errorResponse(401, 'token_expired'),
  });
  global.wx = wx;
  const { request, session } = loadModules();
  signedIn(session);
  await assert.rejects(request.get('/api/v1/me'), (err) => err.code === 'network_error');
  assert.equal(session.refreshToken(), 'refresh-old');
  assert.equal(wx.calls.filter((c) => c.path === '/api/v1/auth/login').length, 0);
});

test('a token about to expire is refreshed before the request leaves', async () => {
  const wx = createWx({
    'POST /api/v1/auth/refresh': () => tokens('new'),
    'GET /api/v1/me': (call) => ({ statusCode: 200, data: { auth: call.header.Authorization } }),
  });
  global.wx = wx;
  const { request, session } = loadModules();
  signedIn(session, 'old', 5);
  assert.deepEqual(await request.get('/api/v1/me'), { auth: 'Bearer access-new' });
  assert.deepEqual(wx.calls.map((c) => c.path), ['/api/v1/auth/refresh', '/api/v1/me']);
});

test('the retry after a refresh sends the same Idempotency-Key and body', async () => {
  const seen = [];
  const wx = createWx({
    'POST /api/v1/auth/refresh': () => tokens('new'),
    'POST /api/v1/payments': (call) => {
      seen.push({ key: call.header['Idempotency-Key'], body: call.data });
      return call.header.Authorization === 'Bearer access-new'
        ? { statusCode: 201, data: { order_no: 'P1', amount: 20000, status: 'created', pay_params: {} } }
        : errorResponse(401, 'token_expired');
    },
  });
  global.wx = wx;
  const { request, session } = loadModules();
  signedIn(session);
  const key = request.newIdempotencyKey();
  const body = { bill_type: 'fine', bill_ref: '4401001234567890', channel: 'wechatpay' };
  const order = await request.post('/api/v1/payments', body, { 'Idempotency-Key': key });
  assert.equal(order.order_no, 'P1');
  assert.equal(seen.length, 2);
  assert.equal(seen[0].key, key);
  assert.equal(seen[1].key, key);
  assert.deepEqual(seen[1].body, seen[0].body);
});

test('a store outage (503 store_unavailable) is sent once more, same key and body, then reported', async () => {
  const seen = [];
  let answers = [errorResponse(503, 'store_unavailable', 'req-503', { 'retry-after': '0' })];
  global.wx = createWx({
    'POST /api/v1/payments': (call) => {
      seen.push({ key: call.header['Idempotency-Key'], body: call.data });
      return answers.shift() || { statusCode: 201, data: { order_no: 'P2', amount: 100, status: 'created', pay_params: {} } };
    },
  });
  const { request, session } = loadModules();
  signedIn(session);
  const key = request.newIdempotencyKey();
  const body = { bill_type: 'fine', bill_ref: '4401001234567890', channel: 'alipay' };
  assert.equal((await request.post('/api/v1/payments', body, { 'Idempotency-Key': key })).order_no, 'P2');
  assert.equal(seen.length, 2);
  assert.equal(seen[1].key, key);
  assert.deepEqual(seen[1].body, body);
  // Still down on the second try: the caller hears of it (with the request id), no third try.
  answers = [0, 1].map(() => errorResponse(503, 'store_unavailable', 'req-again', { 'retry-after': '0' }));
  seen.length = 0;
  await assert.rejects(request.post('/api/v1/payments', body, { 'Idempotency-Key': key }),
    (err) => err.code === 'store_unavailable' && /req-again/.test(err.userMessage));
  assert.equal(seen.length, 2);
});

test('a login that meets a store outage is tried once more with a fresh wx.login code', async () => {
  let issued = 0;
  const sent = [];
  let answers = [errorResponse(503, 'store_unavailable', 'req-login', { 'retry-after': '0' })];
  const wx = createWx({
    'POST /sandbox/wechat/login-code': () => ({ statusCode: 200, data: { code: `code-${++issued}` } }),
    'POST /api/v1/auth/login': (call) => {
      sent.push(call.data.code);
      return answers.shift() || tokens('s');
    },
  });
  global.wx = wx;
  const { request } = loadModules({ sandbox: true });
  assert.equal((await request.login()).id, 'u1');
  // WeChat spent the first code at its first exchange: the retry must not send it again.
  assert.deepEqual(sent, ['code-1', 'code-2']);
  answers = [0, 1].map(() => errorResponse(503, 'store_unavailable', 'req-down', { 'retry-after': '0' }));
  sent.length = 0;
  await assert.rejects(request.login(), (err) => err.code === 'store_unavailable');
  assert.deepEqual(sent, ['code-3', 'code-4'], 'one retry, no third try');
});

test('idempotency keys are UUID v4 and differ between attempts', () => {
  const { request } = loadModules();
  const keys = new Set();
  for (let i = 0; i < 200; i += 1) {
    const key = request.newIdempotencyKey();
    assert.match(key, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    keys.add(key);
  }
  assert.equal(keys.size, 200);
});

test('query parameters leave out empty filters and are encoded', async () => {
  const wx = createWx({ 'GET /api/v1/search': (call) => ({ statusCode: 200, data: call.query }) });
  global.wx = wx;
  const { request, session } = loadModules();
  signedIn(session);
  const echoed = await request.get('/api/v1/search', { q: '换驾照 & 年审', region: '', audience: undefined, page: 2 });
  assert.deepEqual(echoed, { q: '换驾照 & 年审', page: '2' });
});

test('short messages show as a toast, long ones as a dialog', () => {
  const wx = createWx({});
  global.wx = wx;
  const { request } = loadModules();
  request.showError(new request.ApiError({ status: 404, code: 'not_found' }));
  request.showError(new request.ApiError({ status: 500, code: 'internal_error', requestId: 'req-x' }));
  assert.deepEqual(wx.ui[0], ['toast', request.ERROR_MESSAGES.not_found]);
  assert.equal(wx.ui[1][0], 'modal');
  assert.match(wx.ui[1][1], /req-x/);
});

test('a 401 for a token another request already replaced is retried without a second refresh', async () => {
  let refreshes = 0;
  const wx = createWx({
    'POST /api/v1/auth/refresh': () => { refreshes += 1; return tokens('new'); },
    'GET /api/v1/me': (call) => (call.header.Authorization === 'Bearer access-new' ? { statusCode: 200, data: { ok: 1 } } : errorResponse(401, 'token_expired')),
    'GET /api/v1/licences': (call) => (call.header.Authorization === 'Bearer access-new' ? { statusCode: 200, data: { licences: [] } } : errorResponse(401, 'token_expired')),
  });
  global.wx = wx;
  const { request, session } = loadModules();
  signedIn(session);
  // The licences request leaves with the old token and its answer is held back until the
  // other request has refreshed the session.
  const deliver = wx.request;
  let release;
  wx.request = (options) => {
    if (options.url.endsWith('/api/v1/licences') && !release) {
      release = () => deliver(options);
      return;
    }
    deliver(options);
  };
  const slow = request.get('/api/v1/licences');
  assert.deepEqual(await request.get('/api/v1/me'), { ok: 1 });
  release();
  assert.deepEqual(await slow, { licences: [] });
  assert.equal(refreshes, 1, 'the retry reused the new token');
});

test('token_invalid renews through the refresh token', async () => {
  const wx = createWx({
    'POST /api/v1/auth/refresh': () => tokens('new'),
    'GET /api/v1/me': (call) => (call.header.Authorization === 'Bearer access-new' ? { statusCode: 200, data: { ok: 1 } } : errorResponse(401, 'token_invalid')),
  });
  global.wx = wx;
  const { request, session } = loadModules();
  signedIn(session);
  assert.deepEqual(await request.get('/api/v1/me'), { ok: 1 });
  assert.deepEqual(wx.calls.map((c) => c.path), ['/api/v1/me', '/api/v1/auth/refresh', '/api/v1/me']);
});
