'use strict';
// Pages driven as the runtime would (onLoad, taps, setData) against a scripted backend.
const test = require('node:test');
const assert = require('node:assert/strict');
const { createWx, errorResponse, loadModules, loadPage, settle, waitFor } = require('./wx-stub');

function beijingIso(ms) {
  return `${new Date(ms + 8 * 3600 * 1000).toISOString().slice(0, 19)}+08:00`;
}

function presentation(n) {
  return {
    statusCode: 201,
    data: { payload: `LC1:ABC${n}`, refresh_after: beijingIso(Date.now() + 30000), expires_at: beijingIso(Date.now() + 90000) },
  };
}

function setup(routes, options) {
  const wx = createWx(routes);
  global.wx = wx;
  const modules = loadModules(options);
  modules.session.save({ access_token: 'access-1', refresh_token: 'refresh-1', expires_in: 900 });
  return Object.assign(modules, { wx });
}

test('licence show: draws the QR, counts down, and hides the code from screenshots', async () => {
  const { wx } = setup({
    'POST /api/v1/licences/7/presentations': () => presentation(1),
    'GET /api/v1/licences/7': () => ({ statusCode: 200, data: { id: 7, type: { code: 'T', name: '食品经营许可证', department: '市场监督管理局' }, holder: { kind: 'enterprise', name: '某某餐饮' }, status: 'active', valid_until: '2030-12-31', locked: false, data: {} } }),
  });
  const page = loadPage('licence-show');
  page.onLoad({ id: '7' });
  page.onShow();
  await settle();
  assert.equal(page.data.state, 'showing');
  assert.ok(page.data.secondsLeft >= 29 && page.data.secondsLeft <= 30);
  assert.ok(wx.canvas.painted > 100, 'the QR modules were painted');
  assert.equal(wx.canvas.width, 560);
  assert.deepEqual(page.data.licence, { typeName: '食品经营许可证', department: '市场监督管理局', holderName: '某某餐饮', validUntil: '2030-12-31', status: { text: '有效', tone: 'ok' } });
  assert.deepEqual(wx.ui.filter((u) => u[0] === 'captureEffect').map((u) => u[1]), ['hidden']);
  page.onUnload();
  assert.deepEqual(wx.ui.filter((u) => u[0] === 'captureEffect').map((u) => u[1]), ['hidden', 'none']);
});

test('licence show: face_verification_required runs the face check, then shows the code', async () => {
  let faceDone = false;
  const { wx, session } = setup({
    'POST /api/v1/licences/8/presentations': () => (faceDone ? presentation(2) : errorResponse(403, 'face_verification_required')),
    'POST /api/v1/auth/face/start': () => ({ statusCode: 200, data: { verify_id: 'v-9' } }),
    'POST /sandbox/wechat/face': () => ({ statusCode: 200, data: { verify_ret: 10000 } }),
    'POST /api/v1/auth/face/finish': () => {
      faceDone = true;
      return { statusCode: 200, data: { access_token: 'access-face', expires_in: 600 } };
    },
  }, { sandbox: true });
  // The face check's own screen hides the page and shows it again before finish has answered.
  const deliver = wx.request;
  let releaseFinish = null;
  wx.request = (options) => {
    if (options.url.endsWith('/auth/face/finish')) releaseFinish = () => deliver(options);
    else deliver(options);
  };
  const page = loadPage('licence-show');
  page.onLoad({ id: '8' });
  page.onShow();
  await waitFor(() => releaseFinish);
  page.onHide();
  page.onShow();
  await settle(20);
  releaseFinish();
  await settle(60);
  assert.equal(wx.ui.filter((u) => u[0] === 'modal').length, 1, 'one face check, not two');
  assert.equal(page.data.state, 'showing');
  assert.equal(session.accessToken(), 'access-face');
  assert.ok(wx.ui.some((u) => u[0] === 'modal' && /人脸核身/.test(u[1])), 'the person was asked first');
  page.onUnload();
});

test('licence show: a suspended licence shows why and stops', async () => {
  setup({ 'POST /api/v1/licences/9/presentations': () => errorResponse(409, 'licence_not_active') });
  const page = loadPage('licence-show');
  page.onLoad({ id: '9' });
  page.onShow();
  await settle();
  assert.equal(page.data.state, 'failed');
  assert.match(page.data.message, /暂停、吊销或过期/);
  page.onUnload();
});

