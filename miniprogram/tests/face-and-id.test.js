'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { createWx, errorResponse, loadModules } = require('./wx-stub');
const { isValidIdNumber } = require('../utils/idnumber');

test('face verification: start, the sandbox plays the phone, finish stores the new access token', async () => {
  const wx = createWx({
    'POST /api/v1/auth/face/start': () => ({ statusCode: 200, data: { verify_id: 'v-1' } }),
    'POST /sandbox/wechat/face': (call) => {
      assert.deepEqual(call.data, { verify_id: 'v-1', outcome: 'pass' });
      return { statusCode: 200, data: {} };
    },
    'POST /api/v1/auth/face/finish': (call) => {
      assert.deepEqual(call.data, { verify_id: 'v-1' });
      return { statusCode: 200, data: { access_token: 'access-face', expires_in: 900 } };
    },
  });
  global.wx = wx;
  const { session } = loadModules({ sandbox: true });
  session.save({ access_token: 'access-old', refresh_token: 'refresh-old', expires_in: 900 });
  const face = require('../utils/face');
  await face.verifyFace();
  assert.equal(session.accessToken(), 'access-face');
  assert.equal(session.refreshToken(), 'refresh-old', 'finish returns no refresh token; keep the old one');
  assert.deepEqual(wx.calls.map((c) => c.path), ['/api/v1/auth/face/start', '/sandbox/wechat/face', '/api/v1/auth/face/finish']);
});

test('a failed face check reaches the caller as face_failed and keeps the old token', async () => {
  global.wx = createWx({
    'POST /api/v1/auth/face/start': () => ({ statusCode: 200, data: { verify_id: 'v-2' } }),
    'POST /sandbox/wechat/face': () => ({ statusCode: 200, data: {} }),
    'POST /api/v1/auth/face/finish': () => errorResponse(403, 'face_failed'),
  });
  const { session } = loadModules({ sandbox: true });
  session.save({ access_token: 'access-old', refresh_token: 'refresh-old', expires_in: 900 });
  const face = require('../utils/face');
  await assert.rejects(face.verifyFace(), (err) => err.code === 'face_failed');
  assert.equal(session.accessToken(), 'access-old');
});

test('cancelling wx.requestFacialVerify on a phone skips finish', async () => {
  const wx = createWx({
    'POST /api/v1/auth/face/start': () => ({ statusCode: 200, data: { verify_id: 'v-3' } }),
  });
  wx.requestFacialVerify = ({ fail }) => fail({ errCode: 90100, errMsg: 'cancel' });
  global.wx = wx;
  const { session } = loadModules({ sandbox: false });
  session.save({ access_token: 'access-old', refresh_token: 'refresh-old', expires_in: 900 });
  const face = require('../utils/face');
  await assert.rejects(face.verifyFace(), (err) => err.code === 'face_cancelled' && /取消/.test(err.userMessage));
  assert.equal(wx.calls.length, 1);
});

test('ID numbers: checksum, birth date and shape', () => {
  assert.equal(isValidIdNumber('11010519491231002X'), true);
  assert.equal(isValidIdNumber('11010519491231002x'), true);
  assert.equal(isValidIdNumber('110105194912310021'), false, 'wrong check character');
  assert.equal(isValidIdNumber('110105194902300026'), false, 'February 30th');
  assert.equal(isValidIdNumber('11010519491231002'), false, 'too short');
});
