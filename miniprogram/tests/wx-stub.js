'use strict';
// A stand-in for the mini-program's `wx` global: in-memory storage and a scripted backend.
// Each route handler gets the request and returns {statusCode, data, header} (or throws to
// simulate a network failure).

function createWx(routes) {
  const storage = new Map();
  const calls = [];
  const ui = [];
  const wx = {
    calls,
    ui,
    storage,
    getStorageSync: (key) => (storage.has(key) ? storage.get(key) : ''),
    setStorageSync: (key, value) => storage.set(key, value),
    removeStorageSync: (key) => storage.delete(key),
    showToast: (options) => ui.push(['toast', options.title]),
    // Dialogs are confirmed unless a test sets wx.modalAnswer = false.
    showModal(options) {
      ui.push(['modal', options.content]);
      if (options.success) setImmediate(() => options.success({ confirm: wx.modalAnswer !== false, cancel: wx.modalAnswer === false }));
    },
    navigateTo: (options) => ui.push(['navigateTo', options.url]),
    switchTab: (options) => ui.push(['switchTab', options.url]),
    setNavigationBarTitle: (options) => ui.push(['title', options.title]),
    stopPullDownRefresh: () => {},
    setKeepScreenOn: (options) => ui.push(['keepScreenOn', options.keepScreenOn]),
    setVisualEffectOnCapture: (options) => ui.push(['captureEffect', options.visualEffect]),
    vibrateShort: () => {},
    setClipboardData: (options) => ui.push(['clipboard', options.data]),
    getWindowInfo: () => ({ pixelRatio: 2 }),
    // A canvas node that counts what is painted on it.
    canvas: { width: 0, height: 0, painted: 0, getContext: () => ({ fillStyle: '', fillRect: () => { wx.canvas.painted += 1; } }) },
    createSelectorQuery() {
      const query = {
        in: () => query,
        select: () => query,
        fields: () => query,
        exec: (callback) => callback([{ node: wx.canvas, width: 280, height: 280 }]),
      };
      return query;
    },
    login: ({ success }) => success({ code: 'wx-login-code' }),
    request(options) {
      const url = new URL(options.url);
      const call = {
        method: options.method,
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        data: options.data,
        header: Object.assign({}, options.header),
      };
      calls.push(call);
      const handler = routes[`${call.method} ${call.path}`];
      setImmediate(() => {
        if (!handler) {
          options.success({ statusCode: 404, data: { error: { code: 'not_found' }, request_id: 'r-404' }, header: {} });
          return;
        }
        let res;
        try {
          res = handler(call);
        } catch (err) {
          options.fail({ errMsg: 'request:fail' });
          return;
        }
        options.success(Object.assign({ header: {} }, res));
      });
    },
  };
  return wx;
}

function errorResponse(statusCode, code, requestId = 'req-1', header = {}) {
  return { statusCode, data: { error: { code, message: code, context: {} }, request_id: requestId }, header };
}

function tokens(suffix, extra = {}) {
  return {
    statusCode: 200,
    data: Object.assign({
      access_token: `access-${suffix}`,
      refresh_token: `refresh-${suffix}`,
      expires_in: 900,
      user: { id: 'u1', roles: ['resident'], realname_verified: false, face_verified_at: null },
    }, extra),
  };
}

// Fresh copies of the modules for each test, so no single-flight state leaks between tests.
function loadModules({ sandbox = false } = {}) {
  const root = require('path').resolve(__dirname, '..');
  Object.keys(require.cache).forEach((key) => {
    if (key.startsWith(root) && !key.includes(`${require('path').sep}tests${require('path').sep}`)) delete require.cache[key];
  });
  const config = require('../config');
  config.baseUrl = 'http://backend.test';
  config.sandbox = sandbox;
  return {
    config,
    request: require('../utils/request'),
    session: require('../utils/session'),
  };
}

// Loads a page file as the mini-program runtime would: Page(definition) registers it, and
// setData merges into data (dotted paths included).
function loadPage(name, app = { globalData: { region: null, audience: 'individual' }, savePreferences() {} }) {
  let definition = null;
  global.Page = (def) => { definition = def; };
  global.getApp = () => app;
  const file = require('path').resolve(__dirname, '..', 'pages', name, `${name}.js`);
  delete require.cache[file];
  require(file);
  const page = Object.assign({}, definition);
  page.data = JSON.parse(JSON.stringify(definition.data || {}));
  page.setData = (changes, callback) => {
    Object.entries(changes).forEach(([key, value]) => {
      const parts = key.split('.');
      let target = page.data;
      parts.slice(0, -1).forEach((part) => { target = target[part]; });
      target[parts[parts.length - 1]] = value;
    });
    if (callback) callback();
  };
  return page;
}

// Lets pending promise chains and setImmediate callbacks run.
async function settle(rounds = 20) {
  for (let i = 0; i < rounds; i += 1) await new Promise((resolve) => setImmediate(resolve));
}

// For code paths that wait on real timers (polling): check until true or time out.
async function waitFor(check, timeoutMs = 5000) {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

module.exports = { createWx, errorResponse, tokens, loadModules, loadPage, settle, waitFor };