test('licence show: a licence not yet valid says from when', async () => {
  setup({
    'POST /api/v1/licences/9/presentations': () => {
      const response = errorResponse(409, 'licence_not_active');
      response.data.error.context = { status: 'active', valid_from: '2026-12-01' };
      return response;
    },
  });
  const page = loadPage('licence-show');
  page.onLoad({ id: '9' });
  page.onShow();
  await settle();
  assert.equal(page.data.state, 'failed');
  assert.match(page.data.message, /尚未生效，2026-12-01 起/);
  page.onUnload();
});

test('payments: look up a fine, pay it with one key, and open the order page', async () => {
  const keys = [];
  const { wx } = setup({
    'GET /api/v1/fines': (call) => {
      assert.deepEqual(call.query, { decision_no: '440100000012345', plate: '粤A12345' });
      return { statusCode: 200, data: { bill_type: 'fine', bill_ref: '440100000012345', amount_due: 20600, principal: 20000, late_fee: 600, due_date: '2026-11-01', status: 'unpaid', description: '机动车违反禁令标志指示' } };
    },
    'POST /api/v1/payments': (call) => {
      keys.push(call.header['Idempotency-Key']);
      assert.deepEqual(call.data, { bill_type: 'fine', bill_ref: '440100000012345', channel: 'wechatpay', plate: '粤A12345' });
      return { statusCode: 201, data: { order_no: 'P100', amount: 20600, status: 'created', pay_params: { package: 'prepay_id=wx1', paySign: 's' } } };
    },
  }, { sandbox: false });
  wx.requestPayment = (options) => options.success({ errMsg: 'requestPayment:ok' });
  const page = loadPage('payments');
  page.onLoad();
  page.onInput({ currentTarget: { dataset: { field: 'decisionNo' } }, detail: { value: '440100000012345' } });
  page.onInput({ currentTarget: { dataset: { field: 'plate' } }, detail: { value: '粤a12345' } });
  await page.lookup();
  assert.equal(page.data.bill.amountText, '¥206.00');
  assert.equal(page.data.bill.lateFeeText, '¥6.00');
  await page.pay();
  assert.equal(keys.length, 1);
  assert.deepEqual(wx.ui.filter((u) => u[0] === 'navigateTo').map((u) => u[1]), ['/pages/payment/payment?order_no=P100']);
});

test('payments: a bill already being paid shows the Chinese reason', async () => {
  setup({
    'GET /api/v1/bills/9100000001': () => ({ statusCode: 200, data: { bill_type: 'tax', bill_ref: '9100000001', amount_due: 5000, principal: 5000, late_fee: 0, status: 'unpaid' } }),
    'POST /api/v1/payments': () => errorResponse(409, 'bill_being_paid'),
  });
  const page = loadPage('payments');
  page.onLoad();
  page.switchTab({ currentTarget: { dataset: { tab: 'notice' } } });
  page.onInput({ currentTarget: { dataset: { field: 'noticeCode' } }, detail: { value: '9100000001' } });
  await page.lookup();
  await page.pay();
  assert.match(page.data.message, /正在缴纳/);
});

test('payment: polls until settled and shows the receipt', async () => {
  const statuses = ['paid', 'settled'];
  setup({
    'GET /api/v1/payments/P7': () => ({ statusCode: 200, data: { order_no: 'P7', amount: 100, status: statuses.shift() || 'settled', bill_ref: 'B', paid_at: '2026-11-21T02:00:00+00:00', receipt: { receipt_no: 'R-1', payer: '张*', bill_code: '44010124', bill_no: '0000000001', amount: 100, items: [{ name: '罚没收入', amount: 100 }], signature: 'sig' } } }),
  });
  require('../config').paymentPollIntervalMs = 1;
  const page = loadPage('payment');
  page.onLoad({ order_no: 'P7' });
  await waitFor(() => page.data.final);
  assert.equal(page.data.statusText, '缴费成功');
  assert.equal(page.data.receipt.receiptNo, 'R-1');
  assert.deepEqual(page.data.receipt.rows.map((r) => r.label), ['票据代码', '票据号码', '交款人', '金额']);
  assert.deepEqual(page.data.receipt.items, [{ name: '罚没收入', amount: '¥1.00' }]);
  assert.ok(!JSON.stringify(page.data.receipt).includes('sig'), 'the signature is not shown');
  assert.equal(page.data.order.paidAt, '2026-11-21 10:00:00');
});

