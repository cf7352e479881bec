'use strict';
const api = require('../../utils/request');
const { bundleView } = require('../../utils/guide');

const app = getApp();

Page({
  data: { bundle: null, failed: '' },

  async onLoad(options) {
    this.id = decodeURIComponent(options.id || '');
    try {
      // The bundle's items are the implementations for the resident's region.
      const body = await api.publicGet(`/api/v1/bundles/${encodeURIComponent(this.id)}`, { region: app.globalData.region });
      const bundle = bundleView(body);
      wx.setNavigationBarTitle({ title: bundle.title || '一件事' });
      this.setData({ bundle });
    } catch (err) {
      this.setData({ failed: err.userMessage });
    }
  },

  openItem(e) {
    wx.navigateTo({ url: `/pages/service/service?code=${encodeURIComponent(e.currentTarget.dataset.code)}` });
  },

  onShareAppMessage() {
    return { title: this.data.bundle ? this.data.bundle.title : '一件事', path: `/pages/bundle/bundle?id=${encodeURIComponent(this.id)}` };
  },
});
