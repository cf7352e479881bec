// Licence types and issuers (with key rotation), issuance, and a licence's status and history.
import { licences } from '../api.js';
import { h, clear, table, tag, form, section, act, beijing, toast } from '../ui.js';

const ACTIONS = {
  suspend: { label: '暂停', tone: '' },
  reinstate: { label: '恢复', tone: '' },
  revoke: { label: '吊销', tone: 'danger' },
  expire: { label: '注销（到期）', tone: 'danger' },
};

const EVENT_LABELS = {
  issued: '签发', suspend: '暂停', suspended: '暂停', reinstate: '恢复', reinstated: '恢复',
  revoke: '吊销', revoked: '吊销', expire: '注销', expired: '注销', updated: '更新',
};

// ------------------------------------------------------------------ types and issuers

const TYPE_FIELDS = [
  { name: 'code', label: '类型编码（21 位）', required: true, help: '发证部门信用代码 + 3 位序号，如 11100000MB0143000Y001' },
  { name: 'name', label: '类型名称', required: true, help: '如 食品经营许可证' },
  { name: 'department', label: '发证部门', required: true },
  { name: 'holder_kind', label: '持证主体', type: 'select', options: [{ value: 'enterprise', label: '企业' }, { value: 'person', label: '个人' }] },
  { name: 'identity_class', label: '身份类证照（出示前需人脸核身）', type: 'checkbox' },
  { name: 'qr_fields', label: '写入二维码的字段（每行一个，最多 10 个）', type: 'list' },
  { name: 'field_schema', label: '字段定义（JSON）', type: 'json', emptyValue: {}, rows: 10,
    help: '{"licence_no": {"label": "许可证编号", "type": "text", "required": true, "max_length": 32}}' },
  { name: 'visible_fields', label: '各角色可见字段（JSON）', type: 'json', emptyValue: {},
    help: '{"inspector": ["licence_no", "scope"], "department": ["licence_no", "scope", "address"]}' },
];

const ISSUER_FIELDS = [
  { name: 'credit_code', label: '发证机构统一社会信用代码', required: true },
  { name: 'name', label: '机构名称', required: true },
  { name: 'region_code', label: '所在地区编码', required: true },
  { name: 'licence_types', label: '可签发的证照类型编码（每行一个）', type: 'list', required: true },
];

const KEY_FIELDS = [
  { name: 'credit_code', label: '发证机构信用代码', required: true },
  { name: 'signs_from', label: '启用时间（北京时间，留空为立即）', type: 'datetime' },
  { name: 'certificate_pem', label: '签名证书（PEM）', type: 'textarea', required: true, rows: 8,
    help: '私钥不经过控制台：由部署方放入密钥目录。新旧密钥在过渡期内同时有效。' },
];

export async function typesView(root) {
  const typeForm = form(TYPE_FIELDS, { holder_kind: 'enterprise', field_schema: {}, visible_fields: { inspector: [], department: [] } }, {
    submitLabel: '保存类型',
    onSubmit: async ({ code, ...body }) => {
      const saved = await licences.putType(code, body);
      toast(`已保存 ${saved.name || code}`);
    },
  });
  const issuerForm = form(ISSUER_FIELDS, {}, {
    submitLabel: '保存发证机构',
    onSubmit: ({ credit_code: creditCode, ...body }) => licences.putIssuer(creditCode, body),
  });
  const keyResult = h('div');
  const keyForm = form(KEY_FIELDS, {}, {
    submitLabel: '登记证书',
    successMessage: '证书已登记',
    onSubmit: async ({ credit_code: creditCode, certificate_pem: pem, signs_from: signsFrom }) => {
      const key = await licences.addIssuerKey(creditCode, pem, signsFrom);
      clear(keyResult, h('dl', { class: 'kv' },
        h('dt', {}, 'kid'), h('dd', { class: 'mono' }, key.kid),
        h('dt', {}, '可签发'), h('dd', {}, key.can_sign ? tag('是', 'ok') : tag('否：未找到对应私钥', 'warn')),
        h('dt', {}, '有效期'), h('dd', {}, `${beijing(key.signs_from)} ~ ${beijing(key.not_after)}`)));
    },
  });
  const retireIssuer = h('input', { placeholder: '发证机构信用代码' });
  const retireKid = h('input', { placeholder: 'kid（16 位十六进制）', class: 'mono' });
  clear(root,
    section('证照类型（新建或修改）', h('p', { class: 'muted' }, '以类型编码为准：编码已存在则更新该类型。'), typeForm.el),
    section('发证机构', issuerForm.el),
    section('签名密钥轮换', keyForm.el, keyResult,
      h('h3', {}, '停用密钥'),
      h('div', { class: 'toolbar' }, retireIssuer, retireKid,
        h('button', {
          class: 'danger',
          onclick: (e) => {
            if (!retireIssuer.value.trim() || !retireKid.value.trim()) return;
            if (window.confirm('停用后该密钥签发的亮证码将无法通过核验，确定？')) {
              act(e.target, () => licences.retireIssuerKey(retireIssuer.value.trim(), retireKid.value.trim()), '密钥已停用');
            }
          },
        }, '停用'))));
}

