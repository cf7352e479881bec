'use strict';
// Licence statuses and inspection results, in words for holders and inspectors.

const STATUS_LABELS = {
  active: { text: '有效', tone: 'ok' },
  suspended: { text: '已暂停', tone: 'warn' },
  revoked: { text: '已吊销', tone: 'bad' },
  expired: { text: '已过期', tone: 'bad' },
};

// The reason codes POST /api/v1/inspections gives with {"valid": false} (app/lc1/verifier.py
// Reason, and the licence checks in app/services/licences/inspection.py).
const INSPECTION_REASONS = {
  too_large: '二维码内容过长，不是有效的亮证码',
  stale_trust_list: '本机信任列表已过期，请联网更新后再核验',
  bad_prefix: '不是本平台的电子证照码',
  bad_encoding: '二维码内容无法识别',
  bad_compression: '二维码内容无法识别',
  bad_cose: '二维码内容无法识别',
  bad_header: '二维码内容无法识别',
  bad_claims: '二维码内容无法识别',
  unsupported_algorithm: '签名算法不受支持，证照可能伪造',
  unknown_kid: '签发机构密钥未登记，证照可能伪造',
  bad_signature: '签名校验失败，证照可能被篡改',
  issuer_mismatch: '签发机构与密钥不符，证照可能伪造',
  key_not_valid: '签发密钥已失效',
  key_usage: '签发密钥不可用于签发此类证照',
  not_yet_valid: '亮证码尚未生效，请检查手机时间',
  expired: '亮证码已过期，请持证人刷新后重新出示',
  licence_expired: '证照已超过有效期',
  replayed: '该亮证码已被核验过，请持证人刷新后重新出示',
  revoked: '证照已被吊销',
  suspended: '证照已被暂停使用',
  unknown_licence: '未找到该证照',
  out_of_scope: '该证照不在您的核验范围内',
};

const FIELD_LABELS = {
  name: '名称',
  licence_no: '证照编号',
  legal_representative: '法定代表人',
  address: '地址',
  scope: '经营范围',
  business_scope: '经营范围',
  category: '类别',
  issue_date: '发证日期',
  valid_from: '有效期起',
  valid_until: '有效期至',
  id_number: '证件号码',
  gender: '性别',
  birth_date: '出生日期',
};

function statusView(status) {
  return STATUS_LABELS[status] || { text: status || '未知', tone: 'warn' };
}

function reasonText(reason) {
  return INSPECTION_REASONS[reason] || `核验未通过（${reason || '未知原因'}）`;
}

// What an inspector may see of a valid licence, as labelled rows.
function inspectedRows(licence) {
  const rows = [];
  const holder = licence.holder || {};
  if (holder.name) rows.push({ label: holder.kind === 'enterprise' ? '持证企业' : '持证人', value: holder.name });
  if (holder.credit_code) rows.push({ label: '统一社会信用代码', value: holder.credit_code });
  if (licence.identifier) rows.push({ label: '证照标识', value: licence.identifier });
  rows.push({ label: '有效期至', value: licence.valid_until || '长期' });
  const data = licence.data || {};
  Object.keys(data).forEach((key) => {
    if (data[key] !== null && data[key] !== '') rows.push({ label: FIELD_LABELS[key] || key, value: String(data[key]) });
  });
  return rows;
}

function locationText(location) {
  if (!location) return '';
  if (location.address) return location.address;
  if (typeof location.latitude === 'number') return `北纬 ${location.latitude.toFixed(4)}，东经 ${location.longitude.toFixed(4)}`;
  return '';
}

// One entry of GET /licences/{id}/usage, as the usage page lists it: a scan by an inspector, or
// a department's read through a consent the holder granted (kind "consent").
function usageRecord(entry, when) {
  const reader = (entry.inspector && entry.inspector.name) || '';
  if (entry.kind === 'consent') {
    const consent = entry.consent || {};
    return {
      when,
      who: reader || consent.department || '授权部门',
      valid: true,
      verdict: '授权用证',
      reason: [consent.department, consent.purpose].filter(Boolean).join(' · '),
      location: '',
    };
  }
  const valid = entry.valid === true;
  return {
    when,
    who: reader || '核验人员',
    valid,
    verdict: valid ? '核验通过' : '未通过',
    reason: valid ? '' : reasonText(entry.reason),
    location: locationText(entry.location),
  };
}

module.exports = { INSPECTION_REASONS, statusView, reasonText, inspectedRows, usageRecord };
