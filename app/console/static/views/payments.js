// Payments: look an order up, refund part or all of it, see order counts, run and read
// reconciliations and mark mismatches as dealt with.
import { payments } from '../api.js';
import { h, clear, table, tag, form, section, act, yuan, beijing } from '../ui.js';

const STATUS_TONES = { settled: 'ok', paid: 'ok', refunded: 'warn', refunding: 'warn', failed: 'bad', closed: 'bad' };
const STATUS_LABELS = {
  created: '待支付', paying: '支付中', paid: '已支付', settled: '已入账', closed: '已关闭',
  refunding: '退款中', refunded: '已退款', failed: '失败',
};

// A settled order is refunded in full only, after the agency reverses (冲正) its settlement.
const REVERSAL_LABELS = { pending: '等待缴费单位冲正', confirmed: '已冲正', refused: '缴费单位拒绝冲正', abandoned: '已放弃冲正' };
const REFUND_STATUS_LABELS = { awaiting_reversal: '等待冲正', processing: '退款中', succeeded: '已退款', failed: '失败' };
const REFUND_FAILURES = { reversal_refused: '缴费单位拒绝冲正，未退款', reversal_abandoned: '已放弃冲正，未退款' };

function reversalText(reversal) {
  if (!reversal) return '';
  const label = REVERSAL_LABELS[reversal.status] || reversal.status;
  return reversal.last_error ? `${label}（${reversal.last_error}，已尝试 ${reversal.attempts} 次）` : label;
}

function statusTag(status) {
  return tag(STATUS_LABELS[status] || status, STATUS_TONES[status]);
}

function dl(pairs) {
  return h('dl', { class: 'kv' }, pairs.filter(([, v]) => v !== undefined && v !== null && v !== '')
    .flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v instanceof Node ? v : String(v))]));
}

export async function ordersView(root) {
  const detail = h('div');
  const stats = h('div');
  const orderNo = h('input', { placeholder: '订单号' });

  async function show(no) {
    const order = await payments.getOrder(no);
    const refunds = order.refunds || [];
    const refundForm = form([
      { name: 'amount_yuan', label: '退款金额（元）', required: true, help: order.status === 'settled'
        ? `已入账订单只能全额退款 ${yuan((order.amount || 0) - (order.refunded_amount || 0))}，先由缴费单位冲正`
        : `最多可退 ${yuan((order.amount || 0) - (order.refunded_amount || 0))}` },
      { name: 'reason', label: '退款原因', required: true },
    ], {}, {
      submitLabel: '发起退款',
      onSubmit: async (values) => {
        const fen = Math.round(Number(values.amount_yuan) * 100);
        if (!Number.isInteger(fen) || fen <= 0) throw new Error('退款金额无效');
        if (!window.confirm(`确认退款 ${yuan(fen)}？`)) return;
        await payments.refund(no, fen, values.reason);
        await show(no);
      },
    });
    // A reversal the agency has not answered: ask again now, or stop asking (no money has moved).
    const reversalActions = order.reversal && order.reversal.status === 'pending'
      ? [h('h3', {}, '冲正处理'), form([
        { name: 'reason', label: '放弃原因（仅放弃时需要）' },
      ], {}, {
        submitLabel: '放弃冲正',
        successMessage: '已放弃冲正，退款未执行',
        onSubmit: async (values) => {
          if (!values.reason || !values.reason.trim()) throw new Error('请填写放弃原因');
          if (!window.confirm('放弃冲正后本次退款失败、订单恢复为已入账，确认？')) return;
          await payments.abandonReversal(no, values.reason.trim());
          await show(no);
        },
        extraButtons: [h('button', {
          type: 'button',
          onclick: (e) => act(e.currentTarget, async () => { await payments.retryReversal(no); await show(no); }, '已重新询问缴费单位'),
        }, '立即重试冲正')],
      }).el]
      : [];
    clear(detail,
      section(`订单 ${order.order_no}`,
        dl([
          ['状态', statusTag(order.status)], ['金额', yuan(order.amount)], ['本金', yuan(order.principal)], ['滞纳金/加处罚款', yuan(order.late_fee)],
          ['已退款', yuan(order.refunded_amount)], ['账单', `${order.bill_type} ${order.bill_ref}`], ['渠道', order.channel],
          ['渠道交易号', order.channel_txn_id], ['创建', beijing(order.created_at)], ['支付', beijing(order.paid_at)], ['入账', beijing(order.settled_at)],
          ['电子票据', order.receipt ? order.receipt.receipt_no + (order.receipt.voided_at ? '（已冲红）' : '') : ''],
          ['冲正', reversalText(order.reversal)],
        ]),
        h('h3', {}, '退款记录'),
        table([
          { label: '退款单号', key: 'refund_no' },
          { label: '金额', render: (r) => yuan(r.amount) },
          { label: '原因', key: 'reason' },
          { label: '类型', key: 'kind' },
          { label: '状态', render: (r) => REFUND_STATUS_LABELS[r.status] || r.status },
          // A channel's refusal: its own code and message (e.g. NOT_ENOUGH 基本账户余额不足).
          { label: '失败原因', render: (r) => (r.failure_code ? REFUND_FAILURES[r.failure_code] || [r.failure_code, r.failure_message].filter(Boolean).join(' ') : '') },
          { label: '时间', render: (r) => beijing(r.created_at) },
        ], refunds, { empty: '无退款' }),
        ...reversalActions,
        h('h3', {}, '退款'),
        refundForm.el));
  }

  async function loadStats() {
    const body = await payments.stats();
    const counts = body.orders || {};
    clear(stats, h('div', { class: 'stats' },
      Object.entries(counts).map(([status, count]) => h('div', { class: 'stat' }, h('b', {}, String(count)), STATUS_LABELS[status] || status))),
    (body.overdue_settlements || []).length
      ? [h('h3', {}, '超过 1 小时未入账'), table([
        { label: '订单号', render: (o) => h('a', { href: '#/payments/orders', onclick: (e) => { e.preventDefault(); act(null, () => show(o.order_no)); } }, o.order_no) },
        { label: '等待入账起', render: (o) => beijing(o.since) },
        { label: '尝试次数', key: 'attempts' },
        { label: '最近错误', key: 'last_error' },
      ], body.overdue_settlements)]
      : h('p', { class: 'muted' }, '没有超时未入账的订单'),
    (body.overdue_reversals || []).length
      ? [h('h3', {}, '超过 1 小时未冲正'), table([
        { label: '订单号', render: (o) => h('a', { href: '#/payments/orders', onclick: (e) => { e.preventDefault(); act(null, () => show(o.order_no)); } }, o.order_no) },
        { label: '申请时间', render: (o) => beijing(o.requested_at) },
        { label: '尝试次数', key: 'attempts' },
        { label: '最近错误', key: 'last_error' },
      ], body.overdue_reversals)]
      : []);
  }

  clear(root,
    section('订单概况', stats),
    section('查询订单',
      h('form', {
        class: 'toolbar',
        onsubmit: (e) => {
          e.preventDefault();
          if (orderNo.value.trim()) act(e.submitter, () => show(orderNo.value.trim()));
        },
      }, orderNo, h('button', { type: 'submit', class: 'primary' }, '查询'))),
    detail);
  await loadStats();
}

