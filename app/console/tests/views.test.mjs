// Each console screen rendered in node (tests/dom-shim.mjs) against a scripted backend shaped
// like the real admin routes: renders, the main buttons call the right endpoints with the
// right bodies, and errors end up in a toast rather than an exception.
import test from 'node:test';
import assert from 'node:assert/strict';
import { installDom, byText, fieldByLabel } from './dom-shim.mjs';

const body = installDom();
const store = new Map();
globalThis.sessionStorage = {
  getItem: (key) => (store.has(key) ? store.get(key) : null),
  setItem: (key, value) => store.set(key, String(value)),
  removeItem: (key) => store.delete(key),
};
store.set('console.session', JSON.stringify({ accessToken: 'a1', refreshToken: 'r1', username: 'op' }));

let routes = {};
const calls = [];
globalThis.fetch = async (url, options) => {
  const [path, query = ''] = url.split('?');
  const call = { path, query: Object.fromEntries(new URLSearchParams(query)), method: options.method, body: options.body, headers: options.headers };
  calls.push(call);
  const handler = routes[`${options.method} ${path}`];
  const [status, payload, type = 'application/json'] = handler ? handler(call) : [404, { error: { code: 'not_found' }, request_id: 'r404' }];
  return new Response(status === 204 ? null : (typeof payload === 'string' ? payload : JSON.stringify(payload)), { status, headers: { 'Content-Type': type } });
};

function script(newRoutes) {
  routes = newRoutes;
  calls.length = 0;
  body.replaceChildren();
}

async function settle() {
  for (let i = 0; i < 10; i += 1) await new Promise((resolve) => setImmediate(resolve));
}

function toasts() {
  return body.all().filter((el) => el.className.startsWith('toast')).map((el) => `${el.className}: ${el.textContent}`);
}

const catalogueViews = await import('../static/views/catalogue.js');
const licenceViews = await import('../static/views/licences.js');
const paymentViews = await import('../static/views/payments.js');
const auditViews = await import('../static/views/audit.js');
const grantViews = await import('../static/views/grants.js');

const ITEM = {
  code: '11440100MB2C92470Y3440106001000', basic_code: '0001000', name: '机动车驾驶证换证', status: 'published',
  revision: 3, published_revision: 2, has_unpublished_changes: true, updated_at: '2026-11-21T06:00:00+00:00',
  content: { basic_code: '0001000', name: '机动车驾驶证换证', item_type: '行政许可', department_code: '11440100MB2C92470Y', region_code: '440106', audiences: ['individual'], aliases: ['换驾照'], guide: { materials: [{ name: '身份证', required: true }] } },
  pending_changes: { name: ['旧名', '机动车驾驶证换证'] },
};

test('items: list, open, save a draft against its revision, publish', async () => {
  const root = document.createElement('main');
  body.append(root);
  script({
    'GET /api/v1/admin/catalogue/items': () => [200, { page: 1, page_size: 50, total: 1, items: [ITEM] }],
    'GET /api/v1/admin/catalogue/items/11440100MB2C92470Y3440106001000': () => [200, ITEM],
    'PATCH /api/v1/admin/catalogue/items/11440100MB2C92470Y3440106001000': () => [200, { ...ITEM, revision: 4 }],
    'POST /api/v1/admin/catalogue/items/11440100MB2C92470Y3440106001000/publish': () => [200, { ...ITEM, status: 'published' }],
  });
  body.append(root);
  await catalogueViews.itemsList(root);
  assert.ok(root.textContent.includes('机动车驾驶证换证'));
  assert.ok(root.textContent.includes('有未发布修改'));

  await catalogueViews.itemEditor(root, ITEM.code);
  assert.equal(fieldByLabel(root, '俗称与同义词').value, '换驾照');
  assert.ok(root.textContent.includes('未发布的修改'));
  fieldByLabel(root, '事项名称').value = '机动车驾驶证换领';
  byText(root, 'button', '保存修改').click();
  await settle();
  const patch = calls.find((c) => c.method === 'PATCH');
  const sent = JSON.parse(patch.body);
  assert.equal(sent.revision, 3);
  assert.equal(sent.name, '机动车驾驶证换领');
  assert.deepEqual(sent.audiences, ['individual']);
  assert.deepEqual(sent.guide, ITEM.content.guide);
  assert.equal(sent.code, undefined, 'the code is the URL, not a change');

  byText(root, 'button', '发布修订 3').click();
  await settle();
  assert.deepEqual(JSON.parse(calls.find((c) => c.path.endsWith('/publish')).body), { revision: 3 });
});

