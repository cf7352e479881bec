'use strict';
// Turns a service item (办事指南) from GET /api/v1/services/{code} into labelled sections.
// Unknown or empty fields are skipped, so a guide shows what the department filled in.

const BASIC_FIELDS = [
  ['item_type', '事项类型'],
  ['department_name', '实施主体'],
  ['audience_label', '服务对象'],
  ['basic_code', '基本编码'],
  ['implementation_code', '实施编码'],
  ['legal_time_limit', '法定办结时限'],
  ['promised_time_limit', '承诺办结时限'],
  ['visits', '到现场次数'],
  ['online_depth', '网上办理深度'],
  ['channels', '办理形式'],
];

const AUDIENCE_LABELS = { individual: '个人', enterprise: '企业', both: '个人、企业' };
const MATERIAL_FORMS = { original: '原件', copy: '复印件', electronic: '电子件' };

function text(value) {
  if (value === null || value === undefined || value === '') return '';
  if (Array.isArray(value)) return value.map(text).filter(Boolean).join('、');
  if (typeof value === 'object') return value.name || value.title || value.label || '';
  return String(value);
}

function days(value) {
  if (typeof value === 'number') return `${value} 个工作日`;
  return text(value);
}

function basicRows(item) {
  const view = Object.assign({}, item, {
    department_name: item.department_name || text(item.department),
    audience_label: text([].concat(item.audience || []).map((a) => AUDIENCE_LABELS[a] || a)),
    legal_time_limit: days(item.legal_time_limit),
    promised_time_limit: days(item.promised_time_limit),
    visits: typeof item.visits === 'number' ? `${item.visits} 次` : item.visits,
  });
  return BASIC_FIELDS.map(([key, label]) => ({ label, value: text(view[key]) })).filter((row) => row.value);
}

function materials(item) {
  return (item.materials || []).map((m) => ({
    name: m.name,
    form: MATERIAL_FORMS[m.form] || text(m.form),
    copies: m.copies ? `${m.copies} 份` : '',
    required: m.required !== false,
    // A licence in the wallet can stand in for the paper: 免提交.
    licenceType: text(m.licence_type_name || m.licence_type),
    note: text(m.note),
  }));
}

function steps(item) {
  return (item.steps || []).map((s, i) => ({
    index: i + 1,
    name: text(s.name || s.title),
    timeLimit: days(s.time_limit),
    description: text(s.description),
  }));
}

function fees(item) {
  return (item.fees || []).map((f) => ({
    name: text(f.name),
    standard: text(f.standard || f.amount_text || f.amount),
    basis: text(f.basis),
  }));
}

function contacts(item) {
  const rows = [];
  const consulting = text(item.consulting || item.consulting_contact);
  const complaint = text(item.complaint || item.complaint_contact);
  if (consulting) rows.push({ label: '咨询方式', value: consulting });
  if (complaint) rows.push({ label: '监督投诉', value: complaint });
  return rows;
}

function faqs(item) {
  return (item.faqs || []).map((f) => ({ question: text(f.question || f.q), answer: text(f.answer || f.a) }));
}

function guideView(item) {
  return {
    name: item.name,
    basic: basicRows(item),
    conditions: text(item.conditions),
    materials: materials(item),
    steps: steps(item),
    fees: fees(item),
    free: !(item.fees || []).length,
    contacts: contacts(item),
    faqs: faqs(item),
    legalBasis: text(item.legal_basis),
  };
}

module.exports = { guideView };
