// The append-only audit log, newest first, paged by sequence number.
import { audit } from '../api.js';
import { h, clear, table, section, act, beijing } from '../ui.js';

const KIND_LABELS = {
  login: '登录',
  logout: '退出登录',
  operator_login: '运营人员登录',
  operator_login_failed: '运营人员登录失败',
  refresh_reuse: '刷新令牌被重复使用（已吊销整组会话）',
  realname_bound: '实名认证',
  phone_bound: '绑定手机号',
  face_pass: '人脸核身通过',
  face_fail: '人脸核身失败',
  role_grant: '授予角色',
  role_revoke: '撤销角色',
  enterprise_registered: '登记企业',
  licence_type_saved: '保存证照类型',
  licence_issuer_saved: '保存发证机构',
  licence_key_added: '登记签名证书',
  licence_key_retired: '停用签名密钥',
  licence_consent_granted: '授权用证',
  licence_consent_revoked: '撤回用证授权',
  licence_consent_used: '使用用证授权',
  licence_consent_repeated: '重复应答用证授权（同一核验人重试）',
  // Status changes are recorded as licence_<action>.
  licence_suspend: '暂停证照',
  licence_reinstate: '恢复证照',
  licence_revoke: '吊销证照',
  licence_expire: '注销证照（到期）',
};

export async function auditView(root) {
  const rows = [];
  const body = h('div');
  let beforeSeq;
  let more = true;

  async function loadMore() {
    const page = await audit.list({ beforeSeq, limit: 50 });
    const events = page.events || [];
    rows.push(...events);
    if (events.length) beforeSeq = events[events.length - 1].seq;
    more = events.length === 50;
    render();
  }

  function render() {
    clear(body,
      table([
        { label: '序号', key: 'seq' },
        { label: '时间', render: (e) => beijing(e.at) },
        { label: '事件', render: (e) => KIND_LABELS[e.kind] || e.kind },
        { label: '操作者', render: (e) => e.actor_id ?? '' },
        { label: '对象', render: (e) => e.subject || '' },
        { label: '详情', render: (e) => h('span', { class: 'mono' }, e.data && Object.keys(e.data).length ? JSON.stringify(e.data) : '') },
        { label: '哈希', render: (e) => h('span', { class: 'mono', title: e.hash }, (e.hash || '').slice(0, 12)) },
      ], rows),
      more ? h('button', { onclick: (ev) => act(ev.target, loadMore) }, '加载更早的记录') : h('p', { class: 'muted' }, '已到最早的记录'));
  }

  clear(root, section('审计日志', h('p', { class: 'muted' }, '记录逐条以哈希链接，任何修改或删除都能被 audit-verify 发现。'), body));
  await loadMore();
}
