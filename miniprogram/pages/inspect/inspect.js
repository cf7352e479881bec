'use strict';
const api = require('../../utils/request');
const config = require('../../config');
const { reasonText, inspectedRows, statusView } = require('../../utils/licences');
const { beijingTime } = require('../../utils/format');

Page({
  data: { result: null, busy: false, sandbox: config.sandbox, manualPayload: '', withLocation: false },

  onLocationSwitch(e) {
    this.setData({ withLocation: e.detail.value });
  },

  // Where the check happened, if the inspector chose to record it; a refusal or a failure to
  // locate never blocks the check itself.
  location() {
    if (!this.data.withLocation) return Promise.resolve(null);
    return new Promise((resolve) => {
      wx.getLocation({
        type: 'gcj02',
        success: (res) => resolve({ latitude: res.latitude, longitude: res.longitude }),
        fail: () => resolve(null),
      });
    });
  },

  scan() {
    // Camera only: a photo from the album could be a screenshot of someone else's code.
    wx.scanCode({
      onlyFromCamera: true,
      scanType: ['qrCode'],
      success: (res) => this.inspect(res.result),
      fail: (err) => {
        if (!/cancel/.test(err.errMsg || '')) wx.showToast({ title: '扫码失败，请重试', icon: 'none' });
      },
    });
  },

  onManualInput(e) {
    this.setData({ manualPayload: e.detail.value.trim() });
  },

  inspectManual() {
    if (this.data.manualPayload) this.inspect(this.data.manualPayload);
  },

  async inspect(payload) {
    if (this.data.busy) return;
    this.setData({ busy: true, result: null });
    try {
      const location = await this.location();
      const body = await api.post('/api/v1/inspections', location ? { payload, location } : { payload });
      const licence = body.licence || {};
      this.setData({
        result: body.valid
          ? {
            valid: true,
            title: (licence.type && licence.type.name) || '电子证照',
            status: statusView(licence.status || 'active'),
            rows: inspectedRows(licence),
            checkedAt: beijingTime(body.checked_at, { withSeconds: true }),
          }
          : { valid: false, reason: reasonText(body.reason), code: body.reason, checkedAt: beijingTime(body.checked_at, { withSeconds: true }) },
      });
      wx.vibrateShort({ type: body.valid ? 'light' : 'heavy' });
    } catch (err) {
      api.showError(err);
    } finally {
      this.setData({ busy: false });
    }
  },
});
