// Catalogue screens: service items (draft → preview → publish → retire), theme zones with
// ordered entries, 一件事 bundles, and bulk import/export with a per-row report.
import { catalogue } from '../api.js';
import { h, clear, table, tag, form, section, act, toast, beijing, download } from '../ui.js';

const STATUS_TONES = { draft: 'warn', published: 'ok', retired: 'bad' };
const STATUS_LABELS = { draft: '草稿', published: '已发布', retired: '已下架' };
const AUDIENCES = [
  { value: 'individual', label: '个人' },
  { value: 'enterprise', label: '企业' },
  { value: 'both', label: '个人和企业' },
];
const ITEM_TYPES = ['行政许可', '行政给付', '行政确认', '行政征收', '行政奖励', '行政裁决', '其他行政权力', '公共服务']
  .map((t) => ({ value: t, label: t }));
const ONLINE_DEPTHS = [
  { value: '', label: '（未填写）' },
  { value: '1', label: '一级：网上咨询' },
  { value: '2', label: '二级：网上预约/下载' },
  { value: '3', label: '三级：网上申报' },
  { value: '4', label: '四级：全程网办' },
];

function statusTag(status) {
  return tag(STATUS_LABELS[status] || status, STATUS_TONES[status]);
}

function items(body, key = 'items') {
  if (Array.isArray(body)) return body;
  return (body && body[key]) || [];
}

// ------------------------------------------------------------------ service items

const ITEM_FIELDS = [
  { name: 'code', label: '事项编码（实施编码）', required: true, help: '创建后不可修改' },
  { name: 'basic_code', label: '基本编码' },
  { name: 'name', label: '事项名称', required: true },
  { name: 'item_type', label: '事项类型', type: 'select', options: ITEM_TYPES },
  { name: 'department_code', label: '实施部门编码' },
  { name: 'region_code', label: '适用地区编码', help: 'GB/T 2260，如 440100' },
  { name: 'audience', label: '服务对象', type: 'select', options: AUDIENCES },
  { name: 'legal_time_limit', label: '法定办结时限（工作日）', type: 'number' },
  { name: 'promised_time_limit', label: '承诺办结时限（工作日）', type: 'number' },
  { name: 'visits', label: '到现场次数', type: 'number' },
  { name: 'online_depth', label: '网上办理深度', type: 'select', options: ONLINE_DEPTHS },
  { name: 'channels', label: '办理渠道（每行一个）', type: 'list' },
  { name: 'consulting', label: '咨询方式' },
  { name: 'complaint', label: '监督投诉方式' },
  { name: 'keywords', label: '检索同义词（每行一个）', type: 'list', help: '如“换驾照”“驾驶证到期”' },
  { name: 'conditions', label: '受理条件', type: 'textarea' },
  { name: 'materials', label: '申请材料（JSON 数组）', type: 'json', emptyValue: [],
    help: '[{"name": "居民身份证", "form": "original|copy|electronic", "copies": 1, "required": true, "licence_type": "resident_id"}]' },
  { name: 'steps', label: '办理流程（JSON 数组）', type: 'json', emptyValue: [], help: '[{"name": "受理", "time_limit": 1, "description": "..."}]' },
  { name: 'fees', label: '收费项目（JSON 数组，空为不收费）', type: 'json', emptyValue: [], help: '[{"name": "工本费", "standard": "10元/本", "basis": "..."}]' },
  { name: 'faqs', label: '常见问题（JSON 数组）', type: 'json', emptyValue: [], help: '[{"question": "...", "answer": "..."}]' },
  { name: 'legal_basis', label: '法律依据', type: 'textarea' },
];

