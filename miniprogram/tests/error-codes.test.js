'use strict';
// Contract between the backend and the mini-program: every stable error code the Python code
// can answer with, and every inspection reason, has a message for people.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { ERROR_MESSAGES } = require('../utils/request');
const { INSPECTION_REASONS } = require('../utils/licences');

const ROOT = path.resolve(__dirname, '..', '..');
const CJK = /[\u4e00-\u9fff]/;

function pythonFiles(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'sandbox' ? [] : pythonFiles(full);
    return entry.name.endsWith('.py') ? [full] : [];
  });
}

// `status, code, message = 404, "x", ...`, `code, message = "x", ...` and `code = "x"` in
// error classes; the sandboxes speak their parties' own protocols and are left out.
const CODE_PATTERNS = [
  /^\s*status,\s*code,\s*message\s*=\s*\d+,\s*"([a-z_]+)"/gm,
  /^\s*code,\s*message\s*=\s*"([a-z_]+)"/gm,
  /^\s*code(?::\s*[\w[\]]+)?\s*=\s*"([a-z_]+)"/gm,
];

function backendCodes() {
  const codes = new Set();
  for (const file of [...pythonFiles(path.join(ROOT, 'app')), ...pythonFiles(path.join(ROOT, 'handlers'))]) {
    const source = fs.readFileSync(file, 'utf8');
    for (const pattern of CODE_PATTERNS) {
      for (const match of source.matchAll(pattern)) codes.add(match[1]);
    }
  }
  return codes;
}

test('every error code raised under app/ and handlers/ has a Chinese message', (t) => {
  const codes = backendCodes();
  if (!codes.size) {
    t.skip('no backend source next to the mini-program');
    return;
  }
  assert.ok(codes.has('internal_error') && codes.has('validation_failed'), 'the scan found the core errors');
  const missing = [...codes].filter((code) => !ERROR_MESSAGES[code]);
  assert.deepEqual(missing, [], `add these to ERROR_MESSAGES in utils/request.js: ${missing.join(', ')}`);
  for (const [code, message] of Object.entries(ERROR_MESSAGES)) assert.match(message, CJK, code);
});

test('every verifier reason and licence refusal has a Chinese explanation', (t) => {
  const verifier = path.join(ROOT, 'app', 'lc1', 'verifier.py');
  const inspection = path.join(ROOT, 'app', 'services', 'licences', 'inspection.py');
  if (!fs.existsSync(verifier)) {
    t.skip('no verifier next to the mini-program');
    return;
  }
  const reasons = new Set();
  const enumBody = fs.readFileSync(verifier, 'utf8').split('class Reason')[1].split('\n\n\n')[0];
  for (const match of enumBody.matchAll(/=\s*"([a-z_]+)"/g)) reasons.add(match[1]);
  if (fs.existsSync(inspection)) {
    const source = fs.readFileSync(inspection, 'utf8');
    for (const match of source.matchAll(/return "([a-z_]+)"/g)) reasons.add(match[1]);
    for (const match of source.matchAll(/^[A-Z_]+ = "([a-z_]+)"/gm)) reasons.add(match[1]);
  }
  // Refusals by licence status use the status names (an expired licence: licence_expired).
  ['suspended', 'revoked', 'licence_expired'].forEach((status) => reasons.add(status));
  assert.ok(reasons.size >= 15, `found only ${reasons.size} reasons`);
  const missing = [...reasons].filter((reason) => !INSPECTION_REASONS[reason]);
  assert.deepEqual(missing, [], `add these to INSPECTION_REASONS in utils/licences.js: ${missing.join(', ')}`);
});