test('inspect: a valid code shows what the scope may see; a refusal shows the reason', async () => {
  let answer = { valid: true, checked_at: '2026-11-21T10:00:00+08:00', licence: { identifier: '1.2.156.3005.2.X', type: { name: '食品经营许可证' }, holder: { kind: 'enterprise', name: '某某餐饮', credit_code: '91440106MA5XXXXX0X' }, status: 'active', valid_until: '2030-12-31', data: { licence_no: 'JY1', scope: '热食类' } } };
  const { wx } = setup({ 'POST /api/v1/inspections': (call) => ({ statusCode: 200, data: Object.assign({ echo: call.data }, answer) }) });
  wx.scanCode = (options) => {
    assert.equal(options.onlyFromCamera, true);
    options.success({ result: 'LC1:XYZ' });
  };
  const page = loadPage('inspect');
  page.scan();
  await settle();
  assert.equal(page.data.result.valid, true);
  assert.equal(page.data.result.title, '食品经营许可证');
  assert.deepEqual(page.data.result.rows.find((r) => r.label === '证照编号'), { label: '证照编号', value: 'JY1' });
  assert.ok(page.data.result.rows.some((r) => r.value === '某某餐饮'));
  answer = { valid: false, reason: 'replayed', checked_at: '2026-11-21T10:00:05+08:00' };
  page.scan();
  await settle();
  assert.equal(page.data.result.valid, false);
  assert.match(page.data.result.reason, /已被核验过/);
});

test('me: a mistyped ID number is caught before sending; a good one is bound', async () => {
  const { wx } = setup({
    'GET /api/v1/me': () => ({ statusCode: 200, data: { id: 1, roles: ['resident'], realname_verified: false, face_verified_at: null } }),
    'POST /api/v1/me/realname': (call) => {
      assert.deepEqual(call.data, { name: '张三', id_number: '11010519491231002X' });
      return { statusCode: 200, data: { realname_verified: true } };
    },
  });
  const page = loadPage('me');
  page.onShow();
  await settle();
  page.onNameInput({ detail: { value: '张三' } });
  page.onIdInput({ detail: { value: '110105194912310021' } });
  await page.bindRealname();
  assert.match(page.data.formError, /身份证号码有误/);
  assert.equal(wx.calls.filter((c) => c.path === '/api/v1/me/realname').length, 0);
  page.onIdInput({ detail: { value: '11010519491231002x' } });
  await page.bindRealname();
  assert.equal(wx.calls.filter((c) => c.path === '/api/v1/me/realname').length, 1);
  assert.deepEqual(page.data.form, { name: '', idNumber: '' }, 'the ID number is cleared from the page');
});

test('home: the region picker lists the tree, zones come with tiles that open guides and bundles', async () => {
  const { wx } = setup({
    'GET /api/v1/regions': () => ({ statusCode: 200, data: { regions: [{ code: '440000', name: '广东省', level: 'province', children: [{ code: '440100', name: '广州市', level: 'city', children: [{ code: '440106', name: '天河区', level: 'county', children: [] }] }] }] } }),
    'GET /api/v1/zones': (call) => {
      assert.deepEqual(call.query, { region: '440106', audience: 'individual' });
      assert.equal(call.header.Authorization, undefined, 'catalogue reads need no login');
      return { statusCode: 200, data: { region: { code: '440106' }, zones: [{ id: 3, slug: 'births', title: '生育服务', entries: [
        { kind: 'service', title: '出生医学证明', code: 'S-1' },
        { kind: 'bundle', title: '出生一件事', bundle_id: 4, slug: 'newborn' },
      ] }] } };
    },
  });
  const app = { globalData: { region: '440106', audience: 'individual' }, savePreferences(changes) { Object.assign(this.globalData, changes); } };
  const page = loadPage('home', app);
  page.onLoad();
  await settle();
  assert.deepEqual(page.data.regions.map((r) => r.code), ['440000', '440100', '440106']);
  assert.equal(page.data.regionName, '天河区');
  assert.deepEqual(page.data.zones[0].entries.map((e) => e.url), ['/pages/service/service?code=S-1', '/pages/bundle/bundle?id=4']);
  page.openEntry({ currentTarget: { dataset: { url: '/pages/licences/licences' } } });
  assert.deepEqual(wx.ui[wx.ui.length - 1], ['switchTab', '/pages/licences/licences']);
});

