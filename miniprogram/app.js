'use strict';
const api = require('./utils/request');

App({
  globalData: {
    // The home's region and audience; kept across launches.
    region: null,
    audience: 'individual',
  },

  onLaunch() {
    const saved = wx.getStorageSync('preferences');
    if (saved && typeof saved === 'object') Object.assign(this.globalData, saved);
    // Log in silently at launch so the first tap does not wait for it. A failure here is not
    // shown: the catalogue works without an account, and the next account call tries again.
    api.login().catch(() => {});
  },

  savePreferences(changes) {
    Object.assign(this.globalData, changes);
    wx.setStorageSync('preferences', { region: this.globalData.region, audience: this.globalData.audience });
  },
});
