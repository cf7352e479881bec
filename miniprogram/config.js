'use strict';
// Where the backend lives and whether the in-project sandbox plays the phone's part.
// In the sandbox, wx.login / wx.requestFacialVerify / wx.requestPayment cannot reach WeChat,
// so utils/platform.js asks the sandbox helper routes instead (see API.md, "Sandbox").
module.exports = {
  baseUrl: 'http://127.0.0.1:8000',
  sandbox: true,
  requestTimeoutMs: 15000,
  // Refresh a little before the access token expires, so a request never leaves with a stale one.
  refreshLeewaySeconds: 30,
  // Polling a payment after the pay sheet closes: the notify may take a moment to arrive.
  paymentPollIntervalMs: 2000,
  paymentPollAttempts: 15,
  // Subscribe-message template ids from the mini-program admin console (订阅消息).
  subscribeTemplates: {
    licenceChecked: '',
  },
};
