'use strict';
const api = require('../../utils/request');
const payments = require('../../utils/payments');
const { yuan, beijingTime } = require('../../utils/format');

Page({
  data: { order: null, statusText: '查询中…', final: false, polling: false, failed: '' },

  onLoad(options) {
    this.orderNo = decodeURIComponent(options.order_no || '');
    this.poll();
  },

  onUnload() {
    this.unloaded = true;
  },

  show(order) {
    if (this.unloaded) return;
    this.setData({
      order: Object.assign({}, order, {
        amountText: yuan(order.amount),
        paidAt: beijingTime(order.paid_at, { withSeconds: true }),
        settledAt: beijingTime(order.settled_at, { withSeconds: true }),
        refundedText: order.refunded_amount ? yuan(order.refunded_amount) : '',
      }),
      receipt: payments.receiptView(order.receipt),
      statusText: payments.statusLabel(order.status),
      final: payments.FINAL_STATUSES.has(order.status),
    });
  },

  async poll() {
    if (this.data.polling) return;
    this.setData({ polling: true, failed: '' });
    try {
      await payments.pollStatus(this.orderNo, { onUpdate: (order) => this.show(order) });
    } catch (err) {
      this.setData({ failed: err.userMessage });
    } finally {
      if (!this.unloaded) this.setData({ polling: false });
    }
  },

  copyReceiptNo() {
    if (this.data.receipt) wx.setClipboardData({ data: this.data.receipt.receiptNo });
  },
});