// The kinds the reconciliation writes (app/services/payments/reconcile.py).
const MISMATCH_LABELS = {
  missing_in_channel: '渠道账单缺失',
  missing_locally: '本地订单缺失',
  missing_at_agency: '缴费单位未入账',
  agency_only: '缴费单位有入账、本地无订单',
  amount_mismatch: '金额不一致',
  status_mismatch: '状态不一致',
  reversal_mismatch: '冲正状态不一致',
  paid_twice: '重复支付',
};

// A run's summary counts its mismatches by kind.
function mismatchCount(run) {
  const byKind = (run.summary && run.summary.mismatches) || {};
  return Object.values(byKind).reduce((sum, n) => sum + Number(n || 0), 0);
}

export async function reconciliationsView(root) {
  const runs = h('div');
  const detail = h('div');
  const date = h('input', { type: 'date' });
  date.value = new Date(Date.now() + 8 * 3600 * 1000 - 86400000).toISOString().slice(0, 10);

  async function showRun(id) {
    const run = await payments.getReconciliation(id);
    const items = run.items || [];
    clear(detail, section(`对账 ${run.day || ''}（#${run.id}）`,
      h('p', {}, tag(run.status), ' ', h('span', { class: 'muted' }, `开始 ${beijing(run.started_at)} · 结束 ${beijing(run.finished_at)}`)),
      table([
        { label: '类型', render: (i) => MISMATCH_LABELS[i.kind] || i.kind },
        { label: '渠道', key: 'channel' },
        { label: '订单号', key: 'order_no' },
        { label: '我方金额', render: (i) => yuan(i.expected_amount) },
        { label: '对方金额', render: (i) => yuan(i.actual_amount) },
        { label: '建议', render: (i) => (i.proposed_refund_amount ? `建议退款 ${yuan(i.proposed_refund_amount)}` : '') },
        { label: '详情', render: (i) => h('span', { class: 'mono' }, i.detail && Object.keys(i.detail).length ? JSON.stringify(i.detail) : '') },
        { label: '处理', render: (i) => (i.resolved_at ? tag(`已处理 ${beijing(i.resolved_at)}`, 'ok')
          : h('button', { onclick: (e) => act(e.target, async () => { await payments.resolveItem(i.id); await showRun(id); }, '已标记处理') }, '标记已处理')) },
      ], items, { empty: '没有差异' })));
  }

  async function loadRuns() {
    const body = await payments.listReconciliations();
    clear(runs, table([
      { label: '编号', key: 'id' },
      { label: '日期', render: (r) => r.day },
      { label: '状态', render: (r) => tag(r.status) },
      { label: '差异数', render: (r) => mismatchCount(r) },
      { label: '开始', render: (r) => beijing(r.started_at) },
      { label: '', render: (r) => h('button', { onclick: (e) => act(e.target, () => showRun(r.id)) }, '查看') },
    ], body.runs || []));
  }

  clear(root,
    section('发起对账',
      h('div', { class: 'toolbar' }, date,
        h('button', { class: 'primary', onclick: (e) => act(e.target, async () => { const run = await payments.reconcile(date.value); await loadRuns(); if (run && run.id) await showRun(run.id); }, '对账完成') }, '对账'))),
    section('对账记录', runs),
    detail);
  await loadRuns();
}
