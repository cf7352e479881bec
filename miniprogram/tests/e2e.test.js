'use strict';
// The mini-program's modules against a running service with the sandbox on:
//   MINIPROGRAM_E2E_BASE_URL=http://127.0.0.1:8000 node --test miniprogram/tests/
// Skipped without that variable. The `wx` stand-in forwards wx.request to real HTTP.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { createWx, loadModules, loadPage } = require('./wx-stub');

const BASE_URL = process.env.MINIPROGRAM_E2E_BASE_URL;
const skip = BASE_URL ? false : 'set MINIPROGRAM_E2E_BASE_URL to run against a live service';
// "username:password" of an operator (python -m app create-operator), for the licence flow.
const OPERATOR = process.env.MINIPROGRAM_E2E_OPERATOR;
const skipLicences = skip || (OPERATOR ? false : 'set MINIPROGRAM_E2E_OPERATOR=user:password for the licence flow');
const PSB = '11440100MB2C92470Y';
const CERTS = path.resolve(__dirname, '..', '..', 'certs', 'sandbox', 'licences');

async function waitFor(check, timeoutMs = 10000) {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function residentModules(wx) {
  global.wx = wx;
  const modules = loadModules({ sandbox: true });
  modules.config.baseUrl = BASE_URL;
  return modules;
}

async function operatorCall(token, method, urlPath, body) {
  const res = await fetch(`${BASE_URL}${urlPath}`, {
    method,
    headers: Object.assign({ 'Content-Type': 'application/json' }, token ? { Authorization: `Bearer ${token}` } : {}),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: res.status === 204 ? null : await res.json() };
}

function httpWx() {
  const wx = createWx({});
  wx.request = (options) => {
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
  };
  return wx;
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

test('a resident shows an identity licence, an inspector scans it twice, and the resident sees both checks', { skip: skipLicences }, async () => {
  const residentWx = httpWx();
  let modules = residentModules(residentWx);
  const idNo = idNumber();
  await modules.request.post('/api/v1/me/realname', { name: '张三', id_number: idNo });
  await require('../utils/face').verifyFace();

  const [username, password] = OPERATOR.split(':');
  const login = await operatorCall(null, 'POST', '/api/v1/auth/operator-login', { username, password });
  assert.equal(login.status, 200, JSON.stringify(login.body));
  const op = login.body.access_token;
  const typeCode = `11100000MB0143000Y${String(100 + Math.floor(Math.random() * 900))}`;
  const type = await operatorCall(op, 'PUT', `/api/v1/admin/licence-types/${typeCode}`, {
    name: '广东省居住证', department: '公安局', holder_kind: 'person', identity_class: true,
    field_schema: { permit_no: { label: '居住证号', required: true }, address: { label: '居住地址', required: true } },
    qr_fields: ['permit_no'], visible_fields: { inspector: ['permit_no'], department: ['permit_no', 'address'] },
  });
  assert.equal(type.status, 200, JSON.stringify(type.body));
  const issuer = await operatorCall(op, 'PUT', `/api/v1/admin/licence-issuers/${PSB}`, { name: '广州市公安局', region_code: '440100', licence_types: [typeCode] });
  assert.equal(issuer.status, 200, JSON.stringify(issuer.body));
  await operatorCall(op, 'POST', `/api/v1/admin/licence-issuers/${PSB}/keys`, {
    certificate_pem: fs.readFileSync(path.join(CERTS, 'gz-psb-2026.cert.pem'), 'utf8'), signs_from: '2026-01-01T00:00:00Z',
  });
  const issued = await operatorCall(op, 'POST', '/api/v1/admin/licences', {
    type_code: typeCode, issuer_code: PSB, serial: `JZ${Date.now()}`, holder: { name: '张三', id_number: idNo },
    region_code: '440106', data: { permit_no: '44010620260001', address: '广州市天河区体育西路1号' },
    valid_from: '2026-01-01', valid_until: '2028-12-31',
  });
  assert.equal(issued.status, 201, JSON.stringify(issued.body));
  const licenceId = issued.body.id;

  const wallet = loadPage('licences');
  wallet.onShow();
  await waitFor(() => wallet.data.personal.length > 0);
  const card = wallet.data.personal.find((l) => l.id === licenceId);
  assert.equal(card.typeName, '广东省居住证');
  assert.equal(card.statusView.text, '有效');
  assert.equal(card.validUntil, '2028-12-31');

  const show = loadPage('licence-show');
  show.onLoad({ id: String(licenceId) });
  show.onShow();
  await waitFor(() => show.data.state === 'showing');
  await waitFor(() => show.data.licence);
  assert.equal(show.data.licence.typeName, '广东省居住证');
  const payload = show.ticker.current.presentation.payload;
  assert.match(payload, /^LC1:/);
  assert.ok(show.data.secondsLeft > 20 && show.data.secondsLeft <= 30, `refresh in ${show.data.secondsLeft} s`);
  show.onUnload();

  const inspectorWx = httpWx();
  modules = residentModules(inspectorWx);
  const inspectorUser = await modules.request.login();
  const granted = await operatorCall(op, 'PUT', `/api/v1/admin/inspectors/${inspectorUser.id}`, { licence_types: [typeCode], regions: ['440100'] });
  assert.equal(granted.status, 200, JSON.stringify(granted.body));
  await modules.request.renewSession();
  inspectorWx.scanCode = (options) => options.success({ result: payload });
  inspectorWx.getLocation = (options) => options.success({ latitude: 23.1291, longitude: 113.2644 });
  const inspect = loadPage('inspect');
  inspect.onLocationSwitch({ detail: { value: true } });
  inspect.scan();
  await waitFor(() => inspect.data.result);
  assert.equal(inspect.data.result.valid, true, JSON.stringify(inspect.data.result));
  assert.ok(inspect.data.result.rows.some((r) => r.value === '44010620260001'));
  assert.ok(!inspect.data.result.rows.some((r) => /体育西路/.test(r.value)), 'the address is outside the inspector scope');
  inspect.scan();
  await waitFor(() => inspect.data.result && inspect.data.result.valid === false);
  assert.match(inspect.data.result.reason, /已被核验过/);

  residentModules(residentWx);
  const consents = loadPage('consents');
  consents.onLoad({ id: String(licenceId) });
  consents.onInput({ currentTarget: { dataset: { field: 'department' } }, detail: { value: '天河区政务服务中心' } });
  consents.onInput({ currentTarget: { dataset: { field: 'purpose' } }, detail: { value: '办理居住证签注' } });
  await consents.grant();
  assert.ok(consents.data.granted && consents.data.granted.code.length >= 16, JSON.stringify(consents.data));
  await waitFor(() => consents.data.consents.length === 1);
  assert.equal(consents.data.consents[0].stateText, '待使用');

  const usage = loadPage('usage');
  usage.onLoad({ id: String(licenceId) });
  await waitFor(() => !usage.data.loading);
  assert.equal(usage.data.failed, '');
  assert.deepEqual(usage.data.records.map((r) => r.valid).sort(), [false, true]);
  assert.ok(usage.data.records.some((r) => r.location === '北纬 23.1291，东经 113.2644'), JSON.stringify(usage.data.records));
});

// Needs the demo catalogue: python -m app seed-demo.
test('the catalogue: home zones for a district, a guide, a bundle and a pinyin search', { skip }, async () => {
  residentModules(httpWx());
  const app = { globalData: { region: '440106', audience: 'individual' }, savePreferences() {} };
  const home = loadPage('home', app);
  home.onLoad();
  await waitFor(() => !home.data.loading && home.data.regions.length > 0);
  assert.equal(home.data.failed, '');
  assert.equal(home.data.regionName, '天河区');
  assert.ok(home.data.zones.length >= 5, `${home.data.zones.length} zones`);
  const tiles = home.data.zones.flatMap((z) => z.entries);
  const serviceTile = tiles.find((t) => t.url && t.url.startsWith('/pages/service/'));
  const bundleTile = tiles.find((t) => t.url && t.url.startsWith('/pages/bundle/'));
  assert.ok(serviceTile && bundleTile, 'zones hold both guides and bundles');

  const service = loadPage('service');
  await service.onLoad({ code: decodeURIComponent(serviceTile.url.split('code=')[1]) });
  assert.equal(service.data.failed, '');
  assert.ok(service.data.guide.materials.length > 0);
  assert.ok(service.data.guide.basic.some((r) => r.label === '实施主体'));

  const bundle = loadPage('bundle', app);
  global.getApp = () => app;
  await bundle.onLoad({ id: bundleTile.url.split('id=')[1] });
  assert.equal(bundle.data.failed, '');
  assert.ok(bundle.data.bundle.items.length >= 2);
  assert.ok(bundle.data.bundle.steps.length >= 3);

  const search = loadPage('search', app);
  search.onLoad({ q: 'jsz' });
  await waitFor(() => search.data.searched);
  assert.ok(search.data.items.some((i) => i.name.includes('驾驶证')), JSON.stringify(search.data.items.slice(0, 3)));
});
