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
      const licences = listOf(await api.get('/api/v1/licences'), 'licences').map((licence) => ({
        id: licence.id,
        typeName: (licence.type && licence.type.name) || '电子证照',
        department: (licence.type && licence.type.department) || '',
        holderName: (licence.holder && licence.holder.name) || '',
        holderKind: (licence.holder && licence.holder.kind) || 'person',
        status: licence.status,
        statusView: statusView(licence.status),
        validUntil: licence.valid_until ? beijingDate(licence.valid_until) : '长期',
        // Identity licences hide their fields until a recent face check.
        locked: licence.locked === true,
      }));
      this.setData({
        personal: licences.filter((l) => l.holderKind !== 'enterprise'),
        enterprise: licences.filter((l) => l.holderKind === 'enterprise'),
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

  consents(e) {
    wx.navigateTo({ url: `/pages/consents/consents?id=${encodeURIComponent(e.currentTarget.dataset.id)}` });
  },
});
