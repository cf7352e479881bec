'use strict';
// Keeps a licence's QR fresh: mints a presentation, counts down refresh_after seconds, mints
// again. A failed refresh keeps the current code until it expires and retries a few seconds later,
// so a short network drop at a counter does not blank the screen.

const RETRY_AFTER_FAILURE_MS = 5000;

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
    const refreshAfterMs = Math.max(1, Number(presentation.refresh_after) || 30) * 1000;
    this.current = { presentation, refreshAt: this.now() + refreshAfterMs, expiresAt: Date.parse(presentation.expires_at) };
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

module.exports = { PresentationTicker, RETRY_AFTER_FAILURE_MS };