test('search: results page through while the backend says there is more', async () => {
  setup({
    'GET /api/v1/search': (call) => ({ statusCode: 200, data: {
      total: 3, page: Number(call.query.page), has_more: call.query.page === '1',
      items: call.query.page === '1'
        ? [{ code: 'A', name: '机动车驾驶证换证', item_type: '行政许可', department: { name: '交警支队' }, region: { name: '广州市' } }, { code: 'B', name: '驾驶证补证' }]
        : [{ code: 'C', name: '驾驶证审验' }],
    } }),
  });
  const page = loadPage('search');
  page.onLoad({ q: encodeURIComponent('jsz') });
  await settle();
  assert.deepEqual(page.data.items.map((i) => i.code), ['A', 'B']);
  assert.equal(page.data.items[0].department, '交警支队');
  assert.equal(page.data.hasMore, true);
  page.onReachBottom();
  await settle();
  assert.deepEqual(page.data.items.map((i) => i.code), ['A', 'B', 'C']);
  assert.equal(page.data.hasMore, false);
});

test('service: the guide page shows the backend guide and the share path', async () => {
  setup({
    'GET /api/v1/services/S-1': () => ({ statusCode: 200, data: { code: 'S-1', name: '出生医学证明', audiences: ['individual'], guide: { materials: [{ name: '身份证', form: 'original', required: true }] } } }),
  });
  const page = loadPage('service');
  await page.onLoad({ code: 'S-1' });
  assert.equal(page.data.guide.materials[0].form, '原件');
  assert.equal(page.onShareAppMessage().path, '/pages/service/service?code=S-1');
});

test('payments: the history tab lists my orders and opens one', async () => {
  const { wx } = setup({
    'GET /api/v1/payments': () => ({ statusCode: 200, data: { payments: [{ order_no: 'P9', bill_type: 'tax', bill_ref: 'N1', amount: 5000, status: 'settled', created_at: '2026-11-21T02:00:00+00:00' }] } }),
  });
  const page = loadPage('payments');
  page.onLoad();
  page.switchTab({ currentTarget: { dataset: { tab: 'history' } } });
  await settle();
  assert.deepEqual(page.data.history, [{ orderNo: 'P9', typeLabel: '税款', billRef: 'N1', amountText: '¥50.00', statusText: '缴费成功', createdAt: '2026-11-21 10:00' }]);
  page.openOrder({ currentTarget: { dataset: { order: 'P9' } } });
  assert.deepEqual(wx.ui[wx.ui.length - 1], ['navigateTo', '/pages/payment/payment?order_no=P9']);
});

test('app launch: restores preferences and renews the session only when needed', async () => {
  const load = () => {
    let definition;
    global.App = (def) => { definition = def; };
    const file = require('path').resolve(__dirname, '..', 'app.js');
    delete require.cache[file];
    require(file);
    return definition;
  };
  const { wx, session } = setup({ 'POST /api/v1/auth/login': () => ({ statusCode: 200, data: { access_token: 'fresh', refresh_token: 'r', expires_in: 600, user: { id: 1 } } }) });
  wx.setStorageSync('preferences', { region: '440106', audience: 'enterprise' });
  const app = load();
  app.onLaunch();
  await settle();
  assert.deepEqual(app.globalData, { region: '440106', audience: 'enterprise' });
  assert.equal(wx.calls.length, 0, 'a valid session is left alone');
  session.clear();
  load().onLaunch();
  await settle();
  assert.deepEqual(wx.calls.map((c) => c.path), ['/api/v1/auth/login']);
  assert.equal(session.accessToken(), 'fresh');
});

test('consents: granting asks for a face check when needed, shows the code once, and can be revoked', async () => {
  let faced = false;
  let consents = [];
  const { wx } = setup({
    'GET /api/v1/licences/5/consents': () => ({ statusCode: 200, data: { consents } }),
    'POST /api/v1/licences/5/consents': (call) => {
      if (!faced) return errorResponse(403, 'face_verification_required');
      assert.deepEqual(call.data, { department: '天河区市场监督管理局', purpose: '办理许可变更', ttl_minutes: 1440 });
      consents = [{ id: 11, department: call.data.department, purpose: call.data.purpose, state: 'open', created_at: '2026-11-21T10:00:00+08:00', expires_at: '2026-11-22T10:00:00+08:00', used_at: null }];
      return { statusCode: 201, data: Object.assign({ code: 'one-time-code-123' }, consents[0]) };
    },
    'POST /api/v1/auth/face/start': () => ({ statusCode: 200, data: { verify_id: 'v1' } }),
    'POST /sandbox/wechat/face': () => ({ statusCode: 200, data: {} }),
    'POST /api/v1/auth/face/finish': () => { faced = true; return { statusCode: 200, data: { access_token: 'face', expires_in: 600 } }; },
    'DELETE /api/v1/licences/5/consents/11': () => { consents[0].state = 'revoked'; return { statusCode: 200, data: consents[0] }; },
  }, { sandbox: true });
  const page = loadPage('consents');
  page.onLoad({ id: '5' });
  await settle();
  page.onInput({ currentTarget: { dataset: { field: 'department' } }, detail: { value: '天河区市场监督管理局' } });
  page.onInput({ currentTarget: { dataset: { field: 'purpose' } }, detail: { value: '办理许可变更' } });
  page.onDurationChange({ detail: { value: '1' } });
  await page.grant();
  await settle();
  assert.equal(page.data.granted.code, 'one-time-code-123');
  assert.ok(wx.canvas.painted > 50, 'the code is drawn as a QR');
  assert.deepEqual(page.data.consents.map((c) => c.stateText), ['待使用']);
  page.revoke({ currentTarget: { dataset: { id: 11 } } });
  await settle(40);
  assert.deepEqual(page.data.consents.map((c) => c.stateText), ['已撤回']);
});

