// Catalogue screens: service items (draft → preview → publish → retire, with revisions so two
// operators cannot overwrite each other), theme zones with ordered entries and the home order,
// 一件事 bundles, bulk import/export with a per-row report, and the change log.
import { catalogue } from '../api.js';
import { h, clear, table, tag, form, section, act, toast, beijing, download, errorText } from '../ui.js';

const STATUS_TONES = { draft: 'warn', published: 'ok', retired: 'bad' };
const STATUS_LABELS = { draft: '草稿', published: '已发布', retired: '已下架' };
const AUDIENCE_OPTIONS = [
  { value: 'individual', label: '个人' },
  { value: 'enterprise', label: '企业' },
  { value: 'individual,enterprise', label: '个人和企业' },
];
const ITEM_TYPES = ['行政许可', '行政给付', '行政确认', '行政征收', '行政奖励', '行政裁决', '其他行政权力', '公共服务']
  .map((t) => ({ value: t, label: t }));

function statusTag(status) {
  return tag(STATUS_LABELS[status] || status, STATUS_TONES[status]);
}

// The forms edit audiences as one choice; the API wants a list.
function withAudienceList(values) {
  if (typeof values.audiences === 'string') values.audiences = values.audiences.split(',').filter(Boolean);
  return values;
}

function withAudienceChoice(record) {
  return { ...record, audiences: (record.audiences || ['individual']).join(',') };
}

function audienceText(list) {
  return (list || []).map((a) => (a === 'individual' ? '个人' : a === 'enterprise' ? '企业' : a)).join('、');
}

function go(hash) {
  window.location.hash = hash;
}

// A list that cannot load says so in its own panel; the rest of the screen stays usable.
async function fillPanel(panel, load) {
  try {
    await load();
  } catch (err) {
    clear(panel, h('p', { class: 'error' }, err.code ? errorText(err) : String(err.message || err)));
  }
}

// ------------------------------------------------------------------ service items

const ITEM_FIELDS = [
  { name: 'code', label: '实施编码', required: true, help: '创建后不可修改' },
  { name: 'basic_code', label: '基本编码', required: true },
  { name: 'name', label: '事项名称', required: true },
  { name: 'item_type', label: '事项类型', type: 'select', options: ITEM_TYPES },
  { name: 'department_code', label: '实施部门（统一社会信用代码）', required: true },
  { name: 'region_code', label: '实施地区编码', required: true, help: 'GB/T 2260，如 440106' },
  { name: 'audiences', label: '服务对象', type: 'select', options: AUDIENCE_OPTIONS },
  { name: 'aliases', label: '俗称与同义词（每行一个，用于搜索）', type: 'list', help: '如“换驾照”“驾驶证到期”' },
  { name: 'guide', label: '办事指南（JSON）', type: 'json', emptyValue: {}, rows: 22,
    help: '受理条件 conditions、材料 materials、流程 steps、时限 legal_time_limit_days / promised_time_limit_days、收费 fees（金额单位：分）、咨询 consulting、投诉 complaint、常见问题 faqs、法律依据 legal_basis 等' },
];

const DEPARTMENT_FIELDS = [
  { name: 'code', label: '统一社会信用代码', required: true },
  { name: 'name', label: '部门名称', required: true },
  { name: 'kind', label: '部门类别', help: '如 公安、市场监管' },
  { name: 'region_code', label: '所在地区编码', required: true },
];

