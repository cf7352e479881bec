'use strict';
// The mini-program's modules against a running service with the sandbox on:
//   MINIPROGRAM_E2E_BASE_URL=http://127.0.0.1:8000 node --test miniprogram/tests/
// Skipped without that variable. The `wx` stand-in forwards wx.request to real HTTP.
const test = require('node:test');
const assert = require('node:assert/strict');
const { loadModules } = require('./wx-stub');

const BASE_URL = process.env.MINIPROGRAM_E2E_BASE_URL;
const skip = BASE_URL ? false : 'set MINIPROGRAM_E2E_BASE_URL to run against a live service';

function httpWx() {
  const storage = new Map();
  return {
    getStorageSync: (key) => (storage.has(key) ? storage.get(key) : ''),
    setStorageSync: (key, value) => storage.set(key, value),
    removeStorageSync: (key) => storage.delete(key),
    request(options) {
      fetch(options.url, {
        method: options.method,
        headers: options.header,
        body: options.data === undefined || options.method === 'GET' ? undefined : JSON.stringify(options.data),
      }).then(async (res) => {
        const text = await res.text();
        let data = text;
        try { data = JSON.parse(text); } catch (err) { /* not JSON */ }
        options.success({ statusCode: res.status, data, header: Object.fromEntries(res.headers) });
      }, options.fail);
    },
  };
}

// A valid GB 11643 number with a random sequence, so reruns do not collide.
function idNumber() {
  const weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  const body = `44010619900307${String(Math.floor(Math.random() * 1000)).padStart(3, '0')}`;
  const sum = weights.reduce((acc, w, i) => acc + w * Number(body[i]), 0);
  return body + '10X98765432'[sum % 11];
}

async function sandbox(path, data) {
  const res = await fetch(`${BASE_URL}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(data) });
  assert.ok(res.status < 300, `${path}: ${res.status}`);
  return res.json();
}

test('a resident logs in, binds a real name and phone, passes face verification and pays a fine', { skip }, async () => {
  global.wx = httpWx();
  const { config, request: api, session } = loadModules({ sandbox: true });
  config.baseUrl = BASE_URL;
  config.paymentPollIntervalMs = 300;
  config.paymentPollAttempts = 40;
  const face = require('../utils/face');
  const payments = require('../utils/payments');

  const me0 = await api.get('/api/v1/me');
  assert.equal(me0.realname_verified, false);

  await api.post('/api/v1/me/realname', { name: '张三', id_number: idNumber() });
  await assert.rejects(api.post('/api/v1/me/realname', { name: '李四', id_number: '110105194912310021' }),
    (err) => ['id_number_invalid', 'realname_already_bound'].includes(err.code) && /[\u4e00-\u9fff]/.test(err.userMessage));

  const platform = require('../utils/platform');
  await api.post('/api/v1/me/phone', { code: await platform.sandboxPhoneCode('13800138000') });

  await face.verifyFace();
  const me1 = await api.get('/api/v1/me');
  assert.equal(me1.realname_verified, true);
  assert.ok(me1.face_verified_at);
  assert.match(me1.phone_masked, /^138/);

  // An access token about to expire is refreshed silently before the next call.
  const stored = session.load();
  wx.setStorageSync('session', Object.assign({}, stored, { accessExpiresAt: Date.now() }));
  await api.get('/api/v1/me');
  assert.notEqual(session.refreshToken(), stored.refreshToken);

  const fine = await sandbox('/sandbox/traffic/fines', { fine: 20000, plate: '粤A12345', party_name: '张三' });
  const bill = await api.get('/api/v1/fines', { decision_no: fine.decision_no, plate: '粤A12345' });
  assert.equal(bill.amount_due, 20000);

  const attempt = new payments.PaymentAttempt();
  const order = await attempt.create({ bill_type: 'fine', bill_ref: bill.bill_ref, plate: '粤A12345', channel: 'wechatpay' });
  const replay = await attempt.create({ bill_type: 'fine', bill_ref: bill.bill_ref, plate: '粤A12345', channel: 'wechatpay' });
  assert.equal(replay.order_no, order.order_no, 'the same attempt must not open a second order');
  await payments.pay(order);
  attempt.finish();
  const final = await payments.pollStatus(order.order_no);
  assert.equal(final.status, 'settled');
  assert.ok(final.receipt && final.receipt.receipt_no);

  await assert.rejects(api.get('/api/v1/payments/NO-SUCH-ORDER'), (err) => err.code === 'payment_not_found' && err.userMessage === api.ERROR_MESSAGES.payment_not_found);
});
