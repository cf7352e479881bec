'use strict';
const api = require('../../utils/request');
const { entryUrl, listOf } = require('../../utils/catalogue');
const nav = require('../../utils/nav');

Page({
  data: { zone: null, entries: [], failed: '' },

  async onLoad(options) {
    try {
      const zone = await api.publicGet(`/api/v1/zones/${encodeURIComponent(options.id)}`, { region: getApp().globalData.region });
      wx.setNavigationBarTitle({ title: zone.title || '专区' });
      const entries = listOf(zone.entries).map((entry) => Object.assign({}, entry, { url: entryUrl(entry) }));
      this.setData({ zone, entries });
    } catch (err) {
      this.setData({ failed: err.userMessage });
    }
  },

  openEntry(e) {
    nav.open(e.currentTarget.dataset.url);
  },
});