export async function itemsList(root) {
  const state = { status: '', page: 1, pageSize: 50 };
  const results = h('div');
  const status = h('select', {}, h('option', { value: '' }, '全部状态'),
    Object.entries(STATUS_LABELS).map(([value, label]) => h('option', { value }, label)));
  const codeInput = h('input', { placeholder: '按实施编码打开' });
  const searchInput = h('input', { type: 'search', placeholder: '按名称、拼音搜索已发布事项' });
  const searchResults = h('div');

  async function load() {
    const body = await catalogue.listItems(state);
    const rows = body.items || [];
    const total = Number(body.total || 0);
    clear(results,
      table([
        { label: '实施编码', render: (r) => h('a', { href: `#/catalogue/items/${encodeURIComponent(r.code)}`, class: 'mono' }, r.code) },
        { label: '基本编码', key: 'basic_code' },
        { label: '名称', key: 'name' },
        { label: '状态', render: (r) => [statusTag(r.status), r.has_unpublished_changes ? tag('有未发布修改', 'warn') : null] },
        { label: '修订号', render: (r) => `${r.revision}${r.published_revision ? `（已发布 ${r.published_revision}）` : ''}` },
      ], rows),
      h('div', { class: 'toolbar' },
        h('span', { class: 'muted' }, `共 ${total} 项 · 第 ${state.page} 页`),
        h('button', { disabled: state.page <= 1, onclick: () => { state.page -= 1; act(null, load); } }, '上一页'),
        h('button', { disabled: state.page * state.pageSize >= total, onclick: () => { state.page += 1; act(null, load); } }, '下一页')));
  }

  async function search() {
    const q = searchInput.value.trim();
    if (!q) return;
    const body = await catalogue.search(q);
    clear(searchResults, table([
      { label: '实施编码', render: (r) => h('a', { href: `#/catalogue/items/${encodeURIComponent(r.code)}`, class: 'mono' }, r.code) },
      { label: '名称', key: 'name' },
      { label: '部门', render: (r) => (r.department ? r.department.name : '') },
      { label: '地区', render: (r) => (r.region ? r.region.name : '') },
    ], body.items || [], { empty: '没有找到' }));
  }

  const department = form(DEPARTMENT_FIELDS, {}, {
    submitLabel: '添加部门',
    successMessage: '部门已添加',
    onSubmit: (values) => catalogue.createDepartment(values),
  });

  clear(root,
    section('服务事项',
      h('div', { class: 'toolbar' },
        status,
        h('button', { onclick: () => { Object.assign(state, { status: status.value, page: 1 }); act(null, load); } }, '筛选'),
        h('span', { class: 'spacer' }),
        codeInput,
        h('button', { onclick: () => { if (codeInput.value.trim()) go(`#/catalogue/items/${encodeURIComponent(codeInput.value.trim())}`); } }, '打开'),
        h('button', { class: 'primary', onclick: () => go('#/catalogue/items/new') }, '新建事项')),
      results),
    section('搜索已发布事项',
      h('form', { class: 'toolbar', onsubmit: (e) => { e.preventDefault(); act(e.submitter, search); } },
        searchInput, h('button', { type: 'submit' }, '搜索')),
      searchResults),
    section('添加实施部门', department.el));
  await load();
}

function guidePreview(content) {
  const guide = content.guide || {};
  const list = (title, rows, render) => (rows && rows.length ? [h('h3', {}, title), h('ol', {}, rows.map((r) => h('li', {}, render(r))))] : []);
  const days = (d) => (d === undefined || d === null ? '' : Number(d) === 0 ? '即办' : `${d} 个工作日`);
  return h('div', { class: 'preview' },
    h('h2', {}, content.name || ''),
    h('dl', { class: 'kv' },
      ...[['事项类型', content.item_type], ['实施部门', content.department_code], ['地区', content.region_code],
        ['服务对象', audienceText(content.audiences)], ['法定时限', days(guide.legal_time_limit_days)],
        ['承诺时限', days(guide.promised_time_limit_days)], ['到现场次数', guide.visits], ['网办深度', guide.online_depth_label]]
        .filter(([, v]) => v !== undefined && v !== null && v !== '')
        .flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, String(v))])),
    list('受理条件', [].concat(guide.conditions || []), (c) => String(c)),
    list('申请材料', guide.materials, (m) => `${m.name}${m.required === false ? '（非必要）' : ''}${m.licence_type ? ` · 电子证照“${m.licence_type}”可免提交` : ''}`),
    list('办理流程', guide.steps, (s) => `${s.name}${s.time_limit_days ? `（${s.time_limit_days} 个工作日）` : ''}`),
    list('收费', guide.fees, (f) => `${f.name}：${typeof f.amount === 'number' ? `¥${(f.amount / 100).toFixed(2)}` : f.amount || ''}`),
    list('常见问题', guide.faqs, (f) => `${f.question} — ${f.answer}`));
}

function changeTable(changes) {
  return table([
    { label: '时间', render: (c) => beijing(c.at) },
    { label: '操作人', key: 'actor_id' },
    { label: '对象', render: (c) => `${c.entity} ${c.key}` },
    { label: '动作', key: 'action' },
    { label: '变更', render: (c) => h('span', { class: 'mono' }, JSON.stringify(c.changes)) },
  ], changes, { empty: '暂无记录' });
}

