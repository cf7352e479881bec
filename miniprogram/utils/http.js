'use strict';
// wx.request as a promise. Network failures reject; every HTTP status resolves.
const config = require('../config');

function buildQuery(query) {
  if (!query) return '';
  const parts = [];
  Object.keys(query).forEach((key) => {
    const value = query[key];
    // Empty filters are left out rather than sent as "undefined" or "".
    if (value === undefined || value === null || value === '') return;
    parts.push(`${encodeURIComponent(key)}=${encodeURIComponent(String(value))}`);
  });
  return parts.length ? `?${parts.join('&')}` : '';
}

function headerValue(headers, name) {
  if (!headers) return undefined;
  const wanted = name.toLowerCase();
  const key = Object.keys(headers).find((candidate) => candidate.toLowerCase() === wanted);
  return key === undefined ? undefined : headers[key];
}

function send({ method = 'GET', path, query, data, header = {} }) {
  return new Promise((resolve, reject) => {
    wx.request({
      url: `${config.baseUrl}${path}${buildQuery(query)}`,
      method,
      data,
      header: Object.assign({ 'Content-Type': 'application/json' }, header),
      timeout: config.requestTimeoutMs,
      success: (res) => resolve({ statusCode: res.statusCode, data: res.data, header: res.header || {} }),
      fail: (err) => reject(err),
    });
  });
}

module.exports = { send, buildQuery, headerValue };
