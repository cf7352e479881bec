// Every call the console makes, in one place, so a renamed admin route is a one-line change.
// Tokens live in sessionStorage: closing the tab ends the operator's session on this machine.

const SESSION_KEY = 'console.session';
const listeners = new Set();

export class ApiError extends Error {
  constructor({ status, code, serverMessage, requestId, context }) {
    super(`${code}: ${serverMessage || ''}`);
    this.status = status;
    this.code = code;
    this.serverMessage = serverMessage;
    this.requestId = requestId;
    this.context = context || {};
  }
}

function loadSession() {
  try {
    return JSON.parse(sessionStorage.getItem(SESSION_KEY) || 'null');
  } catch {
    return null;
  }
}

function saveSession(tokens) {
  const current = loadSession() || {};
  const next = {
    accessToken: tokens.access_token,
    refreshToken: tokens.refresh_token || current.refreshToken,
    user: tokens.user || current.user || null,
    username: tokens.username || current.username || null,
  };
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(next));
  return next;
}

function endSession() {
  sessionStorage.removeItem(SESSION_KEY);
  listeners.forEach((fn) => fn());
}

function queryString(query) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== '') params.append(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

async function toError(response) {
  let body = {};
  try {
    body = await response.json();
  } catch {
    body = {};
  }
  const error = body.error || {};
  return new ApiError({
    status: response.status,
    code: error.code || (response.status >= 500 ? 'internal_error' : 'unknown_error'),
    serverMessage: error.message,
    requestId: body.request_id || response.headers.get('X-Request-ID'),
    context: error.context,
  });
}

async function send(method, path, { query, body, text, contentType, auth = true, raw = false } = {}) {
  const headers = {};
  if (auth) {
    const session = loadSession();
    if (session) headers.Authorization = `Bearer ${session.accessToken}`;
  }
  let payload;
  if (text !== undefined) {
    payload = text;
    headers['Content-Type'] = contentType || 'text/plain; charset=utf-8';
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers['Content-Type'] = 'application/json';
  }
  let response;
  try {
    response = await fetch(`${path}${queryString(query)}`, { method, headers, body: payload, credentials: 'omit' });
  } catch {
    throw new ApiError({ status: 0, code: 'network_error' });
  }
  if (!response.ok) throw await toError(response);
  if (raw) return response;
  if (response.status === 204) return null;
  const type = response.headers.get('Content-Type') || '';
  return type.includes('json') ? response.json() : response.text();
}

let refreshing = null;

async function refreshOnce() {
  if (!refreshing) {
    const session = loadSession();
    refreshing = (session && session.refreshToken
      ? send('POST', '/api/v1/auth/refresh', { body: { refresh_token: session.refreshToken }, auth: false }).then(saveSession)
      : Promise.reject(new ApiError({ status: 401, code: 'unauthorized' })))
      .finally(() => { refreshing = null; });
  }
  return refreshing;
}

// One retry after a refresh when the access token has expired; any other 401 ends the session.
async function call(method, path, options = {}) {
  try {
    return await send(method, path, options);
  } catch (err) {
    if (err.status !== 401 || options.auth === false) throw err;
    if (err.code === 'token_expired') {
      try {
        await refreshOnce();
      } catch (refreshError) {
        endSession();
        throw refreshError;
      }
      return send(method, path, options);
    }
    endSession();
    throw err;
  }
}

const get = (path, query) => call('GET', path, { query });
const post = (path, body) => call('POST', path, { body: body ?? {} });
const put = (path, body) => call('PUT', path, { body });
const del = (path) => call('DELETE', path);
const seg = encodeURIComponent;

const ADMIN = '/api/v1/admin';

export const auth = {
  async login(username, password) {
    const tokens = await send('POST', '/api/v1/auth/operator-login', { body: { username, password }, auth: false });
    return saveSession({ ...tokens, username });
  },
  async logout() {
    try {
      await send('POST', '/api/v1/auth/logout', { body: {} });
    } finally {
      endSession();
    }
  },
  session: loadSession,
  onLogout(fn) {
    listeners.add(fn);
  },
};

export const catalogue = {
  regions: () => get('/api/v1/regions'),
  departments: () => get(`${ADMIN}/departments`),
  listItems: ({ q, status, page } = {}) => get(`${ADMIN}/services`, { q, status, page }),
  getItem: (code) => get(`${ADMIN}/services/${seg(code)}`),
  createItem: (data) => post(`${ADMIN}/services`, data),
  updateItem: (code, data) => put(`${ADMIN}/services/${seg(code)}`, data),
  previewItem: (code) => get(`${ADMIN}/services/${seg(code)}/preview`),
  publishItem: (code) => post(`${ADMIN}/services/${seg(code)}/publish`),
  retireItem: (code) => post(`${ADMIN}/services/${seg(code)}/retire`),
  itemHistory: (code) => get(`${ADMIN}/services/${seg(code)}/versions`),

  listZones: (query = {}) => get(`${ADMIN}/zones`, query),
  getZone: (id) => get(`${ADMIN}/zones/${seg(id)}`),
  createZone: (data) => post(`${ADMIN}/zones`, data),
  updateZone: (id, data) => put(`${ADMIN}/zones/${seg(id)}`, data),
  reorderZone: (id, entries) => put(`${ADMIN}/zones/${seg(id)}/entries`, { entries }),
  publishZone: (id) => post(`${ADMIN}/zones/${seg(id)}/publish`),
  retireZone: (id) => post(`${ADMIN}/zones/${seg(id)}/retire`),

  listBundles: (query = {}) => get(`${ADMIN}/bundles`, query),
  getBundle: (id) => get(`${ADMIN}/bundles/${seg(id)}`),
  createBundle: (data) => post(`${ADMIN}/bundles`, data),
  updateBundle: (id, data) => put(`${ADMIN}/bundles/${seg(id)}`, data),
  publishBundle: (id) => post(`${ADMIN}/bundles/${seg(id)}/publish`),
  retireBundle: (id) => post(`${ADMIN}/bundles/${seg(id)}/retire`),

  importItems: (format, text, { dryRun = false } = {}) => call('POST', `${ADMIN}/services/import`, {
    query: { format, dry_run: dryRun ? 'true' : undefined },
    text,
    contentType: format === 'csv' ? 'text/csv; charset=utf-8' : 'application/json',
  }),
  exportItems: (format) => call('GET', `${ADMIN}/services/export`, { query: { format }, raw: true }),
};

export const licences = {
  putType: (code, data) => put(`${ADMIN}/licence-types/${seg(code)}`, data),
  putIssuer: (creditCode, data) => put(`${ADMIN}/licence-issuers/${seg(creditCode)}`, data),
  addIssuerKey: (creditCode, certificatePem, signsFrom) => post(`${ADMIN}/licence-issuers/${seg(creditCode)}/keys`,
    { certificate_pem: certificatePem, signs_from: signsFrom || null }),
  retireIssuerKey: (creditCode, kid) => post(`${ADMIN}/licence-issuers/${seg(creditCode)}/keys/${seg(kid)}/retire`),
  issue: (data) => post(`${ADMIN}/licences`, data),
  changeStatus: (id, action, reason) => post(`${ADMIN}/licences/${seg(id)}/status`, { action, reason }),
  history: (id) => get(`${ADMIN}/licences/${seg(id)}/history`),
};

export const payments = {
  getOrder: (orderNo) => get(`${ADMIN}/payments/${seg(orderNo)}`),
  refund: (orderNo, amount, reason) => post(`${ADMIN}/payments/${seg(orderNo)}/refunds`, { amount, reason }),
  stats: () => get(`${ADMIN}/payment-stats`),
  reconcile: (date) => post(`${ADMIN}/reconciliations`, { date }),
  listReconciliations: (date) => get(`${ADMIN}/reconciliations`, { date }),
  getReconciliation: (id) => get(`${ADMIN}/reconciliations/${seg(id)}`),
  resolveItem: (id) => post(`${ADMIN}/reconciliation-items/${seg(id)}/resolve`),
};

export const audit = {
  list: ({ beforeSeq, limit = 50 } = {}) => get(`${ADMIN}/audit`, { before_seq: beforeSeq, limit }),
};

export const grants = {
  registerEnterprise: (data) => post(`${ADMIN}/enterprises`, data),
  grantInspector: (userId, scope) => put(`${ADMIN}/inspectors/${seg(userId)}`, scope),
  revokeInspector: (userId) => del(`${ADMIN}/inspectors/${seg(userId)}`),
};

