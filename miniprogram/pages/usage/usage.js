'use strict';
const api = require('../../utils/request');
const { listOf } = require('../../utils/catalogue');
const { reasonText } = require('../../utils/licences');
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
      const records = listOf(body).map((r) => ({
        when: beijingTime(r.checked_at || r.created_at, { withSeconds: true }),
        who: r.inspector_name || r.department_name || r.inspector || '核验人员',
        valid: r.valid === true || r.result === 'valid',
        reason: r.valid === true || r.result === 'valid' ? '' : reasonText(r.reason),
        location: r.location || '',
      }));
      this.setData({ records, failed: '' });
    } catch (err) {
      this.setData({ failed: err.userMessage });
    } finally {
      this.setData({ loading: false });
    }
  },
});
