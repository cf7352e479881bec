// The console's API module with fetch and sessionStorage stubbed: run with
//   node --test app/console/tests/
import test from 'node:test';
import assert from 'node:assert/strict';

const store = new Map();
globalThis.sessionStorage = {
  getItem: (key) => (store.has(key) ? store.get(key) : null),
  setItem: (key, value) => store.set(key, String(value)),
  removeItem: (key) => store.delete(key),
};

let routes = {};
const calls = [];
globalThis.fetch = async (url, options) => {
  const call = { url, method: options.method, headers: options.headers, body: options.body ? JSON.parse(options.body) : undefined };
  calls.push(call);
  const handler = routes[`${options.method} ${url.split('?')[0]}`];
  if (!handler) return json(404, { error: { code: 'not_found' }, request_id: 'r404' });
  return handler(call);
};

function json(status, body, headers = {}) {
  return new Response(status === 204 ? null : JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } });
}

function reset(newRoutes) {
  routes = newRoutes;
  calls.length = 0;
  store.clear();
}

const { auth, payments, grants, catalogue, ApiError } = await import('../static/api.js');

test('operator login stores the tokens and later calls carry the bearer token', async () => {
  reset({
    'POST /api/v1/auth/operator-login': (c) => {
      assert.deepEqual(c.body, { username: 'op', password: 'secret-pass' });
      assert.equal(c.headers.Authorization, undefined);
      return json(200, { access_token: 'a1', refresh_token: 'r1', expires_in: 600, user: { id: 9, roles: ['operator'] } });
    },
    'GET /api/v1/admin/payment-stats': (c) => json(200, { orders: { paid: 1 }, auth: c.headers.Authorization }),
  });
  const session = await auth.login('op', 'secret-pass');
  assert.equal(session.username, 'op');
  assert.equal((await payments.stats()).auth, 'Bearer a1');
});

test('an expired token is refreshed once and the call retried', async () => {
  reset({
    'POST /api/v1/auth/operator-login': () => json(200, { access_token: 'a1', refresh_token: 'r1' }),
    'POST /api/v1/auth/refresh': (c) => {
      assert.deepEqual(c.body, { refresh_token: 'r1' });
      return json(200, { access_token: 'a2', refresh_token: 'r2' });
    },
    'POST /api/v1/admin/payments/P1/refunds': (c) => (c.headers.Authorization === 'Bearer a2'
      ? json(201, { refund_no: 'RF1', amount: c.body.amount })
      : json(401, { error: { code: 'token_expired' } })),
  });
  await auth.login('op', 'secret-pass');
  const refund = await payments.refund('P1', 500, '重复缴费');
  assert.deepEqual(refund, { refund_no: 'RF1', amount: 500 });
  assert.deepEqual(calls.map((c) => c.url), ['/api/v1/auth/operator-login', '/api/v1/admin/payments/P1/refunds', '/api/v1/auth/refresh', '/api/v1/admin/payments/P1/refunds']);
  assert.equal(JSON.parse(store.get('console.session')).refreshToken, 'r2');
});

test('a failed refresh ends the session and tells the page', async () => {
  let loggedOut = 0;
  auth.onLogout(() => { loggedOut += 1; });
  reset({
    'POST /api/v1/auth/operator-login': () => json(200, { access_token: 'a1', refresh_token: 'r1' }),
    'POST /api/v1/auth/refresh': () => json(401, { error: { code: 'refresh_token_reused' } }),
    'GET /api/v1/admin/audit': () => json(401, { error: { code: 'token_expired' } }),
  });
  await auth.login('op', 'secret-pass');
  const before = loggedOut;
  await assert.rejects(payments.listReconciliations(), (err) => err instanceof ApiError);
  await assert.rejects(import('../static/api.js').then((m) => m.audit.list()), (err) => err.code === 'refresh_token_reused');
  assert.equal(auth.session(), null);
  assert.ok(loggedOut > before);
});

test('errors carry code, request id and field problems; 204 is null', async () => {
  reset({
    'POST /api/v1/auth/operator-login': () => json(200, { access_token: 'a1', refresh_token: 'r1' }),
    'POST /api/v1/admin/enterprises': () => json(422, {
      error: { code: 'validation_failed', message: 'Some fields are missing or invalid.', context: { fields: [{ field: 'credit_code', problem: 'too short' }] } },
      request_id: 'req-7',
    }),
    'DELETE /api/v1/admin/inspectors/5': () => json(204),
  });
  await auth.login('op', 'secret-pass');
  await assert.rejects(grants.registerEnterprise({ credit_code: 'x' }), (err) => {
    assert.equal(err.status, 422);
    assert.equal(err.code, 'validation_failed');
    assert.equal(err.requestId, 'req-7');
    assert.deepEqual(err.context.fields, [{ field: 'credit_code', problem: 'too short' }]);
    return true;
  });
  assert.equal(await grants.revokeInspector(5), null);
});

test('a network failure is network_error, and empty query values are left out', async () => {
  reset({ 'POST /api/v1/auth/operator-login': () => json(200, { access_token: 'a1', refresh_token: 'r1' }) });
  await auth.login('op', 'secret-pass');
  routes['GET /api/v1/admin/catalogue/items'] = () => { throw new TypeError('Failed to fetch'); };
  await assert.rejects(catalogue.listItems({ status: '', page: 2 }), (err) => err.code === 'network_error' && err.status === 0);
  assert.equal(calls[calls.length - 1].url, '/api/v1/admin/catalogue/items?page=2');
  routes['GET /api/v1/search'] = () => json(200, { items: [] });
  await catalogue.search('驾驶证');
  assert.equal(calls[calls.length - 1].url, `/api/v1/search?q=${encodeURIComponent('驾驶证')}&page=1`);
});

test('a 401 for a token already replaced by another call retries without refreshing again', async () => {
  let refreshes = 0;
  let release;
  reset({
    'POST /api/v1/auth/operator-login': () => json(200, { access_token: 'a1', refresh_token: 'r1' }),
    'POST /api/v1/auth/refresh': () => { refreshes += 1; return json(200, { access_token: 'a2', refresh_token: 'r2' }); },
    'GET /api/v1/admin/payment-stats': (c) => (c.headers.Authorization === 'Bearer a2' ? json(200, { orders: {} }) : json(401, { error: { code: 'token_expired' } })),
    'GET /api/v1/admin/reconciliations': (c) => {
      if (c.headers.Authorization === 'Bearer a2') return json(200, { runs: [] });
      return new Promise((resolve) => { release = () => resolve(json(401, { error: { code: 'token_expired' } })); });
    },
  });
  await auth.login('op', 'secret-pass');
  const slow = payments.listReconciliations();
  await payments.stats();
  release();
  assert.deepEqual(await slow, { runs: [] });
  assert.equal(refreshes, 1);
});
