'use strict';
const api = require('../../utils/request');
const { guideView } = require('../../utils/guide');
const { listOf } = require('../../utils/catalogue');

Page({
  data: { bundle: null, items: [], guide: null, failed: '' },

  async onLoad(options) {
    this.id = decodeURIComponent(options.id || '');
    try {
      const bundle = await api.publicGet(`/api/v1/bundles/${encodeURIComponent(this.id)}`);
      wx.setNavigationBarTitle({ title: bundle.name || bundle.title || '一件事' });
      // The bundle's merged materials and single flow read like one guide.
      this.setData({ bundle, items: listOf(bundle.items), guide: guideView(bundle) });
    } catch (err) {
      this.setData({ failed: err.userMessage });
    }
  },

  openItem(e) {
    wx.navigateTo({ url: `/pages/service/service?code=${encodeURIComponent(e.currentTarget.dataset.code)}` });
  },

  onShareAppMessage() {
    return { title: this.data.bundle ? this.data.bundle.name : '一件事', path: `/pages/bundle/bundle?id=${encodeURIComponent(this.id)}` };
  },
});