// ------------------------------------------------------------------ issuance and status

const ISSUE_FIELDS = [
  { name: 'type_code', label: '证照类型编码', required: true },
  { name: 'issuer_code', label: '发证机构信用代码', required: true },
  { name: 'serial', label: '证照序号', required: true, help: '同一类型、机构、序号和版本只签发一本：重复提交返回原证照' },
  { name: 'version', label: '版本号', help: '3 位，默认 001' },
  { name: 'holder_name', label: '持证人/企业名称', required: true },
  { name: 'holder_id_number', label: '持证人身份证号（个人证照）', help: '仅用于匹配持证人，加密保存' },
  { name: 'holder_credit_code', label: '持证企业信用代码（企业证照）' },
  { name: 'region_code', label: '发证地区编码', required: true },
  { name: 'valid_from', label: '有效期起', type: 'date', required: true },
  { name: 'valid_until', label: '有效期至（留空为长期）', type: 'date' },
  { name: 'data', label: '证照内容（JSON，按类型的字段定义）', type: 'json', emptyValue: {}, rows: 8 },
];

function issueBody(values) {
  const body = {
    type_code: values.type_code,
    issuer_code: values.issuer_code,
    serial: values.serial,
    holder: { name: values.holder_name },
    region_code: values.region_code,
    valid_from: values.valid_from,
    data: values.data || {},
  };
  if (values.version) body.version = values.version;
  if (values.valid_until) body.valid_until = values.valid_until;
  if (values.holder_id_number) body.holder.id_number = values.holder_id_number;
  if (values.holder_credit_code) body.holder.credit_code = values.holder_credit_code;
  return body;
}

export async function licencesView(root) {
  const detail = h('div');
  const licenceId = h('input', { type: 'number', placeholder: '证照编号（数字 id）' });

  async function show(id) {
    const body = await licences.history(id);
    const events = body.events || [];
    const reason = h('input', { placeholder: '原因（必填，记入证照历史）' });
    clear(detail, section(`证照 #${id}`,
      table([
        { label: '时间', render: (e) => beijing(e.at || e.created_at) },
        { label: '事件', render: (e) => EVENT_LABELS[e.kind] || e.kind },
        { label: '状态', render: (e) => (e.from_status || e.to_status ? `${e.from_status || ''} → ${e.to_status || ''}` : '') },
        { label: '操作者', render: (e) => e.actor_id ?? e.source ?? '' },
        { label: '原因', render: (e) => e.reason || '' },
      ], events, { empty: '没有记录' }),
      h('h3', {}, '变更状态'),
      h('div', { class: 'toolbar' }, reason,
        Object.entries(ACTIONS).map(([action, { label, tone }]) => h('button', {
          class: tone,
          onclick: (e) => {
            if (reason.value.trim().length < 2) {
              toast('请填写原因', 'error');
              return;
            }
            if (window.confirm(`确定${label}证照 #${id}？`)) {
              act(e.target, async () => {
                await licences.changeStatus(id, action, reason.value.trim());
                await show(id);
              }, `已${label}`);
            }
          },
        }, label)))));
  }

  const issued = h('div');
  const issueForm = form(ISSUE_FIELDS, { version: '001', data: {} }, {
    submitLabel: '签发',
    successMessage: '',
    onSubmit: async (values) => {
      const licence = await licences.issue(issueBody(values));
      // An ID number does not linger on screen once it has done its job.
      issueForm.inputs.holder_id_number.value = '';
      toast(`已签发 #${licence.id}`);
      clear(issued, h('dl', { class: 'kv' },
        h('dt', {}, '证照编号'), h('dd', {}, String(licence.id)),
        h('dt', {}, '证照标识'), h('dd', { class: 'mono' }, licence.identifier),
        h('dt', {}, '状态'), h('dd', {}, licence.status)));
      await show(licence.id);
    },
  });

  clear(root,
    section('证照状态与历史',
      h('form', {
        class: 'toolbar',
        onsubmit: (e) => {
          e.preventDefault();
          if (licenceId.value) act(e.submitter, () => show(licenceId.value));
        },
      }, licenceId, h('button', { type: 'submit', class: 'primary' }, '查询'))),
    detail,
    section('签发证照', issueForm.el, issued));
}
