'use strict';
// Paying a bill: one Idempotency-Key per attempt (kept while the same bill is retried, so a
// lost answer never opens a second order), the pay sheet, then polling for the real outcome.
const api = require('./request');
const config = require('../config');
const platform = require('./platform');
const { yuan, beijingTime } = require('./format');

const STATUS_LABELS = {
  created: '待支付',
  paying: '支付中',
  paid: '已支付，正在通知缴费单位',
  settled: '缴费成功',
  closed: '已关闭',
  refunding: '退款中',
  refunded: '已退款',
  failed: '支付失败',
};
// Once here, polling stops: nothing more will happen without someone acting.
const FINAL_STATUSES = new Set(['settled', 'closed', 'refunded', 'failed']);
const IN_PROGRESS_RETRIES = 3;

function statusLabel(status) {
  return STATUS_LABELS[status] || status;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

class PaymentAttempt {
  constructor() {
    this.body = null;
    this.key = null;
  }

  // The same body keeps its key until the attempt is finished; a different body starts a new one.
  keyFor(body) {
    const canonical = JSON.stringify(body, Object.keys(body).sort());
    if (this.body !== canonical) {
      this.body = canonical;
      this.key = api.newIdempotencyKey();
    }
    return this.key;
  }

  finish() {
    this.body = null;
    this.key = null;
  }

  async create(body, { retryDelayMs = 1000 } = {}) {
    const key = this.keyFor(body);
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await api.post('/api/v1/payments', body, { 'Idempotency-Key': key });
      } catch (err) {
        // The first request with this key is still running on the server: ask again, same key.
        if (err.code !== 'idempotency_key_in_progress' || attempt >= IN_PROGRESS_RETRIES) throw err;
        await sleep(retryDelayMs);
      }
    }
  }
}

async function pay(order) {
  try {
    await platform.requestPayment(order);
  } catch (err) {
    throw api.fromClientError(err);
  }
}

async function pollStatus(orderNo, { onUpdate = () => {}, intervalMs = config.paymentPollIntervalMs, attempts = config.paymentPollAttempts } = {}) {
  let order = null;
  for (let i = 0; i < attempts; i += 1) {
    order = await api.get(`/api/v1/payments/${encodeURIComponent(orderNo)}`);
    onUpdate(order);
    if (FINAL_STATUSES.has(order.status)) return order;
    await sleep(intervalMs);
  }
  return order;
}

// A 财政电子票据-style receipt as labelled rows; the signature and key id stay out of sight.
function receiptView(receipt) {
  if (!receipt) return null;
  const rows = [
    ['票据名称', receipt.bill_name],
    ['票据代码', receipt.bill_code],
    ['票据号码', receipt.bill_no],
    ['校验码', receipt.check_code],
    ['交款人', receipt.payer],
    ['金额', typeof receipt.amount === 'number' ? yuan(receipt.amount) : ''],
    ['收款单位', receipt.issuer],
    ['监制单位', receipt.supervisor],
    ['缴款时间', beijingTime(receipt.paid_at, { withSeconds: true })],
    ['开票日期', receipt.issued_on],
    // The agency cancelled the receipt (冲红) when the payment was refunded: say so, and when.
    ['冲红时间', receipt.voided_at ? beijingTime(receipt.voided_at, { withSeconds: true }) : ''],
  ].filter(([, value]) => value).map(([label, value]) => ({ label, value: String(value) }));
  const items = (receipt.items || []).map((item) => ({ name: item.name, amount: yuan(item.amount) }));
  return { receiptNo: receipt.receipt_no, voided: Boolean(receipt.voided_at), rows, items };
}

module.exports = { PaymentAttempt, pay, pollStatus, statusLabel, receiptView, FINAL_STATUSES };
