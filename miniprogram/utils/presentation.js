'use strict';
// Keeps a licence's QR fresh: mints a presentation, counts down refresh_after seconds, mints
// again. A failed refresh keeps the current code until it expires and retries a few seconds later,
// so a short network drop at a counter does not blank the screen.

const RETRY_AFTER_FAILURE_MS = 5000;
const DEFAULT_REFRESH_MS = 30000;
const MAX_LIFETIME_MS = 90000;

/*
 * When to fetch the next code and when this one stops being valid, relative to when it arrived.
 * refresh_after is a server timestamp (or a number of seconds). A phone whose clock is far off
 * would compute nonsense from timestamps, so an implausible delay falls back to the default;
 * the lifetime comes from the difference of the two server timestamps, which no phone clock skews.
 */
function schedule(presentation, receivedAt) {
  const expires = Date.parse(presentation.expires_at);
  if (typeof presentation.refresh_after === 'number') {
    const refreshInMs = Math.max(1, presentation.refresh_after) * 1000;
    return { refreshInMs, expiresInMs: Number.isFinite(expires) ? expires - receivedAt : MAX_LIFETIME_MS };
  }
  const refreshAt = Date.parse(presentation.refresh_after);
  let refreshInMs = refreshAt - receivedAt;
  if (!Number.isFinite(refreshInMs) || refreshInMs <= 0 || refreshInMs > MAX_LIFETIME_MS) refreshInMs = DEFAULT_REFRESH_MS;
  const margin = expires - refreshAt;
  const expiresInMs = Number.isFinite(margin) && margin > 0 ? refreshInMs + margin : MAX_LIFETIME_MS;
  return { refreshInMs, expiresInMs: Math.min(expiresInMs, MAX_LIFETIME_MS) };
}

class PresentationTicker {
  constructor({ mint, onPresentation, onTick, onError, onExpired, now = Date.now, timers = { setTimeout, clearTimeout } }) {
    this.mint = mint;
    this.onPresentation = onPresentation;
    this.onTick = onTick;
    this.onError = onError;
    this.onExpired = onExpired || (() => {});
    this.now = now;
    this.timers = timers;
    this.timer = null;
    this.running = false;
    this.inFlight = false;
    this.current = null;
  }

  start() {
    this.running = true;
    return this.refresh();
  }

  stop() {
    this.running = false;
    if (this.timer) this.timers.clearTimeout(this.timer);
    this.timer = null;
  }

  schedule(delayMs, fn) {
    if (!this.running) return;
    if (this.timer) this.timers.clearTimeout(this.timer);
    this.timer = this.timers.setTimeout(fn, delayMs);
  }

  // One mint at a time: onShow and a finished face check may both ask for a fresh code.
  async refresh() {
    if (!this.running || this.inFlight) return;
    let presentation;
    this.inFlight = true;
    try {
      presentation = await this.mint();
    } catch (err) {
      this.inFlight = false;
      if (!this.running) return;
      // Errors the person must act on (face check, licence suspended) stop the loop.
      const transient = err.status === 0 || err.status >= 500 || err.status === 429;
      if (!transient) {
        this.stop();
        this.onError(err, { fatal: true });
        return;
      }
      this.onError(err, { fatal: false });
      this.checkExpiry();
      this.schedule(RETRY_AFTER_FAILURE_MS, () => this.refresh());
      return;
    }
    this.inFlight = false;
    if (!this.running) return;
    const receivedAt = this.now();
    const { refreshInMs, expiresInMs } = schedule(presentation, receivedAt);
    this.current = { presentation, refreshAt: receivedAt + refreshInMs, expiresAt: receivedAt + expiresInMs };
    this.onPresentation(presentation);
    this.tick();
  }

  tick() {
    if (!this.running || !this.current) return;
    const msLeft = this.current.refreshAt - this.now();
    if (msLeft <= 0) {
      this.refresh();
      return;
    }
    this.onTick(Math.ceil(msLeft / 1000));
    this.schedule(Math.min(1000, msLeft), () => this.tick());
  }

  checkExpiry() {
    if (this.current && this.now() >= this.current.expiresAt) {
      this.current = null;
      this.onExpired();
    }
  }
}

module.exports = { PresentationTicker, schedule };
