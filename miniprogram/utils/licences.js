'use strict';
// Licence statuses and inspection results, in words for holders and inspectors.

const STATUS_LABELS = {
  active: { text: '有效', tone: 'ok' },
  suspended: { text: '已暂停', tone: 'warn' },
  revoked: { text: '已吊销', tone: 'bad' },
  expired: { text: '已过期', tone: 'bad' },
};

// The reason codes POST /api/v1/inspections gives with {"valid": false}.
const INSPECTION_REASONS = {
  bad_prefix: '不是本平台的电子证照码',
  malformed: '二维码内容无法识别',
  decode_failed: '二维码内容无法识别',
  bad_encoding: '二维码内容无法识别',
  bad_cbor: '二维码内容无法识别',
  bad_cose: '二维码内容无法识别',
  unknown_kid: '签发机构密钥未登记，证照可能伪造',
  unknown_issuer: '签发机构未登记，证照可能伪造',
  bad_signature: '签名校验失败，证照可能被篡改',
  signature_invalid: '签名校验失败，证照可能被篡改',
  expired: '亮证码已过期，请持证人刷新后重新出示',
  not_yet_valid: '亮证码尚未生效，请检查手机时间',
  replayed: '该亮证码已被核验过，请持证人刷新后重新出示',
  revoked: '证照已被吊销',
  suspended: '证照已被暂停使用',
  licence_expired: '证照已超过有效期',
  licence_not_found: '未找到该证照',
  out_of_scope: '该证照不在您的核验范围内',
  type_out_of_scope: '该类证照不在您的核验范围内',
  region_out_of_scope: '该地区证照不在您的核验范围内',
};

function statusView(status) {
  return STATUS_LABELS[status] || { text: status || '未知', tone: 'warn' };
}

function reasonText(reason) {
  return INSPECTION_REASONS[reason] || `核验未通过（${reason || '未知原因'}）`;
}

// Licence fields arrive as {key: value} or as [{label, value}]; show both as rows.
function fieldRows(fields, labels) {
  if (!fields) return [];
  if (Array.isArray(fields)) return fields.map((f) => ({ label: f.label || f.name || f.key, value: String(f.value) }));
  return Object.keys(fields).map((key) => ({ label: (labels && labels[key]) || key, value: String(fields[key]) }));
}

module.exports = { STATUS_LABELS, INSPECTION_REASONS, statusView, reasonText, fieldRows };