export async function itemEditor(root, code) {
  const isNew = code === 'new';
  const item = isNew ? null : await catalogue.getItem(code);
  const initial = isNew
    ? { audiences: 'individual', item_type: '行政许可', guide: { conditions: [], materials: [], steps: [], fees: [], faqs: [] } }
    : withAudienceChoice({ code: item.code, ...item.content });
  const preview = h('div', {}, isNew ? null : guidePreview(item.content));
  const history = h('div');
  const reload = () => itemEditor(root, code);

  const editor = form(ITEM_FIELDS, initial, {
    submitLabel: isNew ? '创建草稿' : '保存修改',
    onSubmit: async (values) => {
      const { code: newCode, ...content } = withAudienceList(values);
      if (isNew) {
        await catalogue.createItem({ code: newCode, ...content });
        go(`#/catalogue/items/${encodeURIComponent(newCode)}`);
      } else {
        await catalogue.updateItem(code, item.revision, content);
        await reload();
      }
    },
  });
  if (!isNew) editor.inputs.code.readOnly = true;

  const lifecycle = isNew ? [] : [
    h('button', { class: 'primary', onclick: (e) => act(e.target, async () => { await catalogue.publishItem(code, item.revision); await reload(); }, '已发布') }, `发布修订 ${item.revision}`),
    h('button', {
      class: 'danger',
      onclick: (e) => {
        if (window.confirm('下架后居民将无法看到该事项，确定？')) act(e.target, async () => { await catalogue.retireItem(code, item.revision); await reload(); }, '已下架');
      },
    }, '下架'),
    h('button', {
      onclick: (e) => act(e.target, async () => {
        const [versions, changes] = await Promise.all([catalogue.itemVersions(code), catalogue.changes({ entity: 'item', key: code })]);
        clear(history,
          h('h3', {}, '已发布版本'),
          table([
            { label: '修订号', key: 'revision' },
            { label: '发布人', key: 'published_by' },
            { label: '发布时间', render: (v) => beijing(v.published_at) },
            { label: '', render: (v) => h('button', { onclick: () => clear(preview, guidePreview(v.content)) }, '预览此版本') },
          ], versions.versions || [], { empty: '尚未发布' }),
          h('h3', {}, '变更记录'),
          changeTable(changes.changes || []));
      }),
    }, '版本与变更记录'),
  ];

  const pending = !isNew && item.pending_changes && Object.keys(item.pending_changes).length
    ? h('p', {}, tag('未发布的修改', 'warn'), ' ', Object.keys(item.pending_changes).join('、'))
    : null;

  clear(root,
    h('p', {}, h('a', { href: '#/catalogue/items' }, '← 服务事项')),
    section(isNew ? '新建服务事项（草稿）' : item.name,
      isNew ? null : h('p', {}, statusTag(item.status), ' ',
        h('span', { class: 'muted' }, `修订 ${item.revision}${item.published_revision ? ` · 已发布修订 ${item.published_revision}` : ''} · 更新于 ${beijing(item.updated_at)}`)),
      pending,
      h('div', { class: 'toolbar' }, lifecycle),
      editor.el),
    section('预览（居民看到的样子）',
      h('div', { class: 'toolbar' }, h('button', {
        onclick: (e) => act(e.target, async () => {
          const values = withAudienceList(editor.values());
          clear(preview, guidePreview(values));
        }),
      }, '按当前填写预览')),
      preview),
    isNew ? null : section('历史', history));
}

// ------------------------------------------------------------------ zones

const ZONE_FIELDS = [
  { name: 'slug', label: '标识（英文）', required: true, help: '小写字母、数字和连字符，如 elderly；创建后不可修改' },
  { name: 'title', label: '专区名称', required: true },
  { name: 'icon', label: '图标', help: '图标名称或图片地址' },
  { name: 'audiences', label: '服务对象', type: 'select', options: AUDIENCE_OPTIONS },
  { name: 'region_code', label: '适用地区编码', required: true, help: '440000 为全省' },
  { name: 'publish_from', label: '上线时间（北京时间）', type: 'datetime' },
  { name: 'publish_until', label: '下线时间（北京时间）', type: 'datetime' },
  { name: 'description', label: '说明', type: 'textarea' },
];