export async function itemsList(root) {
  const state = { q: '', status: '', page: 1 };
  const results = h('div');
  const search = h('input', { type: 'search', placeholder: '名称、编码或拼音' });
  const status = h('select', {}, [{ value: '', label: '全部状态' }, ...Object.entries(STATUS_LABELS).map(([value, label]) => ({ value, label }))]
    .map((o) => h('option', { value: o.value }, o.label)));

  async function load() {
    const body = await catalogue.listItems(state);
    const rows = items(body);
    const total = Number(body.total ?? rows.length);
    clear(results,
      table([
        { label: '编码', render: (r) => h('span', { class: 'mono' }, r.code) },
        { label: '名称', key: 'name' },
        { label: '类型', key: 'item_type' },
        { label: '部门', render: (r) => r.department_name || r.department || r.department_code || '' },
        { label: '状态', render: (r) => statusTag(r.status) },
        { label: '版本', key: 'version' },
        { label: '更新时间', render: (r) => beijing(r.updated_at) },
        { label: '', render: (r) => h('a', { href: `#/catalogue/items/${encodeURIComponent(r.code)}` }, '编辑') },
      ], rows),
      h('div', { class: 'toolbar' },
        h('span', { class: 'muted' }, `共 ${total} 项 · 第 ${state.page} 页`),
        h('button', { disabled: state.page <= 1, onclick: () => { state.page -= 1; act(null, load); } }, '上一页'),
        h('button', { disabled: rows.length === 0 || state.page * (body.page_size || rows.length) >= total, onclick: () => { state.page += 1; act(null, load); } }, '下一页')));
  }

  clear(root, section('服务事项',
    h('form', {
      class: 'toolbar',
      onsubmit: (e) => {
        e.preventDefault();
        Object.assign(state, { q: search.value.trim(), status: status.value, page: 1 });
        act(null, load);
      },
    }, search, status, h('button', { type: 'submit' }, '查询'),
    h('span', { class: 'spacer' }),
    h('button', { type: 'button', class: 'primary', onclick: () => { window.location.hash = '#/catalogue/items/new'; } }, '新建事项')),
    results));
  await load();
}

function guidePreview(item) {
  const list = (title, rows, render) => (rows && rows.length ? [h('h3', {}, title), h('ol', {}, rows.map((r) => h('li', {}, render(r))))] : []);
  return h('div', { class: 'preview' },
    h('h2', {}, item.name || ''),
    h('dl', { class: 'kv' },
      ...[['事项类型', item.item_type], ['实施主体', item.department_name || item.department_code], ['法定时限', item.legal_time_limit],
        ['承诺时限', item.promised_time_limit], ['到现场次数', item.visits], ['办理渠道', (item.channels || []).join('、')]]
        .filter(([, v]) => v !== undefined && v !== null && v !== '')
        .flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, String(v))])),
    item.conditions ? [h('h3', {}, '受理条件'), h('p', {}, item.conditions)] : [],
    list('申请材料', item.materials, (m) => `${m.name}${m.required === false ? '（非必要）' : ''}${m.licence_type ? ` · 可用电子证照 ${m.licence_type} 免提交` : ''}`),
    list('办理流程', item.steps, (s) => `${s.name}${s.time_limit ? `（${s.time_limit} 个工作日）` : ''}`),
    list('收费', item.fees, (f) => `${f.name}：${f.standard || f.amount || ''}`),
    list('常见问题', item.faqs, (f) => `${f.question} — ${f.answer}`));
}

export async function itemEditor(root, code) {
  const isNew = code === 'new';
  const item = isNew ? { audience: 'individual', materials: [], steps: [], fees: [], faqs: [] } : await catalogue.getItem(code);
  const preview = h('div');
  const history = h('div');
  const fields = ITEM_FIELDS.map((f) => (f.name === 'code' && !isNew ? { ...f, help: '不可修改' } : f));
  const editor = form(fields, item, {
    submitLabel: isNew ? '创建草稿' : '保存草稿',
    onSubmit: async (values) => {
      if (isNew) {
        const created = await catalogue.createItem(values);
        window.location.hash = `#/catalogue/items/${encodeURIComponent(created.code || values.code)}`;
      } else {
        const { code: ignored, ...changes } = values;
        await catalogue.updateItem(code, changes);
        await itemEditor(root, code);
      }
    },
  });
  if (!isNew) editor.inputs.code.readOnly = true;

  const lifecycle = isNew ? [] : [
    h('button', { onclick: (e) => act(e.target, async () => clear(preview, guidePreview(await catalogue.previewItem(code)))) }, '预览草稿'),
    h('button', { class: 'primary', onclick: (e) => act(e.target, async () => { await catalogue.publishItem(code); await itemEditor(root, code); }, '已发布') }, '发布'),
    h('button', { class: 'danger', onclick: (e) => { if (window.confirm('下架后居民将无法看到该事项，确定？')) act(e.target, async () => { await catalogue.retireItem(code); await itemEditor(root, code); }, '已下架'); } }, '下架'),
    h('button', { onclick: (e) => act(e.target, async () => {
      const versions = items(await catalogue.itemHistory(code), 'versions');
      clear(history, table([
        { label: '版本', key: 'version' },
        { label: '状态', render: (v) => statusTag(v.status) },
        { label: '操作人', render: (v) => v.changed_by || v.operator || '' },
        { label: '时间', render: (v) => beijing(v.changed_at || v.created_at) },
        { label: '变更字段', render: (v) => (v.changed_fields || Object.keys(v.changes || {})).join(', ') },
      ], versions, { empty: '暂无历史' }));
    }) }, '版本历史'),
  ];

  clear(root,
    h('p', {}, h('a', { href: '#/catalogue/items' }, '← 服务事项')),
    section(isNew ? '新建服务事项' : `${item.name}`,
      isNew ? null : h('p', {}, statusTag(item.status), ' ', h('span', { class: 'muted' }, `版本 ${item.version ?? ''} · 更新于 ${beijing(item.updated_at)}`)),
      h('div', { class: 'toolbar' }, lifecycle),
      editor.el),
    isNew ? null : section('预览', preview),
    isNew ? null : section('版本历史', history));
}

