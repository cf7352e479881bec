'use strict';
const api = require('../../utils/request');
const { listOf } = require('../../utils/catalogue');
const { statusView } = require('../../utils/licences');
const { beijingDate } = require('../../utils/format');

Page({
  data: { personal: [], enterprise: [], loading: true, failed: '' },

  onShow() {
    this.load();
  },

  onPullDownRefresh() {
    this.load().then(() => wx.stopPullDownRefresh());
  },

  async load() {
    this.setData({ failed: '' });
    try {
      const licences = listOf(await api.get('/api/v1/licences')).map((licence) => Object.assign({}, licence, {
        statusView: statusView(licence.status),
        validUntil: beijingDate(licence.valid_until),
      }));
      this.setData({
        personal: licences.filter((l) => l.holder_kind !== 'enterprise'),
        enterprise: licences.filter((l) => l.holder_kind === 'enterprise'),
      });
    } catch (err) {
      this.setData({ failed: err.userMessage });
    } finally {
      this.setData({ loading: false });
    }
  },

  show(e) {
    wx.navigateTo({ url: `/pages/licence-show/licence-show?id=${encodeURIComponent(e.currentTarget.dataset.id)}` });
  },

  usage(e) {
    wx.navigateTo({ url: `/pages/usage/usage?id=${encodeURIComponent(e.currentTarget.dataset.id)}` });
  },
});
