'use strict';
const api = require('../../utils/request');
const { listOf } = require('../../utils/catalogue');

const app = getApp();
const MAX_QUERY_LENGTH = 100;

Page({
  data: { q: '', items: [], page: 1, total: 0, hasMore: false, loading: false, searched: false },

  onLoad(options) {
    if (options.q) {
      this.setData({ q: decodeURIComponent(options.q) });
      this.search();
    }
  },

  onInput(e) {
    this.setData({ q: e.detail.value.slice(0, MAX_QUERY_LENGTH) });
  },

  onConfirm() {
    this.search();
  },

  onReachBottom() {
    if (this.data.hasMore && !this.data.loading) this.search({ append: true });
  },

  async search({ append = false } = {}) {
    const q = this.data.q.trim();
    if (!q) return;
    const page = append ? this.data.page + 1 : 1;
    this.setData({ loading: true });
    try {
      const body = await api.publicGet('/api/v1/search', {
        q, region: app.globalData.region, audience: app.globalData.audience, page,
      });
      const found = listOf(body).map((item) => ({
        code: item.code,
        name: item.name,
        itemType: item.item_type,
        department: item.department ? item.department.name : '',
        region: item.region ? item.region.name : '',
      }));
      const items = append ? this.data.items.concat(found) : found;
      this.setData({ items, page, total: Number(body.total || items.length), hasMore: body.has_more === true, searched: true });
    } catch (err) {
      api.showError(err);
    } finally {
      this.setData({ loading: false });
    }
  },

  openItem(e) {
    wx.navigateTo({ url: `/pages/service/service?code=${encodeURIComponent(e.currentTarget.dataset.code)}` });
  },
});
