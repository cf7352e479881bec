'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const format = require('../utils/format');

test('fen become yuan with two decimals', () => {
  assert.equal(format.yuan(20000), '¥200.00');
  assert.equal(format.yuan(5), '¥0.05');
  assert.equal(format.yuan(-1234), '-¥12.34');
  assert.equal(format.yuan(undefined), '');
});

test('UTC times are shown in Beijing time, across midnight', () => {
  assert.equal(format.beijingTime('2026-11-21T16:30:00Z'), '2026-11-22 00:30');
  assert.equal(format.beijingTime('2026-11-21T08:00:05+08:00', { withSeconds: true }), '2026-11-21 08:00:05');
  assert.equal(format.beijingDate('2026-12-31T17:00:00+00:00'), '2027-01-01');
  assert.equal(format.beijingTime('not a time'), '');
});
