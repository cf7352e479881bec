'use strict';
// Money and time at the edge: the backend speaks integer fen and ISO 8601; people read 元 and
// Beijing time (UTC+8 all year, no daylight saving).

const SHANGHAI_OFFSET_MS = 8 * 60 * 60 * 1000;

function yuan(fen) {
  const value = Number(fen);
  if (!Number.isFinite(value)) return '';
  const sign = value < 0 ? '-' : '';
  const abs = Math.abs(Math.round(value));
  return `${sign}¥${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
}

function pad(n) {
  return String(n).padStart(2, '0');
}

function beijingTime(iso, { withSeconds = false } = {}) {
  if (!iso) return '';
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return '';
  const d = new Date(ms + SHANGHAI_OFFSET_MS);
  const date = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  const time = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}${withSeconds ? `:${pad(d.getUTCSeconds())}` : ''}`;
  return `${date} ${time}`;
}

function beijingDate(iso) {
  return beijingTime(iso).slice(0, 10);
}

module.exports = { yuan, beijingTime, beijingDate };
