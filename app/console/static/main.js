// Start-up, login and the hash router. Each screen lives in views/ and renders into #view.
import { auth } from './api.js';
import { h, clear, errorText } from './ui.js';
import * as catalogue from './views/catalogue.js';
import * as licences from './views/licences.js';
import * as payments from './views/payments.js';
import * as auditView from './views/audit.js';
import * as grants from './views/grants.js';

const NAV = [
  { group: '服务目录' },
  { path: '/catalogue/items', label: '服务事项', render: catalogue.itemsList },
  { path: '/catalogue/zones', label: '专区', render: catalogue.zonesList },
  { path: '/catalogue/bundles', label: '一件事', render: catalogue.bundlesList },
  { path: '/catalogue/import', label: '导入导出', render: catalogue.importExport },
  { path: '/catalogue/changes', label: '变更记录', render: catalogue.changesView },
  { group: '电子证照' },
  { path: '/licences/types', label: '类型、机构与密钥', render: licences.typesView },
  { path: '/licences/list', label: '签发与状态', render: licences.licencesView },
  { group: '缴费' },
  { path: '/payments/orders', label: '订单与退款', render: payments.ordersView },
  { path: '/payments/reconciliations', label: '对账', render: payments.reconciliationsView },
  { group: '安全与授权' },
  { path: '/grants', label: '企业与核验人员', render: grants.grantsView },
  { path: '/audit', label: '审计日志', render: auditView.auditView },
];

// Detail screens: a pattern with one parameter after a list path.
const DETAILS = [
  { prefix: '/catalogue/items/', render: catalogue.itemEditor, nav: '/catalogue/items' },
  { prefix: '/catalogue/zones/', render: catalogue.zoneEditor, nav: '/catalogue/zones' },
  { prefix: '/catalogue/bundles/', render: catalogue.bundleEditor, nav: '/catalogue/bundles' },
];

const $ = (id) => document.getElementById(id);

function currentPath() {
  return decodeURI(window.location.hash.replace(/^#/, '')) || NAV.find((n) => n.path).path;
}

function renderNav(active) {
  clear($('nav'), NAV.map((item) => (item.group
    ? h('div', { class: 'group' }, item.group)
    : h('a', { href: `#${item.path}`, class: item.path === active ? 'active' : '' }, item.label))));
}

async function route() {
  const path = currentPath();
  const view = $('view');
  const screen = NAV.find((n) => n.path === path);
  const detail = DETAILS.find((d) => path.startsWith(d.prefix) && path.length > d.prefix.length);
  renderNav(screen ? screen.path : detail ? detail.nav : '');
  clear(view, h('p', { class: 'muted' }, '加载中…'));
  try {
    if (screen) await screen.render(view);
    else if (detail) await detail.render(view, path.slice(detail.prefix.length));
    else clear(view, h('p', {}, '页面不存在'));
  } catch (err) {
    clear(view, h('p', { class: 'error' }, err.code ? errorText(err) : String(err.message || err)));
  }
}

function showLogin() {
  $('shell').hidden = true;
  $('login').hidden = false;
}

function showShell() {
  const session = auth.session();
  $('login').hidden = true;
  $('shell').hidden = false;
  $('whoami').textContent = session && session.username ? session.username : '';
  route();
}

function start() {
  $('login-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const data = new FormData(event.target);
    const button = event.target.querySelector('button');
    button.disabled = true;
    $('login-error').textContent = '';
    try {
      await auth.login(String(data.get('username')).trim(), String(data.get('password')));
      event.target.reset();
      showShell();
    } catch (err) {
      $('login-error').textContent = errorText(err);
    } finally {
      button.disabled = false;
    }
  });
  $('logout').addEventListener('click', () => auth.logout());
  auth.onLogout(showLogin);
  window.addEventListener('hashchange', () => {
    if (auth.session()) route();
  });
  if (auth.session()) showShell();
  else showLogin();
}

start();