// ------------------------------------------------------------------ zones

const ZONE_FIELDS = [
  { name: 'title', label: '专区名称', required: true },
  { name: 'icon', label: '图标', help: '图标名称或图片地址' },
  { name: 'audience', label: '服务对象', type: 'select', options: AUDIENCES },
  { name: 'region_code', label: '适用地区编码', help: '留空为全省' },
  { name: 'publish_from', label: '上线时间（北京时间）', type: 'datetime' },
  { name: 'publish_until', label: '下线时间（北京时间）', type: 'datetime' },
  { name: 'description', label: '说明', type: 'textarea' },
];

export async function zonesList(root) {
  const zones = items(await catalogue.listZones());
  clear(root, section('专区',
    h('div', { class: 'toolbar' }, h('button', { class: 'primary', onclick: () => { window.location.hash = '#/catalogue/zones/new'; } }, '新建专区')),
    table([
      { label: '名称', key: 'title' },
      { label: '对象', render: (z) => (AUDIENCES.find((a) => a.value === z.audience) || {}).label || z.audience },
      { label: '地区', render: (z) => z.region_name || z.region_code || '全省' },
      { label: '上线窗口', render: (z) => `${beijing(z.publish_from) || '—'} ~ ${beijing(z.publish_until) || '—'}` },
      { label: '条目数', render: (z) => (z.entries ? z.entries.length : z.entry_count ?? '') },
      { label: '状态', render: (z) => statusTag(z.status) },
      { label: '', render: (z) => h('a', { href: `#/catalogue/zones/${encodeURIComponent(z.id)}` }, '编辑') },
    ], zones)));
}

function entryLabel(entry) {
  if (entry.service_code) return `事项 ${entry.service_code}${entry.title ? ` · ${entry.title}` : ''}`;
  if (entry.bundle_id) return `一件事 #${entry.bundle_id}${entry.title ? ` · ${entry.title}` : ''}`;
  return entry.title || JSON.stringify(entry);
}

// Ordered entries edited in place; "保存排序" sends the whole list in its new order.
function entriesEditor(initial, onSave) {
  let entries = initial.map((e) => ({ ...e }));
  const list = h('ul', { class: 'entries' });
  const kind = h('select', {}, h('option', { value: 'service_code' }, '服务事项编码'), h('option', { value: 'bundle_id' }, '一件事编号'));
  const ref = h('input', { placeholder: '编码或编号' });
  const title = h('input', { placeholder: '显示名称（可选）' });

  function move(index, delta) {
    const target = index + delta;
    if (target < 0 || target >= entries.length) return;
    [entries[index], entries[target]] = [entries[target], entries[index]];
    render();
  }

  function render() {
    clear(list, entries.map((entry, index) => h('li', {},
      h('span', { class: 'muted' }, String(index + 1)),
      h('span', { class: 'grow' }, entryLabel(entry)),
      h('button', { type: 'button', title: '上移', disabled: index === 0, onclick: () => move(index, -1) }, '↑'),
      h('button', { type: 'button', title: '下移', disabled: index === entries.length - 1, onclick: () => move(index, 1) }, '↓'),
      h('button', { type: 'button', class: 'danger', onclick: () => { entries.splice(index, 1); render(); } }, '移除'))));
  }
  render();

  return h('div', {},
    list,
    h('div', { class: 'toolbar' }, kind, ref, title,
      h('button', {
        type: 'button',
        onclick: () => {
          const value = ref.value.trim();
          if (!value) return;
          const entry = { [kind.value]: kind.value === 'bundle_id' ? Number(value) || value : value };
          if (title.value.trim()) entry.title = title.value.trim();
          entries.push(entry);
          ref.value = '';
          title.value = '';
          render();
        },
      }, '添加条目'),
      h('button', { type: 'button', class: 'primary', onclick: (e) => act(e.target, () => onSave(entries), '排序已保存') }, '保存排序')));
}

