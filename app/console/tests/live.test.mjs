// Every console screen against a running service (with the demo catalogue seeded):
//   CONSOLE_E2E_BASE_URL=http://127.0.0.1:8000 CONSOLE_E2E_OPERATOR=user:password node --test app/console/tests/
// Skipped without them. Screens must render without an error toast.
import test from 'node:test';
import assert from 'node:assert/strict';
import { installDom, byText } from './dom-shim.mjs';

const BASE_URL = process.env.CONSOLE_E2E_BASE_URL;
const OPERATOR = process.env.CONSOLE_E2E_OPERATOR;
const skip = BASE_URL && OPERATOR ? false : 'set CONSOLE_E2E_BASE_URL and CONSOLE_E2E_OPERATOR=user:password';

async function setUp() {
  const body = installDom();
  const store = new Map();
  globalThis.sessionStorage = {
    getItem: (key) => (store.has(key) ? store.get(key) : null),
    setItem: (key, value) => store.set(key, String(value)),
    removeItem: (key) => store.delete(key),
  };
  const realFetch = globalThis.fetch;
  globalThis.fetch = (url, options) => realFetch(`${BASE_URL}${url}`, options);
  globalThis.URL.createObjectURL = () => 'blob:test';
  globalThis.URL.revokeObjectURL = () => {};
  const api = await import('../static/api.js');
  const [username, password] = OPERATOR.split(':');
  await api.auth.login(username, password);
  return body;
}

async function waitForIdle() {
  await new Promise((resolve) => setTimeout(resolve, 300));
}

function errorToasts(body) {
  return body.all().filter((el) => el.className === 'toast toast-error').map((el) => el.textContent);
}

test('every screen renders against the live service', { skip }, async () => {
  const body = await setUp();
  const catalogue = await import('../static/views/catalogue.js');
  const licences = await import('../static/views/licences.js');
  const payments = await import('../static/views/payments.js');
  const audit = await import('../static/views/audit.js');
  const grants = await import('../static/views/grants.js');
  const root = document.createElement('main');
  body.append(root);

  await catalogue.itemsList(root);
  const firstCode = root.all().find((el) => el.tagName === 'A' && el.className === 'mono').textContent;
  await catalogue.itemEditor(root, firstCode);
  assert.ok(root.textContent.includes('办事指南'));
  byText(root, 'button', '保存修改').click();
  await waitForIdle();
  byText(root, 'button', '版本与变更记录').click();
  await waitForIdle();
  assert.deepEqual(errorToasts(body), []);

  await catalogue.zonesList(root);
  assert.ok(root.all().some((el) => el.tagName === 'LI'), 'the home order of the province zones is listed');
  await catalogue.bundlesList(root);
  await catalogue.zoneEditor(root, '1');
  assert.ok(root.textContent.includes('专区条目'));
  await catalogue.importExport(root);
  byText(root, 'button', '导出 CSV').click();
  await waitForIdle();
  await catalogue.changesView(root);
  await licences.typesView(root);
  await licences.licencesView(root);
  await payments.ordersView(root);
  await payments.reconciliationsView(root);
  await audit.auditView(root);
  assert.ok(root.textContent.includes('运营人员登录'));
  await grants.grantsView(root);
  assert.deepEqual(errorToasts(body), []);
});
