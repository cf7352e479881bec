'use strict';
const api = require('../../utils/request');
const config = require('../../config');
const session = require('../../utils/session');
const platform = require('../../utils/platform');
const { verifyFace } = require('../../utils/face');
const { isValidIdNumber } = require('../../utils/idnumber');
const { beijingTime } = require('../../utils/format');
const nav = require('../../utils/nav');

const ROLE_LABELS = { resident: '居民', business: '企业办事人', inspector: '执法检查人员', operator: '运营人员' };

Page({
  data: {
    me: null,
    roles: [],
    faceVerifiedAt: '',
    isInspector: false,
    form: { name: '', idNumber: '' },
    formError: '',
    sandbox: config.sandbox,
    sandboxPhone: '13800138000',
    busy: false,
  },

  onShow() {
    this.loadMe();
  },

  onPullDownRefresh() {
    this.loadMe().then(() => wx.stopPullDownRefresh());
  },

  async loadMe() {
    try {
      const me = await api.get('/api/v1/me');
      const roles = me.roles || [];
      this.setData({
        me,
        roles: roles.map((r) => ROLE_LABELS[r] || r),
        isInspector: roles.includes('inspector'),
        faceVerifiedAt: beijingTime(me.face_verified_at),
      });
    } catch (err) {
      api.showError(err);
    }
  },

  onNameInput(e) {
    this.setData({ 'form.name': e.detail.value.trim(), formError: '' });
  },

  onIdInput(e) {
    this.setData({ 'form.idNumber': e.detail.value.trim().toUpperCase(), formError: '' });
  },

  async bindRealname() {
    const { name, idNumber } = this.data.form;
    if (!name) return this.setData({ formError: '请填写姓名' });
    if (!isValidIdNumber(idNumber)) return this.setData({ formError: api.ERROR_MESSAGES.id_number_invalid });
    await this.run(async () => {
      await api.post('/api/v1/me/realname', { name, id_number: idNumber });
      // The ID number stays on the server; clear it from the page once sent.
      this.setData({ form: { name: '', idNumber: '' } });
      wx.showToast({ title: '实名认证成功', icon: 'success' });
    });
  },

  async onGetPhoneNumber(e) {
    if (!e.detail.code) return; // the person declined
    await this.run(async () => {
      await api.post('/api/v1/me/phone', { code: e.detail.code });
      wx.showToast({ title: '手机号已绑定', icon: 'success' });
    });
  },

  onSandboxPhoneInput(e) {
    this.setData({ sandboxPhone: e.detail.value.trim() });
  },

  async bindSandboxPhone() {
    await this.run(async () => {
      const code = await platform.sandboxPhoneCode(this.data.sandboxPhone).catch((err) => { throw api.fromClientError(err); });
      await api.post('/api/v1/me/phone', { code });
      wx.showToast({ title: '手机号已绑定', icon: 'success' });
    });
  },

  async onNotifyChange(e) {
    const wanted = e.detail.value;
    await this.run(async () => {
      if (wanted) await platform.requestSubscribe(config.subscribeTemplates.licenceChecked);
      await api.put('/api/v1/me/preferences', { notify_on_licence_check: wanted });
    });
  },

  async startFace() {
    await this.run(async () => {
      await verifyFace();
      wx.showToast({ title: '人脸核身通过', icon: 'success' });
    });
  },

  // One action at a time; every failure ends in the same error message table.
  async run(action) {
    if (this.data.busy) return;
    this.setData({ busy: true });
    try {
      await action();
      await this.loadMe();
    } catch (err) {
      api.showError(err);
    } finally {
      this.setData({ busy: false });
    }
  },

  openPage(e) {
    nav.open(e.currentTarget.dataset.url);
  },

  async logout() {
    try {
      await api.post('/api/v1/auth/logout', {});
    } catch (err) {
      // Logging out locally matters more than telling the server; its tokens expire anyway.
    }
    session.clear();
    this.setData({ me: null, roles: [] });
    wx.showToast({ title: '已退出', icon: 'none' });
  },
});