test('items: a revision conflict is shown, not thrown', async () => {
  const root = document.createElement('main');
  script({
    'GET /api/v1/admin/catalogue/items/X1': () => [200, { ...ITEM, code: 'X1' }],
    'POST /api/v1/admin/catalogue/items/X1/publish': () => [409, { error: { code: 'revision_conflict', context: { expected: 3, current: 4 } }, request_id: 'rq' }],
  });
  body.append(root);
  await catalogueViews.itemEditor(root, 'X1');
  byText(root, 'button', '发布修订').click();
  await settle();
  assert.ok(toasts().some((t) => t.includes('toast-error') && t.includes('revision_conflict')), toasts().join('\n'));
});

test('zones: entries are reordered and saved in their new order with the revision', async () => {
  const root = document.createElement('main');
  script({
    'GET /api/v1/admin/catalogue/zones/5': () => [200, { id: 5, slug: 'elderly', title: '长者专区', audiences: ['individual'], region_code: '440000', status: 'draft', revision: 7,
      entries: [{ kind: 'service', basic_code: 'A1', bundle_slug: null, title: '' }, { kind: 'bundle', basic_code: null, bundle_slug: 'retire', title: '退休一件事' }] }],
    'PUT /api/v1/admin/catalogue/zones/5/entries': () => [200, {}],
  });
  body.append(root);
  await catalogueViews.zoneEditor(root, '5');
  byText(root, 'li', '事项 A1').all().find((el) => el.textContent === '↓').click();
  byText(root, 'button', '保存条目和顺序').click();
  await settle();
  const put = JSON.parse(calls.find((c) => c.method === 'PUT').body);
  assert.equal(put.revision, 7);
  assert.deepEqual(put.entries.map((e) => e.bundle_slug || e.basic_code), ['retire', 'A1']);
});

test('import: a rejected file shows every bad row', async () => {
  const root = document.createElement('main');
  script({
    'POST /api/v1/admin/catalogue/import': () => [422, { error: { code: 'import_rejected', context: { rows: 3, invalid_rows: 1, report: [{ row: 2, code: 'X', problems: [{ field: 'name', problem: 'required' }] }] } } }],
  });
  body.append(root);
  await catalogueViews.importExport(root);
  root.all().find((el) => el.tagName === 'TEXTAREA').value = '[{"code": "X"}]';
  byText(root, 'button', '导入').click();
  await settle();
  const call = calls.find((c) => c.path.endsWith('/import'));
  assert.equal(call.query.format, 'json');
  assert.equal(call.body, '[{"code": "X"}]', 'the raw file is the body');
  assert.ok(root.textContent.includes('name: required'));
  assert.ok(root.textContent.includes('整批未生效'));
});

