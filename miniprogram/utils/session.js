'use strict';
// Tokens and the signed-in user, kept in the mini-program's local storage.
const STORAGE_KEY = 'session';

function load() {
  const stored = wx.getStorageSync(STORAGE_KEY);
  return stored && typeof stored === 'object' ? stored : null;
}

// Login and refresh return a full pair; face/finish returns only a new access token.
function save(tokens) {
  const current = load() || {};
  const next = {
    accessToken: tokens.access_token,
    refreshToken: tokens.refresh_token || current.refreshToken || null,
    accessExpiresAt: tokens.expires_in
      ? Date.now() + Number(tokens.expires_in) * 1000
      : current.accessExpiresAt || Date.now(),
    user: tokens.user || current.user || null,
  };
  wx.setStorageSync(STORAGE_KEY, next);
  return next;
}

function clear() {
  wx.removeStorageSync(STORAGE_KEY);
}

function accessToken() {
  const current = load();
  return current ? current.accessToken : null;
}

function refreshToken() {
  const current = load();
  return current ? current.refreshToken : null;
}

function expiresWithin(seconds) {
  const current = load();
  if (!current || !current.accessToken) return true;
  return current.accessExpiresAt - Date.now() <= seconds * 1000;
}

function user() {
  const current = load();
  return current ? current.user : null;
}

module.exports = { load, save, clear, accessToken, refreshToken, expiresWithin, user };
