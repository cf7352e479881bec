'use strict';
const api = require('./utils/request');
const config = require('./config');
const session = require('./utils/session');

App({
  globalData: {
    // The home's region and audience; kept across launches.
    region: null,
    audience: 'individual',
  },

  onLaunch() {
    const saved = wx.getStorageSync('preferences');
    if (saved && typeof saved === 'object') Object.assign(this.globalData, saved);
    // Renew (or first create) the session at launch so the first tap does not wait for it. A
    // failure is not shown: the catalogue works without an account, and the next call retries.
    if (session.expiresWithin(config.refreshLeewaySeconds)) api.renewSession().catch(() => {});
  },

  savePreferences(changes) {
    Object.assign(this.globalData, changes);
    wx.setStorageSync('preferences', { region: this.globalData.region, audience: this.globalData.audience });
  },
});
