'use strict';
// 授权用证: the holder lets one department read this licence once, for a stated purpose and a
// limited time. The one-time code is shown once, here, for the holder to hand over.
const api = require('../../utils/request');
const qrcode = require('../../utils/qrcode');
const { confirmAndVerifyFace } = require('../../utils/face');
const { beijingTime } = require('../../utils/format');

const DURATIONS = [
  { minutes: 30, label: '30 分钟' },
  { minutes: 24 * 60, label: '1 天' },
  { minutes: 7 * 24 * 60, label: '7 天' },
];
const STATE_LABELS = { open: ['待使用', 'ok'], used: ['已使用', ''], expired: ['已过期', 'warn'], revoked: ['已撤回', 'bad'] };

Page({
  data: {
    durations: DURATIONS,
    durationIndex: 0,
    department: '',
    purpose: '',
    granted: null,
    consents: [],
    busy: false,
    formError: '',
  },

  onLoad(options) {
    this.licenceId = decodeURIComponent(options.id || '');
    this.load();
  },

  async load() {
    try {
      const body = await api.get(`/api/v1/licences/${encodeURIComponent(this.licenceId)}/consents`);
      this.setData({
        consents: (body.consents || []).map((c) => ({
          id: c.id,
          department: c.department,
          purpose: c.purpose,
          state: c.state,
          stateText: (STATE_LABELS[c.state] || [c.state])[0],
          tone: (STATE_LABELS[c.state] || [null, ''])[1],
          createdAt: beijingTime(c.created_at),
          expiresAt: beijingTime(c.expires_at),
          usedAt: beijingTime(c.used_at),
        })),
      });
    } catch (err) {
      api.showError(err);
    }
  },

  onInput(e) {
    this.setData({ [e.currentTarget.dataset.field]: e.detail.value.trim(), formError: '' });
  },

  onDurationChange(e) {
    this.setData({ durationIndex: Number(e.detail.value) });
  },

  async grant() {
    const { department, purpose, durationIndex } = this.data;
    if (department.length < 2 || purpose.length < 2) return this.setData({ formError: '请填写用证部门和用途' });
    const body = { department, purpose, ttl_minutes: DURATIONS[durationIndex].minutes };
    const path = `/api/v1/licences/${encodeURIComponent(this.licenceId)}/consents`;
    this.setData({ busy: true, granted: null });
    try {
      let grant;
      try {
        grant = await api.post(path, body);
      } catch (err) {
        if (err.code !== 'face_verification_required') throw err;
        await confirmAndVerifyFace('授权他人使用证照前，需要确认是您本人');
        grant = await api.post(path, body);
      }
      this.setData({ granted: { code: grant.code, department: grant.department, expiresAt: beijingTime(grant.expires_at) }, department: '', purpose: '' });
      this.drawCode(grant.code);
      await this.load();
    } catch (err) {
      api.showError(err);
    } finally {
      this.setData({ busy: false });
    }
  },

  drawCode(code) {
    const qr = qrcode.encode(code, { ecc: 'M' });
    wx.createSelectorQuery().in(this).select('#consent-qr').fields({ node: true, size: true }).exec((res) => {
      if (!res || !res[0] || !res[0].node) return;
      const canvas = res[0].node;
      const ratio = (wx.getWindowInfo ? wx.getWindowInfo() : wx.getSystemInfoSync()).pixelRatio || 2;
      const side = Math.floor(res[0].width * ratio);
      canvas.width = side;
      canvas.height = side;
      qrcode.draw(canvas.getContext('2d'), qr, side);
    });
  },

  copyCode() {
    if (this.data.granted) wx.setClipboardData({ data: this.data.granted.code });
  },

  revoke(e) {
    const { id } = e.currentTarget.dataset;
    wx.showModal({
      title: '撤回授权',
      content: '撤回后对方将无法使用该授权读取您的证照。',
      success: async (res) => {
        if (!res.confirm) return;
        try {
          await api.del(`/api/v1/licences/${encodeURIComponent(this.licenceId)}/consents/${encodeURIComponent(id)}`);
          await this.load();
        } catch (err) {
          api.showError(err);
          // Used or withdrawn meanwhile: show what it is now.
          if (err.code === 'consent_not_withdrawable') await this.load();
        }
      },
    });
  },
});