export async function zonesList(root) {
  const openId = h('input', { type: 'number', placeholder: '专区编号' });
  const all = h('div');
  const orderPanel = h('div');
  const create = form(ZONE_FIELDS, { audiences: 'individual', region_code: '440000' }, {
    submitLabel: '创建专区',
    successMessage: '',
    onSubmit: async (values) => {
      const zone = await catalogue.createZone(withAudienceList(values));
      go(`#/catalogue/zones/${zone.id}`);
    },
  });

  // The home page order of the zones; saving sends the new order. The API takes every zone
  // exactly once (drafts and retired ones too, every region), so the list holds them all.
  async function loadOrder() {
    const body = await catalogue.listZones();
    const zones = (body.zones || []).map((z) => ({ id: z.id, title: z.title, status: z.status, region: z.region_code }));
    const list = h('ul', { class: 'entries' });
    const render = () => clear(list, zones.map((zone, index) => h('li', {},
      h('span', { class: 'muted' }, String(index + 1)),
      h('a', { class: 'grow', href: `#/catalogue/zones/${zone.id}` }, zone.title),
      h('span', { class: 'muted' }, zone.region), statusTag(zone.status),
      h('button', { disabled: index === 0, onclick: () => { [zones[index - 1], zones[index]] = [zones[index], zones[index - 1]]; render(); } }, '↑'),
      h('button', { disabled: index === zones.length - 1, onclick: () => { [zones[index + 1], zones[index]] = [zones[index], zones[index + 1]]; render(); } }, '↓'))));
    render();
    clear(orderPanel, zones.length ? [list,
      h('button', { class: 'primary', onclick: (e) => act(e.target, () => catalogue.orderZones(zones.map((z) => z.id)), '首页顺序已保存') }, '保存首页顺序')]
      : h('p', { class: 'muted' }, '暂无专区'));
  }

  async function loadAll() {
    const body = await catalogue.listZones();
    clear(all, table([
      { label: '编号', key: 'id' },
      { label: '名称', render: (z) => h('a', { href: `#/catalogue/zones/${z.id}` }, z.title) },
      { label: '对象', render: (z) => audienceText(z.audiences) },
      { label: '地区', key: 'region_code' },
      { label: '上线窗口', render: (z) => `${beijing(z.publish_from) || '—'} ~ ${beijing(z.publish_until) || '—'}` },
      { label: '状态', render: (z) => statusTag(z.status) },
    ], body.zones || []));
  }

  clear(root,
    section('专区',
      h('div', { class: 'toolbar' }, openId,
        h('button', { onclick: () => { if (openId.value) go(`#/catalogue/zones/${openId.value}`); } }, '打开')),
      all),
    section('首页专区顺序', h('p', { class: 'muted' }, '居民首页按此顺序显示其所在地区已发布的专区。'),
      h('div', { class: 'toolbar' }, h('button', { onclick: (e) => act(e.target, loadOrder) }, '重新加载')), orderPanel),
    section('新建专区（草稿）', create.el));
  await fillPanel(all, loadAll);
  await fillPanel(orderPanel, loadOrder);
}

function entryLabel(entry) {
  const target = entry.kind === 'bundle' ? `一件事 ${entry.bundle_slug}` : `事项 ${entry.basic_code}`;
  return `${target}${entry.title ? ` · ${entry.title}` : ''}`;
}

// Ordered entries edited in place; saving sends the whole list in its new order.
function entriesEditor(initial, onSave) {
  const entries = initial.map((e) => ({ kind: e.kind, basic_code: e.basic_code, bundle_slug: e.bundle_slug, title: e.title || undefined }));
  const list = h('ul', { class: 'entries' });
  const kind = h('select', {}, h('option', { value: 'service' }, '服务事项（基本编码）'), h('option', { value: 'bundle' }, '一件事（标识）'));
  const ref = h('input', { placeholder: '基本编码或一件事标识' });
  const title = h('input', { placeholder: '显示名称（可选）' });

  function move(index, delta) {
    const target = index + delta;
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
          const entry = kind.value === 'bundle' ? { kind: 'bundle', bundle_slug: value } : { kind: 'service', basic_code: value };
          if (title.value.trim()) entry.title = title.value.trim();
          entries.push(entry);
          ref.value = '';
          title.value = '';
          render();
        },
      }, '添加条目'),
      h('button', { type: 'button', class: 'primary', onclick: (e) => act(e.target, () => onSave(entries), '条目已保存') }, '保存条目和顺序')));
}

