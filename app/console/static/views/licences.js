// Licence types and licences: define a type, issue, suspend, reinstate, revoke.
import { licences } from '../api.js';
import { h, clear, table, tag, form, section, act, beijing } from '../ui.js';

const STATUS = {
  active: ['有效', 'ok'],
  suspended: ['已暂停', 'warn'],
  revoked: ['已吊销', 'bad'],
  expired: ['已过期', 'bad'],
};

function rowsOf(body, key) {
  if (Array.isArray(body)) return body;
  return (body && (body[key] || body.items)) || [];
}

function statusTag(status) {
  const [text, tone] = STATUS[status] || [status, ''];
  return tag(text, tone);
}

const TYPE_FIELDS = [
  { name: 'code', label: '类型编码', required: true, help: '如 food_business' },
  { name: 'name', label: '类型名称', required: true, help: '如 食品经营许可证' },
  { name: 'issuing_department', label: '发证部门' },
  { name: 'holder_kind', label: '持证主体', type: 'select', options: [{ value: 'person', label: '个人' }, { value: 'enterprise', label: '企业' }] },
  { name: 'identity_class', label: '身份类证照（出示前需人脸核身）', type: 'checkbox' },
  { name: 'field_schema', label: '字段定义（JSON）', type: 'json', emptyValue: {}, help: '{"licence_no": {"label": "许可证编号", "type": "string", "required": true}}' },
  { name: 'qr_fields', label: '写入二维码的字段（每行一个）', type: 'list' },
  { name: 'scope_fields', label: '各核验范围可见字段（JSON）', type: 'json', emptyValue: {}, help: '{"market_supervision": ["name", "licence_no", "scope"]}' },
];

export async function typesView(root) {
  const types = rowsOf(await licences.listTypes(), 'types');
  const editor = form(TYPE_FIELDS, { holder_kind: 'enterprise', field_schema: {}, scope_fields: {} }, {
    submitLabel: '创建类型',
    onSubmit: async (values) => {
      await licences.createType(values);
      await typesView(root);
    },
  });
  clear(root,
    section('证照类型', table([
      { label: '编码', render: (t) => h('span', { class: 'mono' }, t.code) },
      { label: '名称', key: 'name' },
      { label: '发证部门', render: (t) => t.issuing_department || t.department || '' },
      { label: '主体', render: (t) => (t.holder_kind === 'person' ? '个人' : '企业') },
      { label: '二维码字段', render: (t) => (t.qr_fields || []).join(', ') },
    ], types)),
    section('新建证照类型', editor.el));
}

const ISSUE_FIELDS = [
  { name: 'type_code', label: '证照类型编码', required: true },
  { name: 'holder_id_number', label: '持证人身份证号（个人证照）', help: '仅用于查找持证人，不会显示' },
  { name: 'holder_credit_code', label: '持证企业统一社会信用代码（企业证照）' },
  { name: 'holder_name', label: '持证人/企业名称', required: true },
  { name: 'serial', label: '证照序号', help: '同一编号重复签发不会产生两本证照' },
  { name: 'region_code', label: '发证地区编码' },
  { name: 'valid_from', label: '有效期起（北京时间）', type: 'datetime' },
  { name: 'valid_until', label: '有效期至（北京时间）', type: 'datetime' },
  { name: 'fields', label: '证照内容（JSON，按类型字段定义）', type: 'json', emptyValue: {} },
];

function reasonPrompt(action) {
  const reason = window.prompt(`请输入${action}原因（将记入证照历史）`);
  return reason && reason.trim() ? reason.trim() : null;
}

export async function licencesView(root) {
  const state = { q: '', type: '', status: '' };
  const results = h('div');
  const q = h('input', { type: 'search', placeholder: '证照标识、持证人名称或信用代码' });
  const type = h('input', { placeholder: '类型编码' });
  const status = h('select', {}, h('option', { value: '' }, '全部状态'),
    Object.entries(STATUS).map(([value, [text]]) => h('option', { value }, text)));

  async function change(button, action, id, label) {
    const reason = reasonPrompt(label);
    if (!reason) return;
    await act(button, async () => {
      await action(id, reason);
      await load();
    }, `已${label}`);
  }

  async function load() {
    const rows = rowsOf(await licences.list(state), 'licences');
    clear(results, table([
      { label: '证照标识', render: (l) => h('span', { class: 'mono' }, l.identifier || l.id) },
      { label: '类型', render: (l) => l.type_name || l.type_code },
      { label: '持证人', render: (l) => l.holder_name || '' },
      { label: '有效期至', render: (l) => beijing(l.valid_until) },
      { label: '状态', render: (l) => statusTag(l.status) },
      {
        label: '操作',
        render: (l) => h('div', { class: 'actions' },
          l.status === 'active' ? h('button', { onclick: (e) => change(e.target, licences.suspend, l.id, '暂停') }, '暂停') : null,
          l.status === 'suspended' ? h('button', { onclick: (e) => change(e.target, licences.reinstate, l.id, '恢复') }, '恢复') : null,
          l.status !== 'revoked' ? h('button', { class: 'danger', onclick: (e) => change(e.target, licences.revoke, l.id, '吊销') }, '吊销') : null),
      },
    ], rows));
  }

  const issue = form(ISSUE_FIELDS, { fields: {} }, {
    submitLabel: '签发',
    onSubmit: async (values) => {
      const issued = await licences.issue(values);
      await load();
      return issued;
    },
  });

  clear(root,
    section('证照管理',
      h('form', {
        class: 'toolbar',
        onsubmit: (e) => {
          e.preventDefault();
          Object.assign(state, { q: q.value.trim(), type: type.value.trim(), status: status.value });
          act(null, load);
        },
      }, q, type, status, h('button', { type: 'submit' }, '查询')),
      results),
    section('签发证照', issue.el));
  await load();
}