export async function zoneEditor(root, id) {
  const isNew = id === 'new';
  const zone = isNew ? { audience: 'individual', entries: [] } : await catalogue.getZone(id);
  const editor = form(ZONE_FIELDS, zone, {
    submitLabel: isNew ? '创建专区' : '保存',
    onSubmit: async (values) => {
      if (isNew) {
        const created = await catalogue.createZone(values);
        window.location.hash = `#/catalogue/zones/${encodeURIComponent(created.id)}`;
      } else {
        await catalogue.updateZone(id, values);
      }
    },
  });
  clear(root,
    h('p', {}, h('a', { href: '#/catalogue/zones' }, '← 专区')),
    section(isNew ? '新建专区' : zone.title,
      isNew ? null : h('div', { class: 'toolbar' }, statusTag(zone.status),
        h('button', { class: 'primary', onclick: (e) => act(e.target, async () => { await catalogue.publishZone(id); await zoneEditor(root, id); }, '已发布') }, '发布'),
        h('button', { class: 'danger', onclick: (e) => act(e.target, async () => { await catalogue.retireZone(id); await zoneEditor(root, id); }, '已下架') }, '下架')),
      editor.el),
    isNew ? null : section('专区条目（按显示顺序）', entriesEditor(items(zone.entries, 'entries'), (entries) => catalogue.reorderZone(id, entries))));
}

// ------------------------------------------------------------------ bundles

const BUNDLE_FIELDS = [
  { name: 'name', label: '一件事名称', required: true },
  { name: 'audience', label: '服务对象', type: 'select', options: AUDIENCES },
  { name: 'region_code', label: '适用地区编码' },
  { name: 'item_codes', label: '包含的事项编码（每行一个，按办理顺序）', type: 'list', required: true },
  { name: 'description', label: '说明', type: 'textarea' },
  { name: 'steps', label: '合并流程（JSON 数组）', type: 'json', emptyValue: [] },
];

export async function bundlesList(root) {
  const bundles = items(await catalogue.listBundles());
  clear(root, section('一件事',
    h('div', { class: 'toolbar' }, h('button', { class: 'primary', onclick: () => { window.location.hash = '#/catalogue/bundles/new'; } }, '新建一件事')),
    table([
      { label: '编号', key: 'id' },
      { label: '名称', key: 'name' },
      { label: '事项数', render: (b) => (b.item_codes || b.items || []).length },
      { label: '状态', render: (b) => statusTag(b.status) },
      { label: '', render: (b) => h('a', { href: `#/catalogue/bundles/${encodeURIComponent(b.id)}` }, '编辑') },
    ], bundles)));
}

