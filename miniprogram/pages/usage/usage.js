'use strict';
const api = require('../../utils/request');
const { listOf } = require('../../utils/catalogue');
const { usageRecord } = require('../../utils/licences');
const { beijingTime } = require('../../utils/format');

Page({
  data: { records: [], loading: true, failed: '' },

  onLoad(options) {
    this.licenceId = decodeURIComponent(options.id || '');
    this.load();
  },

  onPullDownRefresh() {
    this.load().then(() => wx.stopPullDownRefresh());
  },

  async load() {
    try {
      const body = await api.get(`/api/v1/licences/${encodeURIComponent(this.licenceId)}/usage`);
      const records = listOf(body, 'inspections').map((r) => usageRecord(r, beijingTime(r.at, { withSeconds: true })));
      this.setData({ records, failed: '' });
    } catch (err) {
      this.setData({ failed: err.userMessage });
    } finally {
      this.setData({ loading: false });
    }
  },
});