export async function zoneEditor(root, id) {
  const zone = await catalogue.getZone(id);
  const reload = () => zoneEditor(root, id);
  const fields = ZONE_FIELDS.map((f) => (f.name === 'slug' ? { ...f, help: '不可修改' } : f));
  const editor = form(fields, withAudienceChoice(zone), {
    submitLabel: '保存',
    onSubmit: async (values) => {
      const { slug, ...changes } = withAudienceList(values);
      await catalogue.updateZone(id, zone.revision, changes);
      await reload();
    },
  });
  editor.inputs.slug.readOnly = true;
  const status = (action, label) => h('button', {
    class: action === 'retire' ? 'danger' : 'primary',
    onclick: (e) => act(e.target, async () => { await catalogue.setZoneStatus(id, action, zone.revision); await reload(); }, `已${label}`),
  }, label);
  clear(root,
    h('p', {}, h('a', { href: '#/catalogue/zones' }, '← 专区')),
    section(zone.title,
      h('div', { class: 'toolbar' }, statusTag(zone.status), h('span', { class: 'muted' }, `修订 ${zone.revision}`),
        status('publish', '发布'), status('retire', '下线')),
      editor.el),
    section('专区条目（按显示顺序）',
      h('p', { class: 'muted' }, '事项按基本编码登记，居民看到的是其所在地区的实施事项。'),
      entriesEditor(zone.entries || [], async (entries) => {
        await catalogue.setZoneEntries(id, zone.revision, entries);
        await reload();
      })));
}

// ------------------------------------------------------------------ bundles

const BUNDLE_FIELDS = [
  { name: 'slug', label: '标识（英文）', required: true, help: '如 newborn；创建后不可修改' },
  { name: 'title', label: '一件事名称', required: true },
  { name: 'audiences', label: '服务对象', type: 'select', options: AUDIENCE_OPTIONS },
  { name: 'region_code', label: '适用地区编码', required: true },
  { name: 'basic_codes', label: '包含事项的基本编码（每行一个，按办理顺序，至少 2 个）', type: 'list', required: true },
  { name: 'description', label: '说明', type: 'textarea' },
];

export async function bundlesList(root) {
  const openId = h('input', { type: 'number', placeholder: '一件事编号' });
  const all = h('div');
  const create = form(BUNDLE_FIELDS, { audiences: 'individual', region_code: '440000' }, {
    submitLabel: '创建一件事',
    successMessage: '',
    onSubmit: async (values) => {
      const bundle = await catalogue.createBundle(withAudienceList(values));
      go(`#/catalogue/bundles/${bundle.id}`);
    },
  });
  clear(root,
    section('一件事',
      h('div', { class: 'toolbar' }, openId, h('button', { onclick: () => { if (openId.value) go(`#/catalogue/bundles/${openId.value}`); } }, '打开')),
      all),
    section('新建一件事（草稿）', create.el));
  await fillPanel(all, async () => {
    const body = await catalogue.listBundles();
    clear(all, table([
      { label: '编号', key: 'id' },
      { label: '名称', render: (b) => h('a', { href: `#/catalogue/bundles/${b.id}` }, b.title) },
      { label: '事项数', render: (b) => (b.basic_codes || []).length },
      { label: '状态', render: (b) => statusTag(b.status) },
    ], body.bundles || []));
  });
}

export async function bundleEditor(root, id) {
  const bundle = await catalogue.getBundle(id);
  const reload = () => bundleEditor(root, id);
  const fields = BUNDLE_FIELDS.map((f) => (f.name === 'slug' ? { ...f, help: '不可修改' } : f));
  const editor = form(fields, withAudienceChoice(bundle), {
    submitLabel: '保存',
    onSubmit: async (values) => {
      const { slug, ...changes } = withAudienceList(values);
      await catalogue.updateBundle(id, bundle.revision, changes);
      await reload();
    },
  });
  editor.inputs.slug.readOnly = true;
  const status = (action, label) => h('button', {
    class: action === 'retire' ? 'danger' : 'primary',
    onclick: (e) => act(e.target, async () => { await catalogue.setBundleStatus(id, action, bundle.revision); await reload(); }, `已${label}`),
  }, label);
  clear(root,
    h('p', {}, h('a', { href: '#/catalogue/bundles' }, '← 一件事')),
    section(bundle.title,
      h('div', { class: 'toolbar' }, statusTag(bundle.status), h('span', { class: 'muted' }, `修订 ${bundle.revision}`),
        status('publish', '发布'), status('retire', '下线')),
      editor.el));
}