test('licences: issuing builds the nested holder and a status change needs a reason', async () => {
  const root = document.createElement('main');
  script({
    'POST /api/v1/admin/licences': () => [201, { id: 42, identifier: '1.2.156.3005.2.X', status: 'active' }],
    'GET /api/v1/admin/licences/42/history': () => [200, { events: [{ kind: 'issued', at: '2026-11-21T06:00:00+00:00' }] }],
    'POST /api/v1/admin/licences/42/status': () => [200, {}],
  });
  body.append(root);
  await licenceViews.licencesView(root);
  fieldByLabel(root, '证照类型编码').value = '11100000MB0143000Y001';
  fieldByLabel(root, '发证机构信用代码').value = '11440000MB2C901609';
  fieldByLabel(root, '证照序号').value = 'JY1';
  fieldByLabel(root, '持证人/企业名称').value = '某某餐饮';
  fieldByLabel(root, '持证企业信用代码').value = '91440106MA5XXXXX0X';
  fieldByLabel(root, '发证地区编码').value = '440106';
  fieldByLabel(root, '有效期起').value = '2026-01-01';
  fieldByLabel(root, '证照内容').value = '{"licence_no": "JY1"}';
  byText(root, 'button', '签发').click();
  await settle();
  const issued = JSON.parse(calls.find((c) => c.path === '/api/v1/admin/licences').body);
  assert.deepEqual(issued.holder, { name: '某某餐饮', credit_code: '91440106MA5XXXXX0X' });
  assert.deepEqual(issued.data, { licence_no: 'JY1' });
  assert.equal(issued.version, '001');
  assert.ok(root.textContent.includes('证照 #42'));
  byText(root, 'button', '暂停').click();
  await settle();
  assert.equal(calls.filter((c) => c.path.endsWith('/status')).length, 0, 'no reason, no call');
  root.all().find((el) => el.getAttribute('placeholder') === '原因（必填，记入证照历史）').value = '整改期间';
  byText(root, 'button', '暂停').click();
  await settle();
  assert.deepEqual(JSON.parse(calls.find((c) => c.path.endsWith('/status')).body), { action: 'suspend', reason: '整改期间' });
});

test('payments: an order is shown with its refunds and a refund is sent in fen', async () => {
  const root = document.createElement('main');
  script({
    'GET /api/v1/admin/payment-stats': () => [200, { orders: { settled: 3, paying: 1 }, overdue_settlements: [] }],
    'GET /api/v1/admin/payments/P1': () => [200, { order_no: 'P1', status: 'settled', amount: 20600, refunded_amount: 0, refunds: [] }],
    'POST /api/v1/admin/payments/P1/refunds': () => [201, { refund_no: 'RF1' }],
  });
  body.append(root);
  await paymentViews.ordersView(root);
  assert.ok(root.textContent.includes('已入账'));
  root.all().find((el) => el.getAttribute('placeholder') === '订单号').value = 'P1';
  byText(root, 'button', '查询').click();
  await settle();
  assert.ok(root.textContent.includes('¥206.00'));
  fieldByLabel(root, '退款金额').value = '12.34';
  fieldByLabel(root, '退款原因').value = '多缴';
  byText(root, 'button', '发起退款').click();
  await settle();
  assert.deepEqual(JSON.parse(calls.find((c) => c.path.endsWith('/refunds')).body), { amount: 1234, reason: '多缴' });
});

test('payments: a reversal the agency has not answered can be asked again or abandoned with a reason', async () => {
  const root = document.createElement('main');
  const pending = { order_no: 'P7', status: 'refunding', amount: 20600, refunded_amount: 0, refunds: [],
    reversal: { status: 'pending', attempts: 4, last_error: 'timeout' } };
  script({
    'GET /api/v1/admin/payment-stats': () => [200, { orders: { refunding: 1 }, overdue_settlements: [] }],
    'GET /api/v1/admin/payments/P7': () => [200, pending],
    'POST /api/v1/admin/payments/P7/reversal/retry': () => [200, { status: 'pending' }],
    'POST /api/v1/admin/payments/P7/reversal/abandon': () => [200, { status: 'abandoned' }],
  });
  body.append(root);
  await paymentViews.ordersView(root);
  root.all().find((el) => el.getAttribute('placeholder') === '订单号').value = 'P7';
  byText(root, 'button', '查询').click();
  await settle();
  assert.ok(root.textContent.includes('等待缴费单位冲正（timeout，已尝试 4 次）'));
  byText(root, 'button', '立即重试冲正').click();
  await settle();
  assert.equal(calls.filter((c) => c.path.endsWith('/reversal/retry')).length, 1);
  byText(root, 'button', '放弃冲正').click();
  await settle();
  assert.equal(calls.filter((c) => c.path.endsWith('/reversal/abandon')).length, 0, 'no reason, no call');
  fieldByLabel(root, '放弃原因').value = '缴费单位系统停用';
  byText(root, 'button', '放弃冲正').click();
  await settle();
  assert.deepEqual(JSON.parse(calls.find((c) => c.path.endsWith('/reversal/abandon')).body), { reason: '缴费单位系统停用' });
});

