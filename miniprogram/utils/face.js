'use strict';
// 人脸核身 2.0: the backend opens a check for the bound identity, the phone runs
// wx.requestFacialVerify, and the backend asks WeChat for the result and issues a new token.
const api = require('./request');
const session = require('./session');
const platform = require('./platform');

async function verifyFace() {
  const { verify_id: verifyId } = await api.post('/api/v1/auth/face/start', {});
  try {
    await platform.requestFacialVerify(verifyId);
  } catch (err) {
    throw api.fromClientError(err);
  }
  const tokens = await api.post('/api/v1/auth/face/finish', { verify_id: verifyId });
  session.save(tokens);
  return tokens;
}

// Asks first: a face check should never start without the person choosing it.
function confirmAndVerifyFace(reason) {
  return new Promise((resolve, reject) => {
    wx.showModal({
      title: '人脸核身',
      content: reason || '为保护您的信息安全，请先完成人脸核身',
      confirmText: '开始核身',
      success: (res) => {
        if (!res.confirm) {
          reject(api.fromClientError(new platform.ClientError('face_cancelled')));
          return;
        }
        verifyFace().then(resolve, reject);
      },
      fail: reject,
    });
  });
}

module.exports = { verifyFace, confirmAndVerifyFace };