// ------------------------------------------------------------------ import / export / changes

export async function importExport(root) {
  const format = h('select', {}, h('option', { value: 'json' }, 'JSON'), h('option', { value: 'csv' }, 'CSV'));
  const file = h('input', { type: 'file', accept: '.json,.csv,application/json,text/csv' });
  const text = h('textarea', { rows: 10, class: 'mono', placeholder: '选择文件，或在此粘贴 JSON / CSV 内容' });
  const publish = h('input', { type: 'checkbox' });
  const exportStatus = h('select', {}, h('option', { value: '' }, '全部状态'),
    Object.entries(STATUS_LABELS).map(([value, label]) => h('option', { value }, label)));
  const report = h('div');

  file.addEventListener('change', async () => {
    const chosen = file.files && file.files[0];
    if (!chosen) return;
    text.value = await chosen.text();
    if (chosen.name.endsWith('.csv')) format.value = 'csv';
    if (chosen.name.endsWith('.json')) format.value = 'json';
  });

  function showRejected(context) {
    clear(report,
      h('p', {}, tag('未导入：存在错误行，整批未生效', 'bad'), ' ', h('span', { class: 'muted' }, `共 ${context.rows} 行，错误 ${context.invalid_rows} 行`)),
      table([
        { label: '行号', key: 'row' },
        { label: '编码', render: (r) => r.code || '' },
        { label: '问题', render: (r) => (r.problems || []).map((p) => `${p.field}: ${p.problem}`).join('；') },
      ], context.report || []));
  }

  async function runImport(button) {
    if (!text.value.trim()) {
      toast('请先选择文件或粘贴内容', 'error');
      return;
    }
    await act(button, async () => {
      try {
        const result = await catalogue.importItems(format.value, text.value, { publish: publish.checked });
        clear(report, h('p', {}, tag('已导入', 'ok'), ' ',
          h('span', { class: 'muted' }, `共 ${result.rows} 行：新建 ${result.created}，更新 ${result.updated}，未变 ${result.unchanged}${result.published ? '，已发布' : '（草稿）'}`)));
      } catch (err) {
        if (err.code === 'import_rejected') showRejected(err.context);
        throw err;
      }
    });
  }

  async function runExport(button, kind) {
    await act(button, async () => {
      const response = await catalogue.exportItems(kind, exportStatus.value);
      download(`service-items-${new Date().toISOString().slice(0, 10)}.${kind}`, await response.blob());
    });
  }

  clear(root,
    section('导入服务事项',
      h('p', { class: 'muted' }, '整批导入：任何一行校验失败，整批都不会生效，并列出每一行的问题。'),
      h('div', { class: 'toolbar' }, format, file, h('label', {}, publish, ' 导入后直接发布')),
      text,
      h('div', { class: 'toolbar' }, h('button', { class: 'primary', onclick: (e) => runImport(e.target) }, '导入')),
      report),
    section('导出服务事项',
      h('div', { class: 'toolbar' }, exportStatus,
        h('button', { onclick: (e) => runExport(e.target, 'json') }, '导出 JSON'),
        h('button', { onclick: (e) => runExport(e.target, 'csv') }, '导出 CSV'))));
}

export async function changesView(root) {
  const entity = h('select', {}, h('option', { value: '' }, '全部'),
    [['item', '服务事项'], ['zone', '专区'], ['bundle', '一件事'], ['department', '部门']].map(([value, label]) => h('option', { value }, label)));
  const key = h('input', { placeholder: '编码或标识' });
  const results = h('div');
  const load = async () => {
    const body = await catalogue.changes({ entity: entity.value, key: key.value.trim() });
    clear(results, changeTable(body.changes || []));
  };
  clear(root, section('目录变更记录',
    h('form', { class: 'toolbar', onsubmit: (e) => { e.preventDefault(); act(e.submitter, load); } }, entity, key, h('button', { type: 'submit' }, '查询')),
    results));
  await load();
}
