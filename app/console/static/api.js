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

function currentAccessToken() {
  const session = loadSession();
  return session ? session.accessToken : null;
}

// One retry after a refresh when the access token has expired; any other 401 ends the session.
async function call(method, path, options = {}) {
  const usedToken = currentAccessToken();
  try {
    return await send(method, path, options);
  } catch (err) {
    if (err.status !== 401 || options.auth === false) throw err;
    if (err.code === 'token_expired') {
      // Another call may have refreshed while this one was in flight: then just retry.
      if (currentAccessToken() === usedToken) {
        try {
          await refreshOnce();
        } catch (refreshError) {
          endSession();
          throw refreshError;
        }
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

const CATALOGUE = `${ADMIN}/catalogue`;

export const catalogue = {
  // Public reads, for pickers and for finding published items by name.
  regions: () => get('/api/v1/regions'),
  search: (q, page = 1) => get('/api/v1/search', { q, page }),
  publishedZones: (region, audience) => get('/api/v1/zones', { region, audience }),

  listItems: ({ status, page, pageSize } = {}) => get(`${CATALOGUE}/items`, { status, page, page_size: pageSize }),
  getItem: (code) => get(`${CATALOGUE}/items/${seg(code)}`),
  createItem: (data) => post(`${CATALOGUE}/items`, data),
  updateItem: (code, revision, changes) => call('PATCH', `${CATALOGUE}/items/${seg(code)}`, { body: { revision, ...changes } }),
  publishItem: (code, revision) => post(`${CATALOGUE}/items/${seg(code)}/publish`, { revision }),
  retireItem: (code, revision) => post(`${CATALOGUE}/items/${seg(code)}/retire`, { revision }),
  itemVersions: (code) => get(`${CATALOGUE}/items/${seg(code)}/versions`),
  createDepartment: (data) => post(`${CATALOGUE}/departments`, data),

  listZones: () => get(`${CATALOGUE}/zones`),
  getZone: (id) => get(`${CATALOGUE}/zones/${seg(id)}`),
  createZone: (data) => post(`${CATALOGUE}/zones`, data),
  updateZone: (id, revision, changes) => call('PATCH', `${CATALOGUE}/zones/${seg(id)}`, { body: { revision, ...changes } }),
  setZoneEntries: (id, revision, entries) => put(`${CATALOGUE}/zones/${seg(id)}/entries`, { revision, entries }),
  setZoneStatus: (id, action, revision) => post(`${CATALOGUE}/zones/${seg(id)}/${action}`, { revision }),
  orderZones: (zoneIds) => put(`${CATALOGUE}/zones/order`, { zone_ids: zoneIds }),

  listBundles: () => get(`${CATALOGUE}/bundles`),
  getBundle: (id) => get(`${CATALOGUE}/bundles/${seg(id)}`),
  createBundle: (data) => post(`${CATALOGUE}/bundles`, data),
  updateBundle: (id, revision, changes) => call('PATCH', `${CATALOGUE}/bundles/${seg(id)}`, { body: { revision, ...changes } }),
  setBundleStatus: (id, action, revision) => post(`${CATALOGUE}/bundles/${seg(id)}/${action}`, { revision }),

  importItems: (format, text, { publish = false } = {}) => call('POST', `${CATALOGUE}/import`, {
    query: { format, publish: publish ? 'true' : undefined },
    text,
    contentType: format === 'csv' ? 'text/csv; charset=utf-8' : 'application/json',
  }),
  exportItems: (format, status) => call('GET', `${CATALOGUE}/export`, { query: { format, status }, raw: true }),
  changes: ({ entity, key, limit = 100 } = {}) => get(`${CATALOGUE}/changes`, { entity, key, limit }),
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
  retryReversal: (orderNo) => post(`${ADMIN}/payments/${seg(orderNo)}/reversal/retry`),
  abandonReversal: (orderNo, reason) => post(`${ADMIN}/payments/${seg(orderNo)}/reversal/abandon`, { reason }),
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

