'use strict';
const api = require('../../utils/request');
const qrcode = require('../../utils/qrcode');
const { PresentationTicker } = require('../../utils/presentation');
const { confirmAndVerifyFace } = require('../../utils/face');
const { beijingTime, beijingDate } = require('../../utils/format');
const { statusView } = require('../../utils/licences');

// Level M: the full token fits version 15 (licence-qr.md), readable on a phone screen.
const QR_ECC = 'M';

Page({
  data: { licenceId: '', licence: null, secondsLeft: 0, expiresAt: '', state: 'loading', message: '', warning: '' },

  onLoad(options) {
    this.setData({ licenceId: decodeURIComponent(options.id || '') });
    this.ticker = new PresentationTicker({
      mint: () => api.post(`/api/v1/licences/${encodeURIComponent(this.data.licenceId)}/presentations`, {}),
      onPresentation: (p) => this.render(p),
      onTick: (secondsLeft) => this.setData({ secondsLeft }),
      onError: (err, { fatal }) => this.handleError(err, fatal),
      onExpired: () => this.setData({ state: 'expired', message: '亮证码已失效，正在重新获取…' }),
    });
    this.loadLicence();
  },

  // The card above the code: which licence, whose, until when.
  async loadLicence() {
    try {
      const licence = await api.get(`/api/v1/licences/${encodeURIComponent(this.data.licenceId)}`);
      wx.setNavigationBarTitle({ title: licence.type.name });
      this.setData({
        licence: {
          typeName: licence.type.name,
          department: licence.type.department,
          holderName: licence.holder.name,
          validUntil: licence.valid_until ? beijingDate(licence.valid_until) : '长期',
          status: statusView(licence.status),
        },
      });
    } catch (err) {
      // The code itself says what is wrong (not found, not active); the card can stay empty.
    }
  },

  onShow() {
    // A code on screen must not end up in a screenshot others can reuse.
    if (wx.setVisualEffectOnCapture) wx.setVisualEffectOnCapture({ visualEffect: 'hidden' });
    wx.setKeepScreenOn({ keepScreenOn: true });
    // Coming back from the face check's own screen: its finish call will restart the loop.
    if (!this.verifyingFace) this.ticker.start();
  },

  onHide() {
    this.stopShowing();
  },

  onUnload() {
    this.stopShowing();
  },

  stopShowing() {
    this.ticker.stop();
    if (wx.setVisualEffectOnCapture) wx.setVisualEffectOnCapture({ visualEffect: 'none' });
    wx.setKeepScreenOn({ keepScreenOn: false });
  },

  render(presentation) {
    this.setData({ state: 'showing', message: '', warning: '', expiresAt: beijingTime(presentation.expires_at, { withSeconds: true }) });
    const qr = qrcode.encode(presentation.payload, { ecc: QR_ECC });
    wx.createSelectorQuery().in(this).select('#qr').fields({ node: true, size: true }).exec((res) => {
      if (!res || !res[0] || !res[0].node) return;
      const canvas = res[0].node;
      const ratio = (wx.getWindowInfo ? wx.getWindowInfo() : wx.getSystemInfoSync()).pixelRatio || 2;
      const side = Math.floor(res[0].width * ratio);
      canvas.width = side;
      canvas.height = side;
      qrcode.draw(canvas.getContext('2d'), qr, side);
    });
  },

  async handleError(err, fatal) {
    if (!fatal) {
      this.setData({ warning: `${err.userMessage}，正在重试…` });
      return;
    }
    if (err.code === 'face_verification_required') {
      this.setData({ state: 'face', message: err.userMessage });
      this.verifyingFace = true;
      try {
        await confirmAndVerifyFace('出示此证照前需要确认是您本人，请完成人脸核身');
        this.verifyingFace = false;
        this.ticker.start();
      } catch (faceErr) {
        this.verifyingFace = false;
        this.setData({ message: faceErr.userMessage });
      }
      return;
    }
    this.setData({ state: 'failed', message: err.userMessage });
  },

  retry() {
    this.setData({ state: 'loading', message: '' });
    this.ticker.start();
  },

  openUsage() {
    wx.navigateTo({ url: `/pages/usage/usage?id=${encodeURIComponent(this.data.licenceId)}` });
  },
});
