'use strict';
const api = require('../../utils/request');
const payments = require('../../utils/payments');
const { yuan, beijingDate, beijingTime } = require('../../utils/format');

const BILL_TYPE_LABELS = { fine: '交通违法罚款', tax: '税款', fee: '非税收入' };

Page({
  data: {
    tab: 'fine',
    decisionNo: '',
    plate: '',
    noticeCode: '',
    bill: null,
    busy: false,
    message: '',
    history: [],
  },

  onLoad() {
    this.attempt = new payments.PaymentAttempt();
  },

  onShow() {
    if (this.data.tab === 'history') this.loadHistory();
  },

  switchTab(e) {
    const { tab } = e.currentTarget.dataset;
    this.setData({ tab, bill: null, message: '' });
    if (tab === 'history') this.loadHistory();
  },

  async loadHistory() {
    try {
      const body = await api.get('/api/v1/payments');
      this.setData({
        history: (body.payments || []).map((order) => ({
          orderNo: order.order_no,
          typeLabel: BILL_TYPE_LABELS[order.bill_type] || order.bill_type,
          billRef: order.bill_ref,
          amountText: yuan(order.amount),
          statusText: payments.statusLabel(order.status),
          createdAt: beijingTime(order.created_at),
        })),
      });
    } catch (err) {
      this.setData({ message: err.userMessage });
    }
  },

  openOrder(e) {
    wx.navigateTo({ url: `/pages/payment/payment?order_no=${encodeURIComponent(e.currentTarget.dataset.order)}` });
  },

  onInput(e) {
    this.setData({ [e.currentTarget.dataset.field]: e.detail.value.trim(), message: '' });
  },

  async lookup() {
    const { tab, decisionNo, plate, noticeCode } = this.data;
    if (tab === 'fine' && (!decisionNo || !plate)) return this.setData({ message: '请填写决定书编号和车牌号' });
    if (tab === 'notice' && !noticeCode) return this.setData({ message: '请填写缴款码' });
    this.setData({ busy: true, bill: null, message: '' });
    try {
      const bill = tab === 'fine'
        ? await api.get('/api/v1/fines', { decision_no: decisionNo, plate: plate.toUpperCase() })
        : await api.get(`/api/v1/bills/${encodeURIComponent(noticeCode)}`);
      this.setData({
        bill: Object.assign({}, bill, {
          typeLabel: BILL_TYPE_LABELS[bill.bill_type] || bill.bill_type,
          amountText: yuan(bill.amount_due),
          principalText: yuan(bill.principal),
          lateFeeText: bill.late_fee ? yuan(bill.late_fee) : '',
          dueDate: beijingDate(bill.due_date),
        }),
      });
    } catch (err) {
      this.setData({ message: err.userMessage });
    } finally {
      this.setData({ busy: false });
    }
  },

  async pay() {
    const { bill, plate } = this.data;
    if (!bill || this.data.busy) return;
    // The amount is never sent: the backend asks the agency for it.
    const body = { bill_type: bill.bill_type, bill_ref: bill.bill_ref, channel: 'wechatpay' };
    if (bill.bill_type === 'fine') body.plate = plate.toUpperCase();
    this.setData({ busy: true, message: '' });
    try {
      const order = await this.attempt.create(body);
      try {
        await payments.pay(order);
      } catch (err) {
        // Cancelled: nothing was paid; paying again replays this attempt's order and key.
        if (err.code === 'payment_cancelled') {
          this.setData({ message: '已取消支付，可再次点击支付' });
          return;
        }
        // Any other failure of the pay sheet: the order page asks the backend what happened.
      }
      this.attempt.finish();
      wx.navigateTo({ url: `/pages/payment/payment?order_no=${encodeURIComponent(order.order_no)}` });
    } catch (err) {
      this.setData({ message: err.userMessage });
    } finally {
      this.setData({ busy: false });
    }
  },
});
