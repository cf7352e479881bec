'use strict';
const api = require('../../utils/request');
const { guideView } = require('../../utils/guide');

Page({
  data: { guide: null, failed: '' },

  async onLoad(options) {
    this.code = decodeURIComponent(options.code || '');
    try {
      const item = await api.publicGet(`/api/v1/services/${encodeURIComponent(this.code)}`);
      this.setData({ guide: guideView(item) });
      wx.setNavigationBarTitle({ title: item.name || '办事指南' });
    } catch (err) {
      this.setData({ failed: err.userMessage });
    }
  },

  onShareAppMessage() {
    return { title: this.data.guide ? this.data.guide.name : '办事指南', path: `/pages/service/service?code=${encodeURIComponent(this.code)}` };
  },
});
