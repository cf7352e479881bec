'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { PresentationTicker } = require('../utils/presentation');

// A hand-driven clock and timer queue, so the test controls every second.
function fakeTime(start = Date.parse('2026-11-21T08:00:00Z')) {
  let now = start;
  let queue = [];
  let nextId = 1;
  return {
    now: () => now,
    timers: {
      setTimeout: (fn, ms) => { const id = nextId++; queue.push({ id, at: now + ms, fn }); return id; },
      clearTimeout: (id) => { queue = queue.filter((t) => t.id !== id); },
    },
    async advance(ms) {
      const until = now + ms;
      for (;;) {
        queue.sort((a, b) => a.at - b.at);
        const next = queue[0];
        if (!next || next.at > until) break;
        queue.shift();
        now = next.at;
        next.fn();
        await new Promise((resolve) => setImmediate(resolve));
      }
      now = until;
    },
    pending: () => queue.length,
  };
}

// The server's shape: both times are timestamps in Beijing time.
function beijingIso(ms) {
  return `${new Date(ms + 8 * 3600 * 1000).toISOString().slice(0, 19)}+08:00`;
}

function presentation(n, time, serverSkewMs = 0) {
  const issued = time.now() + serverSkewMs;
  return { payload: `LC1:P${n}`, refresh_after: beijingIso(issued + 30000), expires_at: beijingIso(issued + 90000) };
}

test('mints, counts down refresh_after seconds, then mints again', async () => {
  const time = fakeTime();
  let minted = 0;
  const shown = [];
  const ticks = [];
  const ticker = new PresentationTicker({
    mint: async () => presentation(++minted, time),
    onPresentation: (p) => shown.push(p.payload),
    onTick: (s) => ticks.push(s),
    onError: (err) => assert.fail(err),
    now: time.now,
    timers: time.timers,
  });
  await ticker.start();
  assert.deepEqual(shown, ['LC1:P1']);
  assert.equal(ticks[0], 30);
  await time.advance(29000);
  assert.deepEqual(shown, ['LC1:P1']);
  assert.equal(ticks[ticks.length - 1], 1);
  await time.advance(1000);
  assert.deepEqual(shown, ['LC1:P1', 'LC1:P2']);
  assert.equal(ticks[ticks.length - 1], 30);
  ticker.stop();
  assert.equal(time.pending(), 0);
  await time.advance(60000);
  assert.equal(minted, 2, 'a stopped ticker mints nothing');
});

test('face_verification_required stops the loop and is reported as fatal', async () => {
  const time = fakeTime();
  const errors = [];
  const ticker = new PresentationTicker({
    mint: async () => { const err = new Error('face'); err.status = 403; err.code = 'face_verification_required'; throw err; },
    onPresentation: () => assert.fail('nothing to show'),
    onTick: () => {},
    onError: (err, info) => errors.push([err.code, info.fatal]),
    now: time.now,
    timers: time.timers,
  });
  await ticker.start();
  assert.deepEqual(errors, [['face_verification_required', true]]);
  assert.equal(time.pending(), 0);
});

test('a network failure keeps the code until it expires and retries', async () => {
  const time = fakeTime();
  let calls = 0;
  let online = true;
  const events = [];
  const ticker = new PresentationTicker({
    mint: async () => {
      calls += 1;
      if (!online) { const err = new Error('offline'); err.status = 0; err.code = 'network_error'; throw err; }
      return presentation(calls, time);
    },
    onPresentation: (p) => events.push(`show ${p.payload}`),
    onTick: () => {},
    onError: (err, info) => events.push(`error ${err.code} fatal=${info.fatal}`),
    onExpired: () => events.push('expired'),
    now: time.now,
    timers: time.timers,
  });
  await ticker.start();
  online = false;
  await time.advance(30000);
  assert.deepEqual(events, ['show LC1:P1', 'error network_error fatal=false']);
  await time.advance(60000);
  assert.ok(events.includes('expired'), 'the code is withdrawn once its 90 s are over');
  online = true;
  await time.advance(5000);
  assert.equal(events[events.length - 1].startsWith('show LC1:P'), true);
  ticker.stop();
});

test('starting twice while a mint is in flight mints once', async () => {
  const time = fakeTime();
  let minted = 0;
  const ticker = new PresentationTicker({
    mint: async () => presentation(++minted, time),
    onPresentation: () => {},
    onTick: () => {},
    onError: (err) => assert.fail(err),
    now: time.now,
    timers: time.timers,
  });
  await Promise.all([ticker.start(), ticker.start()]);
  assert.equal(minted, 1);
  ticker.stop();
});

test('the schedule follows the server timestamps, and survives a phone clock that is off', () => {
  const { schedule } = require('../utils/presentation');
  const now = Date.parse('2026-11-21T08:00:00Z');
  const time = { now: () => now };
  assert.deepEqual(schedule(presentation(1, time), now), { refreshInMs: 30000, expiresInMs: 90000 });
  // The phone runs ten minutes behind the server: fall back to 30 s, keep the 60 s margin.
  assert.deepEqual(schedule(presentation(1, time, 600000), now), { refreshInMs: 30000, expiresInMs: 90000 });
  // A plain number of seconds is accepted too.
  assert.equal(schedule({ refresh_after: 20, expires_at: new Date(now + 90000).toISOString() }, now).refreshInMs, 20000);
});

test('a phone clock ahead of the server still refreshes on time', async () => {
  const time = fakeTime();
  let minted = 0;
  const ticker = new PresentationTicker({
    mint: async () => presentation(++minted, time, -45000),
    onPresentation: () => {},
    onTick: () => {},
    onError: (err) => assert.fail(err),
    now: time.now,
    timers: time.timers,
  });
  await ticker.start();
  await time.advance(30000);
  assert.equal(minted, 2);
  ticker.stop();
});

test('the usage log tells a consent read from a scan', () => {
  const { usageRecord } = require('../utils/licences');
  const scan = usageRecord({ kind: 'inspection', inspector: { name: '李*' }, valid: false, reason: 'replayed',
    location: { latitude: 23.12911, longitude: 113.26441 } }, '2026-11-22 10:00:00');
  assert.equal(scan.verdict, '未通过');
  assert.equal(scan.who, '李*');
  assert.equal(scan.location, '北纬 23.1291，东经 113.2644');
  assert.notEqual(scan.reason, '');
  const read = usageRecord({ kind: 'consent', inspector: { id: 7, name: null }, valid: true, reason: null, location: null,
    consent: { id: 3, department: '广州市市场监督管理局', purpose: '食品经营许可核查' } }, '2026-11-22 10:05:00');
  assert.deepEqual(read, { when: '2026-11-22 10:05:00', who: '广州市市场监督管理局', valid: true, verdict: '授权用证',
    reason: '广州市市场监督管理局 · 食品经营许可核查', location: '' });
  assert.equal(usageRecord({ valid: true }, '').verdict, '核验通过'); // older answers carry no kind
});
