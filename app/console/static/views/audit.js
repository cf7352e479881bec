// The append-only audit log, newest first, paged by sequence number.
import { audit } from '../api.js';
import { h, clear, table, section, act, beijing } from '../ui.js';

const KIND_LABELS = {
  login: '登录',
  operator_login: '运营人员登录',
  refresh_reuse: '刷新令牌重复使用',
  realname_bound: '实名认证',
  face_passed: '人脸核身通过',
  face_failed: '人脸核身失败',
  role_granted: '授予角色',
  role_revoked: '撤销角色',
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
        { label: '时间', render: (e) => beijing(e.created_at || e.at) },
        { label: '事件', render: (e) => KIND_LABELS[e.kind] || e.kind },
        { label: '操作者', render: (e) => (e.actor_id ?? e.user_id ?? '') },
        { label: '对象', render: (e) => e.subject || e.target || '' },
        { label: '来源 IP', render: (e) => e.ip || e.client_ip || '' },
        { label: '详情', render: (e) => h('span', { class: 'mono' }, e.data ? JSON.stringify(e.data) : '') },
      ], rows),
      more ? h('button', { onclick: (ev) => act(ev.target, loadMore) }, '加载更早的记录') : h('p', { class: 'muted' }, '已到最早的记录'));
  }

  clear(root, section('审计日志', h('p', { class: 'muted' }, '记录逐条以哈希链接，任何修改或删除都能被 audit-verify 发现。'), body));
  await loadMore();
}
