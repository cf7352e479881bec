// Small DOM helpers. Text always goes in as text nodes (never innerHTML), so data from the
// API cannot inject markup; the CSP forbids inline script and style as a second wall.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2).toLowerCase(), value);
    else if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key in el && typeof value !== 'string') el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// ---------------------------------------------------------------- formatting
const SHANGHAI_OFFSET_MS = 8 * 3600 * 1000;

export function yuan(fen) {
  if (fen === null || fen === undefined || fen === '') return '';
  const value = Math.round(Number(fen));
  const abs = Math.abs(value);
  return `${value < 0 ? '-' : ''}¥${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
}

export function beijing(iso) {
  if (!iso) return '';
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return String(iso);
  return new Date(ms + SHANGHAI_OFFSET_MS).toISOString().slice(0, 19).replace('T', ' ');
}

// <input type="datetime-local"> holds Beijing wall time; the API wants ISO 8601 with a zone.
export function beijingInputToIso(value) {
  return value ? `${value.length === 16 ? `${value}:00` : value}+08:00` : null;
}

export function isoToBeijingInput(iso) {
  return iso ? beijing(iso).replace(' ', 'T').slice(0, 16) : '';
}

// ---------------------------------------------------------------- feedback
const ERROR_MESSAGES = {
  invalid_credentials: '用户名或密码错误',
  rate_limited: '尝试过于频繁，请稍后再试',
  token_expired: '登录已过期，请重新登录',
  token_invalid: '登录已失效，请重新登录',
  store_unavailable: '数据库或缓存暂时不可用，请稍后重试',
  refresh_token_reused: '登录已在别处使用，请重新登录',
  request_timeout: '请求超时，请重试',
  upstream_unavailable: '合作方系统暂时不可用，请稍后再试',
  service_not_found: '未找到该服务事项',
  zone_not_found: '未找到该专区',
  bundle_not_found: '未找到该“一件事”',
  reconciliation_item_not_found: '未找到该对账差异',
  unauthorized: '请先登录',
  forbidden: '没有运营人员权限',
  not_found: '未找到',
  validation_failed: '填写的内容有误',
  conflict: '数据已被他人修改，请刷新后重试',
  revision_conflict: '内容已被他人修改，请刷新页面后重新编辑',
  transition_not_allowed: '当前状态不允许此操作',
  already_exists: '编码或标识已存在',
  invalid_entries: '条目引用了不存在的事项或一件事',
  import_rejected: '导入内容有错误，整批未导入',
  import_unreadable: '导入文件无法读取',
  unknown_region: '地区编码不存在',
  unknown_department: '部门不存在，请先添加部门',
  unknown_audience: '服务对象有误',
  licence_invalid: '证照信息有误',
  licence_conflict: '该证照编号已签发且内容不同',
  licence_type_not_found: '证照类型不存在',
  licence_type_code_invalid: '证照类型代码应为21位数字或大写字母',
  issuer_not_found: '发证机构不存在',
  issuer_key_not_found: '该发证机构没有这个密钥',
  issuer_not_allowed: '该机构无权签发此类证照',
  certificate_invalid: '证书无效',
  licence_not_found: '证照不存在',
  payment_not_found: '订单不存在',
  refund_exceeds_paid: '退款金额超过可退金额',
  refund_not_allowed: '该订单当前不能退款',
  partial_refund_not_allowed: '已入账订单只能全额退款（需先由缴费单位冲正）',
  reversal_not_found: '该订单没有冲正请求',
  reversal_not_pending: '该冲正已不在等待缴费单位答复',
  credit_code_invalid: '统一社会信用代码有误',
  id_number_invalid: '身份证号码有误',
  enterprise_exists: '企业已登记',
  user_not_found: '用户不存在',
  network_error: '无法连接服务，请检查网络',
  internal_error: '服务内部错误',
};

export function errorText(err) {
  const base = ERROR_MESSAGES[err.code] || err.serverMessage || '操作失败';
  const fields = (err.context && err.context.fields) || [];
  const detail = fields.map((f) => `${f.field}: ${f.problem}`).join('；');
  const id = err.requestId ? `（请求编号 ${err.requestId}）` : '';
  return `${base}${detail ? `：${detail}` : ''} [${err.code}]${id}`;
}

export function toast(message, tone = 'ok') {
  const el = h('div', { class: `toast toast-${tone}`, role: 'status' }, message);
  document.body.append(el);
  setTimeout(() => el.remove(), tone === 'error' ? 8000 : 3000);
}

// Runs an action from a button: disables it meanwhile and reports failures in one way.
export async function act(button, action, successMessage) {
  if (button) button.disabled = true;
  try {
    const result = await action();
    if (successMessage) toast(successMessage);
    return result;
  } catch (err) {
    toast(err.code ? errorText(err) : String(err.message || err), 'error');
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

// ---------------------------------------------------------------- tables and forms
export function table(columns, rows, { empty = '暂无数据' } = {}) {
  if (!rows.length) return h('p', { class: 'muted' }, empty);
  return h('table', { class: 'grid' },
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', {}, c.label)))),
    h('tbody', {}, rows.map((row) => h('tr', {}, columns.map((c) => h('td', {}, c.render ? c.render(row) : row[c.key]))))));
}

export function tag(text, tone = '') {
  return h('span', { class: `tag ${tone ? `tag-${tone}` : ''}` }, text);
}

/*
 * A form from field specs: {name, label, type: text|textarea|number|select|json|list|datetime|
 * checkbox|password, options, required, help}. `json` fields are edited as JSON text and
 * `list` fields as one value per line; values() parses them and throws with the field's label.
 */
export function form(fields, initial = {}, { onSubmit, submitLabel = '保存', successMessage = '已保存', extraButtons = [] } = {}) {
  const inputs = {};
  const rows = fields.map((field) => {
    const value = initial[field.name];
    let input;
    if (field.type === 'textarea' || field.type === 'json' || field.type === 'list') {
      const text = field.type === 'json' ? (value === undefined ? '' : JSON.stringify(value, null, 2))
        : field.type === 'list' ? (value || []).join('\n') : (value || '');
      input = h('textarea', { name: field.name, rows: field.rows || (field.type === 'json' ? 8 : 4), class: field.type === 'json' ? 'mono' : '' });
      input.value = text;
    } else if (field.type === 'select') {
      input = h('select', { name: field.name },
        field.options.map((o) => h('option', { value: o.value, selected: String(o.value) === String(value ?? field.default ?? '') }, o.label)));
    } else if (field.type === 'checkbox') {
      input = h('input', { type: 'checkbox', name: field.name, checked: Boolean(value) });
    } else {
      const type = { number: 'number', datetime: 'datetime-local', password: 'password', date: 'date' }[field.type] || 'text';
      input = h('input', { type, name: field.name, required: field.required, placeholder: field.placeholder || '' });
      input.value = field.type === 'datetime' ? isoToBeijingInput(value) : (value ?? '');
    }
    inputs[field.name] = input;
    return h('label', { class: 'field' }, h('span', { class: 'field-label' }, field.label, field.required ? ' *' : ''), input,
      field.help ? h('small', { class: 'muted' }, field.help) : null);
  });

  function values() {
    const out = {};
    for (const field of fields) {
      const input = inputs[field.name];
      let value;
      if (field.type === 'checkbox') value = input.checked;
      else if (field.type === 'number') value = input.value === '' ? null : Number(input.value);
      else if (field.type === 'list') value = input.value.split('\n').map((s) => s.trim()).filter(Boolean);
      else if (field.type === 'datetime') value = beijingInputToIso(input.value);
      else if (field.type === 'json') {
        if (!input.value.trim()) value = field.emptyValue ?? null;
        else {
          try {
            value = JSON.parse(input.value);
          } catch (err) {
            throw new Error(`“${field.label}”不是有效的 JSON：${err.message}`);
          }
        }
      } else value = input.value.trim();
      if (field.required && (value === '' || value === null || (Array.isArray(value) && !value.length))) {
        throw new Error(`请填写“${field.label}”`);
      }
      if (value !== '' || field.keepEmpty) out[field.name] = value;
    }
    return out;
  }

  const submit = h('button', { type: 'submit', class: 'primary' }, submitLabel);
  const el = h('form', {
    class: 'form',
    onsubmit: (event) => {
      event.preventDefault();
      if (onSubmit) act(submit, () => onSubmit(values()), successMessage);
    },
  }, rows, h('div', { class: 'buttons' }, submit, extraButtons));
  return { el, values, inputs };
}

export function section(title, ...children) {
  return h('section', { class: 'panel' }, h('h2', {}, title), children);
}

export function download(filename, blob) {
  const url = URL.createObjectURL(blob);
  const link = h('a', { href: url, download: filename });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
