'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { createWx, errorResponse, loadModules } = require('./wx-stub');

function signedIn(session) {
  session.save({ access_token: 'access-1', refresh_token: 'refresh-1', expires_in: 900 });
}

function fresh(routes, options) {
  global.wx = createWx(routes);
  const modules = loadModules(options);
  signedIn(modules.session);
  return Object.assign(modules, { wx: global.wx, payments: require('../utils/payments') });
}

const FINE = { bill_type: 'fine', bill_ref: '440100123456789', plate: '粤A12345', channel: 'wechatpay' };

test('retrying the same bill after a network failure reuses the key', async () => {
  let fail = true;
  const { wx, payments } = fresh({
    'POST /api/v1/payments': () => {
      if (fail) { fail = false; throw new Error('timeout'); }
      return { statusCode: 201, data: { order_no: 'P1', amount: 20600, status: 'created', pay_params: {} } };
    },
  });
  const attempt = new payments.PaymentAttempt();
  await assert.rejects(attempt.create(FINE), (err) => err.code === 'network_error');
  const order = await attempt.create(Object.assign({}, FINE));
  assert.equal(order.order_no, 'P1');
  const keys = wx.calls.map((c) => c.header['Idempotency-Key']);
  assert.equal(keys.length, 2);
  assert.equal(keys[0], keys[1]);
});

test('another bill or channel, or a finished attempt, gets a new key', async () => {
  const { wx, payments } = fresh({
    'POST /api/v1/payments': () => ({ statusCode: 201, data: { order_no: 'P', status: 'created', pay_params: {} } }),
  });
  const attempt = new payments.PaymentAttempt();
  await attempt.create(FINE);
  await attempt.create(Object.assign({}, FINE, { channel: 'alipay' }));
  attempt.finish();
  await attempt.create(Object.assign({}, FINE, { channel: 'alipay' }));
  const keys = wx.calls.map((c) => c.header['Idempotency-Key']);
  assert.equal(new Set(keys).size, 3);
});

test('idempotency_key_in_progress is retried with the same key', async () => {
  let calls = 0;
  const { wx, payments } = fresh({
    'POST /api/v1/payments': () => {
      calls += 1;
      return calls < 3 ? errorResponse(409, 'idempotency_key_in_progress') : { statusCode: 200, data: { order_no: 'P2', status: 'created' } };
    },
  });
  const order = await new payments.PaymentAttempt().create(FINE, { retryDelayMs: 1 });
  assert.equal(order.order_no, 'P2');
  assert.equal(new Set(wx.calls.map((c) => c.header['Idempotency-Key'])).size, 1);
});

test('a key reused with another body is reported, not retried', async () => {
  const { wx, payments } = fresh({ 'POST /api/v1/payments': () => errorResponse(409, 'idempotency_key_reused') });
  await assert.rejects(new payments.PaymentAttempt().create(FINE, { retryDelayMs: 1 }), (err) => err.code === 'idempotency_key_reused' && /[\u4e00-\u9fff]/.test(err.userMessage));
  assert.equal(wx.calls.length, 1);
});

test('in the sandbox the pay sheet is the sandbox confirm route; polling stops at a final status', async () => {
  const statuses = ['paying', 'paid', 'settled'];
  const { wx, payments } = fresh({
    'POST /sandbox/wechatpay/confirm': (call) => {
      assert.deepEqual(call.data, { order_no: 'P3', outcome: 'pay', pay_params: { paySign: 's' } });
      return { statusCode: 200, data: {} };
    },
    'GET /api/v1/payments/P3': () => ({ statusCode: 200, data: { order_no: 'P3', status: statuses.shift() || 'settled', receipt: { receipt_no: 'R1' } } }),
  }, { sandbox: true });
  await payments.pay({ order_no: 'P3', pay_params: { paySign: 's' } });
  const seen = [];
  const order = await payments.pollStatus('P3', { intervalMs: 1, attempts: 10, onUpdate: (o) => seen.push(o.status) });
  assert.deepEqual(seen, ['paying', 'paid', 'settled']);
  assert.equal(order.receipt.receipt_no, 'R1');
  assert.equal(wx.calls.filter((c) => c.path === '/api/v1/payments/P3').length, 3);
});

test('on a phone, wx.requestPayment gets pay_params; cancelling is payment_cancelled', async () => {
  const { wx, payments } = fresh({}, { sandbox: false });
  const params = { timeStamp: '1', nonceStr: 'n', package: 'prepay_id=wx1', signType: 'RSA', paySign: 's' };
  let received;
  wx.requestPayment = (options) => { received = options; options.fail({ errMsg: 'requestPayment:fail cancel' }); };
  await assert.rejects(payments.pay({ order_no: 'P4', pay_params: params }), (err) => err.code === 'payment_cancelled');
  assert.equal(received.paySign, 's');
  assert.equal(received.package, 'prepay_id=wx1');
});

test('a receipt the agency cancelled (冲红) says so, with the time; a live one does not', () => {
  const { payments } = fresh({});
  const live = payments.receiptView({ receipt_no: 'R1', bill_name: '非税收入', amount: 21200, voided_at: null });
  assert.equal(live.voided, false);
  assert.ok(!live.rows.some((row) => row.label === '冲红时间'));
  const voided = payments.receiptView({ receipt_no: 'R1', amount: 21200, voided_at: '2026-11-21T10:05:00+08:00' });
  assert.equal(voided.voided, true);
  assert.deepEqual(voided.rows.find((row) => row.label === '冲红时间'), { label: '冲红时间', value: '2026-11-21 10:05:00' });
});
