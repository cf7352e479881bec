'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const qrcode = require('../utils/qrcode');
const { source, vectors } = require('./qr-vectors.json');

test(`matrices match an independent encoder (${source})`, () => {
  assert.ok(vectors.length >= 5);
  for (const vector of vectors) {
    const qr = qrcode.encode(vector.text, { ecc: vector.ecc, minVersion: vector.version, maxVersion: vector.version, mask: vector.mask });
    const rows = qr.modules.map((row) => row.map((dark) => (dark ? '1' : '0')).join(''));
    assert.deepEqual(rows, vector.rows, `${vector.ecc} version ${vector.version}`);
  }
});

test('a full-size licence payload fits version 15 at level M in alphanumeric mode', () => {
  const payload = `LC1:${'6BF+A0%$*./-:'.repeat(60)}`.slice(0, 600);
  const qr = qrcode.encode(payload, { ecc: 'M' });
  assert.ok(qr.version <= 15, `version ${qr.version}`);
  assert.equal(qr.size, qr.version * 4 + 17);
  // The same text as UTF-8 bytes would need a bigger symbol: the mode choice matters.
  const asBytes = qrcode.encode(payload.toLowerCase(), { ecc: 'M' });
  assert.ok(asBytes.version > qr.version);
});

test('the smallest version is chosen and too-long text is refused', () => {
  assert.equal(qrcode.encode('HELLO WORLD', { ecc: 'Q' }).version, 1);
  assert.equal(qrcode.encode('x'.repeat(100), { ecc: 'M' }).version, 6);
  assert.throws(() => qrcode.encode('x'.repeat(3000), { ecc: 'H' }), /too long/);
});

test('the automatic mask is one of the eight and drawing paints dark modules only', () => {
  const qr = qrcode.encode('LC1:ABC', { ecc: 'M' });
  assert.ok(qr.mask >= 0 && qr.mask <= 7);
  const rects = [];
  const ctx = { fillStyle: '', fillRect: (x, y, w, h) => rects.push({ style: ctx.fillStyle, x, y, w, h }) };
  qrcode.draw(ctx, qr, 290);
  const dark = qr.modules.flat().filter(Boolean).length;
  assert.equal(rects[0].style, '#ffffff');
  assert.equal(rects.length, dark + 1);
  // Finder pattern corner: module (0,0) is dark and sits after the 4-module quiet zone.
  assert.deepEqual([rects[1].x, rects[1].y, rects[1].w], [40, 40, 10]);
  // A size that does not divide evenly: whole-pixel modules, centred.
  const odd = [];
  qrcode.draw({ fillStyle: '', fillRect: (x, y, w, h) => odd.push({ x, y, w, h }) }, qr, 300);
  assert.ok(odd.slice(1).every((r) => r.w === 10 && r.h === 10));
  assert.deepEqual([odd[1].x, odd[1].y], [45, 45]);
});