test('consents: a consent used meanwhile cannot be withdrawn; the list shows it as used', async () => {
  const consents = [{ id: 12, department: '某局', purpose: '核验', state: 'open', created_at: '2026-11-21T10:00:00+08:00', expires_at: '2026-11-22T10:00:00+08:00', used_at: null }];
  const { wx } = setup({
    'GET /api/v1/licences/5/consents': () => ({ statusCode: 200, data: { consents } }),
    'DELETE /api/v1/licences/5/consents/12': () => {
      Object.assign(consents[0], { state: 'used', used_at: '2026-11-21T11:00:00+08:00' });
      return errorResponse(409, 'consent_not_withdrawable');
    },
  });
  const page = loadPage('consents');
  page.onLoad({ id: '5' });
  await settle();
  assert.deepEqual(page.data.consents.map((c) => c.stateText), ['待使用']);
  page.revoke({ currentTarget: { dataset: { id: 12 } } });
  await settle(40);
  assert.ok(wx.ui.some(([, text]) => text === '该授权已被使用或已撤回，无法再撤回'));
  assert.deepEqual(page.data.consents.map((c) => c.stateText), ['已使用']);
});

test('inspect: with the location switch on, the check carries where it happened', async () => {
  let sent = null;
  const { wx } = setup({ 'POST /api/v1/inspections': (call) => { sent = call.data; return { statusCode: 200, data: { valid: false, reason: 'expired' } }; } });
  wx.getLocation = (options) => options.success({ latitude: 23.1291, longitude: 113.2644 });
  const page = loadPage('inspect');
  page.onLocationSwitch({ detail: { value: true } });
  await page.inspect('LC1:ABC');
  assert.deepEqual(sent, { payload: 'LC1:ABC', location: { latitude: 23.1291, longitude: 113.2644 } });
  wx.getLocation = (options) => options.fail({ errMsg: 'getLocation:fail auth deny' });
  await page.inspect('LC1:ABC');
  assert.deepEqual(sent, { payload: 'LC1:ABC' }, 'a refused location does not block the check');
  assert.match(page.data.result.reason, /已过期/);
});

test('payments: cancelling the pay sheet stays on the page, and paying again reuses the attempt', async () => {
  const keys = [];
  const { wx } = setup({
    'GET /api/v1/bills/N7': () => ({ statusCode: 200, data: { bill_type: 'fee', bill_ref: 'N7', amount_due: 3000, principal: 3000, late_fee: 0, status: 'unpaid' } }),
    'POST /api/v1/payments': (call) => {
      keys.push(call.header['Idempotency-Key']);
      return { statusCode: 201, data: { order_no: 'P77', amount: 3000, status: 'created', pay_params: { paySign: 's' } } };
    },
  }, { sandbox: false });
  let cancel = true;
  wx.requestPayment = (options) => (cancel ? options.fail({ errMsg: 'requestPayment:fail cancel' }) : options.success({}));
  const page = loadPage('payments');
  page.onLoad();
  page.switchTab({ currentTarget: { dataset: { tab: 'notice' } } });
  page.onInput({ currentTarget: { dataset: { field: 'noticeCode' } }, detail: { value: 'N7' } });
  await page.lookup();
  await page.pay();
  assert.match(page.data.message, /已取消支付/);
  assert.equal(wx.ui.filter((u) => u[0] === 'navigateTo').length, 0);
  cancel = false;
  await page.pay();
  assert.equal(keys.length, 2);
  assert.equal(keys[0], keys[1], 'the same attempt, the same key');
  assert.deepEqual(wx.ui.filter((u) => u[0] === 'navigateTo').map((u) => u[1]), ['/pages/payment/payment?order_no=P77']);
});
