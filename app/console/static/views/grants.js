// Enterprises (with their legal representative) and inspector grants.
import { grants } from '../api.js';
import { clear, form, section, act, h } from '../ui.js';

const ENTERPRISE_FIELDS = [
  { name: 'credit_code', label: '统一社会信用代码', required: true },
  { name: 'name', label: '企业名称', required: true },
  { name: 'region_code', label: '所在地区编码', required: true, help: '6 位 GB/T 2260 编码' },
  { name: 'legal_rep_name', label: '法定代表人姓名', required: true },
  { name: 'legal_rep_id_number', label: '法定代表人身份证号', required: true, help: '加密保存，仅用于匹配本人账号' },
];

const INSPECTOR_FIELDS = [
  { name: 'user_id', label: '用户编号', type: 'number', required: true },
  { name: 'licence_types', label: '可核验的证照类型（每行一个）', type: 'list', required: true },
  { name: 'regions', label: '可核验的地区编码（每行一个，前缀覆盖下级）', type: 'list', required: true },
];

export async function grantsView(root) {
  const enterprise = form(ENTERPRISE_FIELDS, {}, {
    submitLabel: '登记企业',
    onSubmit: async (values) => {
      await grants.registerEnterprise(values);
      enterprise.el.reset();
    },
  });
  const inspector = form(INSPECTOR_FIELDS, {}, {
    submitLabel: '授予核验权限',
    onSubmit: async ({ user_id: userId, ...scope }) => {
      await grants.grantInspector(userId, scope);
    },
  });
  const revokeId = h('input', { type: 'number', placeholder: '用户编号' });
  clear(root,
    section('登记企业', enterprise.el),
    section('授予核验人员', inspector.el),
    section('撤销核验人员',
      h('div', { class: 'toolbar' }, revokeId,
        h('button', {
          class: 'danger',
          onclick: (e) => {
            const id = Number(revokeId.value);
            if (id && window.confirm(`撤销用户 ${id} 的核验权限？`)) act(e.target, () => grants.revokeInspector(id), '已撤销');
          },
        }, '撤销'))));
}