export async function bundleEditor(root, id) {
  const isNew = id === 'new';
  const bundle = isNew ? { audience: 'individual', steps: [] } : await catalogue.getBundle(id);
  if (!bundle.item_codes && bundle.items) bundle.item_codes = bundle.items.map((i) => i.code);
  const merged = h('div');
  if (!isNew && bundle.materials) {
    clear(merged, table([
      { label: '材料', key: 'name' },
      { label: '必要', render: (m) => (m.required === false ? '否' : '是') },
      { label: '电子证照免提交', render: (m) => m.licence_type || '' },
    ], bundle.materials));
  }
  const editor = form(BUNDLE_FIELDS, bundle, {
    submitLabel: isNew ? '创建' : '保存',
    onSubmit: async (values) => {
      if (isNew) {
        const created = await catalogue.createBundle(values);
        window.location.hash = `#/catalogue/bundles/${encodeURIComponent(created.id)}`;
      } else {
        await catalogue.updateBundle(id, values);
        await bundleEditor(root, id);
      }
    },
  });
  clear(root,
    h('p', {}, h('a', { href: '#/catalogue/bundles' }, '← 一件事')),
    section(isNew ? '新建一件事' : bundle.name,
      isNew ? null : h('div', { class: 'toolbar' }, statusTag(bundle.status),
        h('button', { class: 'primary', onclick: (e) => act(e.target, async () => { await catalogue.publishBundle(id); await bundleEditor(root, id); }, '已发布') }, '发布'),
        h('button', { class: 'danger', onclick: (e) => act(e.target, async () => { await catalogue.retireBundle(id); await bundleEditor(root, id); }, '已下架') }, '下架')),
      editor.el),
    isNew ? null : section('合并后的材料清单', merged));
}

// ------------------------------------------------------------------ import / export

export async function importExport(root) {
  const format = h('select', {}, h('option', { value: 'json' }, 'JSON'), h('option', { value: 'csv' }, 'CSV'));
  const file = h('input', { type: 'file', accept: '.json,.csv,application/json,text/csv' });
  const text = h('textarea', { rows: 10, class: 'mono', placeholder: '选择文件，或在此粘贴 JSON / CSV 内容' });
  const dryRun = h('input', { type: 'checkbox', checked: true });
  const report = h('div');

  file.addEventListener('change', async () => {
    const chosen = file.files && file.files[0];
    if (!chosen) return;
    text.value = await chosen.text();
    if (chosen.name.endsWith('.csv')) format.value = 'csv';
    if (chosen.name.endsWith('.json')) format.value = 'json';
  });

  function showReport(result) {
    const rows = items(result, 'rows');
    const failed = rows.filter((r) => (r.errors && r.errors.length) || r.ok === false);
    clear(report,
      h('p', {}, result.applied ? tag('已导入', 'ok') : tag(failed.length ? '未导入：存在错误行，全部未生效' : '校验通过（未导入）', failed.length ? 'bad' : 'ok'),
        ' ', h('span', { class: 'muted' }, `共 ${rows.length || result.total || 0} 行，错误 ${failed.length} 行`)),
      table([
        { label: '行号', render: (r) => r.row ?? r.line ?? '' },
        { label: '编码', render: (r) => r.code || '' },
        { label: '结果', render: (r) => ((r.errors && r.errors.length) || r.ok === false ? tag('错误', 'bad') : tag(r.action || '通过', 'ok')) },
        { label: '问题', render: (r) => (r.errors || []).map((e) => (typeof e === 'string' ? e : `${e.field || ''} ${e.problem || e.message || ''}`)).join('；') },
      ], rows, { empty: '' }));
  }

  async function runImport(button) {
    if (!text.value.trim()) {
      toast('请先选择文件或粘贴内容', 'error');
      return;
    }
    await act(button, async () => {
      try {
        showReport(await catalogue.importItems(format.value, text.value, { dryRun: dryRun.checked }));
      } catch (err) {
        // A rejected import still carries its per-row report in the error context.
        if (err.context && (err.context.rows || err.context.report)) showReport({ rows: err.context.rows || err.context.report, applied: false });
        throw err;
      }
    });
  }

  async function runExport(button, kind) {
    await act(button, async () => {
      const response = await catalogue.exportItems(kind);
      download(`service-items-${new Date().toISOString().slice(0, 10)}.${kind}`, await response.blob());
    });
  }

  clear(root,
    section('导入服务事项',
      h('p', { class: 'muted' }, '整批导入：任何一行校验失败，整批都不会生效。建议先“仅校验”。'),
      h('div', { class: 'toolbar' }, format, file, h('label', {}, dryRun, ' 仅校验，不导入')),
      text,
      h('div', { class: 'toolbar' }, h('button', { class: 'primary', onclick: (e) => runImport(e.target) }, '提交')),
      report),
    section('导出服务事项',
      h('div', { class: 'toolbar' },
        h('button', { onclick: (e) => runExport(e.target, 'json') }, '导出 JSON'),
        h('button', { onclick: (e) => runExport(e.target, 'csv') }, '导出 CSV'))));
}