test('reconciliation, audit and grants render and call their routes', async () => {
  const root = document.createElement('main');
  script({
    'GET /api/v1/admin/reconciliations': () => [200, { runs: [{ id: 1, day: '2026-11-20', status: 'finished', summary: { mismatches: { paid_twice: 1 } } }] }],
    'GET /api/v1/admin/reconciliations/1': () => [200, { id: 1, day: '2026-11-20', status: 'finished', items: [{ id: 9, kind: 'paid_twice', order_no: 'P2', expected_amount: 20000, actual_amount: 20000, proposed_refund_amount: 20000, detail: {} }] }],
    'POST /api/v1/admin/reconciliation-items/9/resolve': () => [200, {}],
    'GET /api/v1/admin/audit': (c) => [200, { events: c.query.before_seq ? [] : [{ seq: 2, at: '2026-11-21T06:00:00+00:00', kind: 'face_pass', actor_id: 1, subject: 'user:1', data: {} }] }],
    'PUT /api/v1/admin/inspectors/7': () => [200, {}],
  });
  body.append(root);
  await paymentViews.reconciliationsView(root);
  byText(root, 'button', '查看').click();
  await settle();
  assert.ok(root.textContent.includes('重复支付'));
  assert.ok(root.textContent.includes('建议退款 ¥200.00'));
  byText(root, 'button', '标记已处理').click();
  await settle();
  assert.ok(calls.some((c) => c.path.endsWith('/resolve')));

  await auditViews.auditView(root);
  assert.ok(root.textContent.includes('人脸核身通过'));

  await grantViews.grantsView(root);
  fieldByLabel(root, '用户编号').value = '7';
  fieldByLabel(root, '可核验的证照类型').value = 'T1\nT2';
  fieldByLabel(root, '可核验的地区编码').value = '440100';
  byText(root, 'button', '授予核验权限').click();
  await settle();
  assert.deepEqual(JSON.parse(calls.find((c) => c.path === '/api/v1/admin/inspectors/7').body), { licence_types: ['T1', 'T2'], regions: ['440100'] });
});

test('main: with a session the shell shows, and every nav entry renders its screen', async () => {
  script({});
  const fallback = (call) => [200, call.path.endsWith('/zones') ? { zones: [] } : {}];
  routes = new Proxy({}, { get: () => fallback });
  for (const id of ['login', 'shell', 'whoami', 'nav', 'view', 'login-error']) {
    const el = document.createElement(id === 'nav' ? 'nav' : 'div');
    el.setAttribute('id', id);
    body.append(el);
  }
  const loginForm = document.createElement('form');
  loginForm.setAttribute('id', 'login-form');
  const logout = document.createElement('button');
  logout.setAttribute('id', 'logout');
  body.append(loginForm, logout);
  await import('../static/main.js');
  await settle();
  const $ = (id) => document.getElementById(id);
  assert.equal($('shell').hidden, false);
  assert.equal($('login').hidden, true);
  assert.equal($('whoami').textContent, 'op');
  const links = $('nav').all().filter((el) => el.tagName === 'A').map((el) => el.getAttribute('href'));
  assert.ok(links.length >= 10, links.join(' '));
  for (const href of links) {
    window.location.hash = href;
    window.dispatch('hashchange');
    await settle();
    const view = $('view');
    assert.ok(!view.all().some((el) => el.className === 'error'), `${href}: ${view.textContent.slice(0, 200)}`);
    assert.ok(!view.textContent.includes('页面不存在'), href);
    assert.ok(view.all().some((el) => el.tagName === 'H2'), `${href} rendered a panel`);
    assert.equal($('nav').all().find((el) => el.className === 'active').getAttribute('href'), href);
  }
});
