'use strict';
// Turns a service item from GET /api/v1/services/{code} ({code, name, item_type, department,
// region, audiences, guide: {...办事指南...}}) or a bundle from GET /api/v1/bundles/{id} into
// what the pages show. Empty fields are skipped, so a guide shows what the department filled in.
const { yuan } = require('./format');

const AUDIENCE_LABELS = { individual: '个人', enterprise: '企业' };
const MATERIAL_FORMS = { original: '原件', copy: '复印件', electronic: '电子件' };
const CHANNEL_LABELS = { window: '窗口办理', mini_program: '小程序', web: '网上办理', mail: '邮寄办理', app: 'APP' };

function text(value) {
  if (value === null || value === undefined || value === '') return '';
  if (Array.isArray(value)) return value.map(text).filter(Boolean).join('、');
  if (typeof value === 'object') return value.name || value.title || value.label || '';
  return String(value);
}

function workingDays(days) {
  if (days === null || days === undefined || days === '') return '';
  return Number(days) === 0 ? '即办' : `${days} 个工作日`;
}

function basicRows(item, guide) {
  const rows = [
    ['事项类型', item.item_type],
    ['实施主体', (item.department && item.department.name) || guide.subject],
    ['适用地区', item.region && item.region.name],
    ['服务对象', (item.audiences || []).map((a) => AUDIENCE_LABELS[a] || a)],
    ['办件类型', guide.handling_kind],
    ['法定办结时限', workingDays(guide.legal_time_limit_days)],
    ['承诺办结时限', workingDays(guide.promised_time_limit_days)],
    ['到现场次数', guide.visits === undefined ? '' : `${guide.visits} 次`],
    ['网上办理深度', guide.online_depth_label || guide.online_depth],
    ['办理渠道', (guide.channels || []).map((c) => CHANNEL_LABELS[c] || c)],
    ['办理结果', guide.result && guide.result.name],
    ['事项编码', item.code],
  ];
  return rows.map(([label, value]) => ({ label, value: text(value) })).filter((row) => row.value);
}

function materials(list) {
  return (list || []).map((m) => ({
    name: m.name,
    form: MATERIAL_FORMS[m.form] || text(m.form),
    copies: m.copies ? `${m.copies} 份` : '',
    required: m.required !== false,
    // A licence in the wallet can stand in for the paper (免提交).
    licenceType: text(m.licence_type),
    note: text(m.note),
  }));
}

function steps(list) {
  return (list || []).map((s, i) => ({
    index: s.step || i + 1,
    name: text(s.name),
    department: text(s.department),
    timeLimit: s.time_limit_days ? workingDays(s.time_limit_days) : '',
    description: text(s.description),
  }));
}

function fees(list) {
  return (list || []).map((f) => ({
    name: text(f.name),
    // Amounts are integer fen; a text standard ("按面积计收") is shown as written.
    standard: typeof f.amount === 'number' ? yuan(f.amount) : text(f.standard || f.amount),
    basis: text(f.basis),
  }));
}

function contacts(guide) {
  const rows = [];
  const consulting = guide.consulting || {};
  const complaint = guide.complaint || {};
  if (consulting.phone || consulting.address) rows.push({ label: '咨询方式', value: [consulting.phone, consulting.address].filter(Boolean).join('，') });
  if (complaint.phone || complaint.channel) rows.push({ label: '监督投诉', value: [complaint.phone, complaint.channel].filter(Boolean).join('，') });
  (guide.windows || []).forEach((w) => rows.push({ label: '办理窗口', value: [w.address, w.hours].filter(Boolean).join('，') }));
  return rows;
}

function guideView(item) {
  const guide = item.guide || {};
  const feeList = fees(guide.fees);
  return {
    name: item.name,
    basic: basicRows(item, guide),
    conditions: [].concat(guide.conditions || []).map(text).filter(Boolean),
    materials: materials(guide.materials),
    steps: steps(guide.steps),
    fees: feeList,
    free: guide.free_of_charge === true || !feeList.length,
    contacts: contacts(guide),
    faqs: (guide.faqs || []).map((f) => ({ question: text(f.question), answer: text(f.answer) })),
    legalBasis: [].concat(guide.legal_basis || []).map(text).filter(Boolean),
  };
}

function bundleView(bundle) {
  return {
    title: bundle.title,
    description: bundle.description || '',
    region: (bundle.region && bundle.region.name) || '',
    items: (bundle.items || []).map((i) => ({ code: i.code, name: i.name, department: text(i.department) })),
    missing: (bundle.unavailable_in_region || []).length,
    materials: materials(bundle.materials),
    steps: steps(bundle.flow),
  };
}

module.exports = { guideView, bundleView };
