'use strict';
// The phone-side WeChat abilities (login code, face verification, pay sheet).
// With config.sandbox the in-project sandbox plays the phone, so the whole flow runs in the
// developer tools and in tests without WeChat's servers.
const config = require('../config');
const http = require('./http');

const SANDBOX_OPENID_KEY = 'sandbox_openid';

class ClientError extends Error {
  constructor(code, detail) {
    super(code);
    this.name = 'ClientError';
    this.code = code;
    this.detail = detail;
  }
}

function randomHex(length) {
  let out = '';
  while (out.length < length) out += Math.floor(Math.random() * 0x100000000).toString(16).padStart(8, '0');
  return out.slice(0, length);
}

// One stable sandbox identity per device, so the same resident comes back after a restart.
function sandboxOpenid() {
  let openid = wx.getStorageSync(SANDBOX_OPENID_KEY);
  if (!openid) {
    openid = `sandbox-${randomHex(16)}`;
    wx.setStorageSync(SANDBOX_OPENID_KEY, openid);
  }
  return openid;
}

async function sandboxCall(path, data) {
  let res;
  try {
    res = await http.send({ method: 'POST', path, data });
  } catch (err) {
    throw new ClientError('network_error', err);
  }
  if (res.statusCode >= 400) throw new ClientError('sandbox_failed', res.data);
  return res.data || {};
}

function wxCall(name, options) {
  return new Promise((resolve, reject) => {
    wx[name](Object.assign({}, options, { success: resolve, fail: reject }));
  });
}

async function getLoginCode() {
  if (config.sandbox) {
    const body = await sandboxCall('/sandbox/wechat/login-code', { openid: sandboxOpenid() });
    return body.code;
  }
  try {
    const res = await wxCall('login', {});
    return res.code;
  } catch (err) {
    throw new ClientError('wx_login_failed', err);
  }
}

// The client's result is not trusted: the backend asks WeChat in face/finish.
async function requestFacialVerify(verifyId) {
  if (config.sandbox) {
    await sandboxCall('/sandbox/wechat/face', { verify_id: verifyId, outcome: 'pass' });
    return;
  }
  try {
    await wxCall('requestFacialVerify', { verifyId });
  } catch (err) {
    throw new ClientError('face_cancelled', err);
  }
}

// Resolves when the payer confirmed; the order's real state comes from polling the backend.
async function requestPayment(order) {
  if (config.sandbox) {
    // The sandbox checks paySign over pay_params as the real pay sheet would.
    await sandboxCall('/sandbox/wechatpay/confirm', { order_no: order.order_no, outcome: 'pay', pay_params: order.pay_params });
    return;
  }
  try {
    await wxCall('requestPayment', order.pay_params);
  } catch (err) {
    throw new ClientError('payment_cancelled', err);
  }
}

// One-time subscription for a notice (e.g. "your licence was checked"). Without a configured
// template, or in the sandbox, there is nothing to ask for.
async function requestSubscribe(templateId) {
  if (config.sandbox || !templateId) return true;
  try {
    const res = await wxCall('requestSubscribeMessage', { tmplIds: [templateId] });
    return res[templateId] === 'accept';
  } catch (err) {
    return false;
  }
}

// In the sandbox the getPhoneNumber button's code cannot be exchanged, so ask for one.
async function sandboxPhoneCode(phone) {
  const body = await sandboxCall('/sandbox/wechat/phone-code', { phone });
  return body.code;
}

module.exports = {
  ClientError,
  getLoginCode,
  requestFacialVerify,
  requestPayment,
  requestSubscribe,
  sandboxPhoneCode,
  randomHex,
};
