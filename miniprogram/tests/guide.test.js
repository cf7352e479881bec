'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { guideView, bundleView } = require('../utils/guide');

// Shaped like GET /api/v1/services/{code} for a seeded demo item.
const ITEM = {
  code: '11440100007482575H3440118009000',
  name: '机动车驾驶证换证',
  item_type: '行政许可',
  department: { code: '11440100007482575H', name: '广州市公安局交通警察支队' },
  region: { code: '440100', name: '广州市', level: 'city' },
  audiences: ['individual'],
  guide: {
    handling_kind: '承诺件',
    conditions: ['驾驶证有效期满前九十日内', '身体条件符合规定'],
    materials: [
      { name: '居民身份证', form: 'original', copies: 1, required: true, licence_type: '居民身份证电子证照', note: '' },
      { name: '体检证明', form: 'electronic', copies: 1, required: false, licence_type: null, note: '可在指定医院办理' },
    ],
    steps: [{ name: '申请', description: '提交材料', time_limit_days: 0 }, { name: '审核', description: '', time_limit_days: 3 }],
    legal_time_limit_days: 20,
    promised_time_limit_days: 0,
    visits: 0,
    fees: [{ name: '工本费', amount: 1000, basis: '粤价〔2004〕号', reducible: false }],
    free_of_charge: false,
    online_depth_label: '四级（全程网办）',
    channels: ['window', 'mini_program'],
    consulting: { phone: '020-12345678', address: '广州市政务服务中心综合窗口' },
    complaint: { phone: '12345', channel: '12345政务服务便民热线' },
    windows: [{ address: '广州市政务服务中心', hours: '周一至周五 9:00-17:30' }],
    faqs: [{ question: '办理进度怎么查？', answer: '在粤省事查看' }],
    legal_basis: ['《机动车驾驶证申领和使用规定》'],
  },
};

test('a service guide becomes labelled rows and lists', () => {
  const view = guideView(ITEM);
  const rows = Object.fromEntries(view.basic.map((r) => [r.label, r.value]));
  assert.equal(rows['实施主体'], '广州市公安局交通警察支队');
  assert.equal(rows['服务对象'], '个人');
  assert.equal(rows['法定办结时限'], '20 个工作日');
  assert.equal(rows['承诺办结时限'], '即办');
  assert.equal(rows['到现场次数'], '0 次');
  assert.equal(rows['办理渠道'], '窗口办理、小程序');
  assert.deepEqual(view.conditions, ['驾驶证有效期满前九十日内', '身体条件符合规定']);
  assert.equal(view.materials[0].licenceType, '居民身份证电子证照');
  assert.equal(view.materials[1].form, '电子件');
  assert.equal(view.materials[1].required, false);
  assert.deepEqual(view.steps.map((s) => s.timeLimit), ['', '3 个工作日']);
  assert.deepEqual(view.fees, [{ name: '工本费', standard: '¥10.00', basis: '粤价〔2004〕号' }]);
  assert.equal(view.free, false);
  assert.equal(view.contacts.length, 3);
  assert.deepEqual(view.legalBasis, ['《机动车驾驶证申领和使用规定》']);
});

test('a guide with nothing filled in still renders', () => {
  const view = guideView({ code: 'X', name: '空事项' });
  assert.equal(view.free, true);
  assert.deepEqual(view.materials, []);
  assert.deepEqual(view.basic, [{ label: '事项编码', value: 'X' }]);
});

test('a bundle shows its items, merged materials and single flow', () => {
  const view = bundleView({
    title: '新生儿出生一件事',
    region: { code: '440106', name: '天河区' },
    items: [{ code: 'A', name: '出生医学证明', department: { name: '卫健委' } }, { code: 'B', name: '户口登记', department: { name: '公安局' } }],
    unavailable_in_region: ['C'],
    materials: [{ name: '父母身份证', form: 'original', copies: 1, required: true, licence_type: 'id', used_by: ['A', 'B'] }],
    flow: [{ step: 1, name: '一次申请', description: '填写一张合并申请表' }, { step: 2, name: '出生医学证明', department: '卫健委', time_limit_days: 5 }],
  });
  assert.deepEqual(view.items.map((i) => i.department), ['卫健委', '公安局']);
  assert.equal(view.missing, 1);
  assert.equal(view.materials[0].licenceType, 'id');
  assert.deepEqual(view.steps.map((s) => [s.index, s.department, s.timeLimit]), [[1, '', ''], [2, '卫健委', '5 个工作日']]);
});
