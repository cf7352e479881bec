'use strict';
const api = require('../../utils/request');
const { listOf } = require('../../utils/catalogue');
const { reasonText } = require('../../utils/licences');
const { beijingTime } = require('../../utils/format');

function locationText(location) {
  if (!location) return '';
  if (location.address) return location.address;
  if (typeof location.latitude === 'number') return `北纬 ${location.latitude.toFixed(4)}，东经 ${location.longitude.toFixed(4)}`;
  return '';
}

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
      const records = listOf(body, 'inspections').map((r) => ({
        when: beijingTime(r.at, { withSeconds: true }),
        who: (r.inspector && r.inspector.name) || '核验人员',
        valid: r.valid === true,
        reason: r.valid === true ? '' : reasonText(r.reason),
        location: locationText(r.location),
      }));
      this.setData({ records, failed: '' });
    } catch (err) {
      this.setData({ failed: err.userMessage });
    } finally {
      this.setData({ loading: false });
    }
  },
});
