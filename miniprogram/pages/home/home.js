'use strict';
const api = require('../../utils/request');
const { AUDIENCES, flattenRegions, entryUrl, listOf } = require('../../utils/catalogue');
const nav = require('../../utils/nav');

const app = getApp();

Page({
  data: {
    audiences: AUDIENCES,
    audience: 'individual',
    regions: [],
    regionIndex: 0,
    regionName: '广东省',
    zones: [],
    loading: true,
    failed: '',
  },

  onLoad() {
    this.setData({ audience: app.globalData.audience });
    this.loadRegions();
    this.loadZones();
  },

  onPullDownRefresh() {
    this.loadZones().then(() => wx.stopPullDownRefresh());
  },

  async loadRegions() {
    try {
      const regions = flattenRegions(listOf(await api.publicGet('/api/v1/regions'), 'regions'));
      const index = Math.max(0, regions.findIndex((r) => r.code === app.globalData.region));
      this.setData({ regions, regionIndex: index, regionName: regions.length ? regions[index].name : '广东省' });
    } catch (err) {
      api.showError(err);
    }
  },

  async loadZones() {
    this.setData({ loading: true, failed: '' });
    try {
      const body = await api.publicGet('/api/v1/zones', { region: app.globalData.region, audience: this.data.audience });
      const zones = listOf(body, 'zones').map((zone) => Object.assign({}, zone, {
        entries: listOf(zone.entries).map((entry) => Object.assign({}, entry, { url: entryUrl(entry) })),
      }));
      this.setData({ zones });
    } catch (err) {
      this.setData({ failed: err.userMessage || '加载失败' });
    } finally {
      this.setData({ loading: false });
    }
  },

  onRegionChange(e) {
    const region = this.data.regions[Number(e.detail.value)];
    if (!region) return;
    app.savePreferences({ region: region.code });
    this.setData({ regionIndex: Number(e.detail.value), regionName: region.name });
    this.loadZones();
  },

  onAudienceTap(e) {
    const { audience } = e.currentTarget.dataset;
    if (audience === this.data.audience) return;
    app.savePreferences({ audience });
    this.setData({ audience });
    this.loadZones();
  },

  openSearch() {
    wx.navigateTo({ url: '/pages/search/search' });
  },

  openZone(e) {
    wx.navigateTo({ url: `/pages/zone/zone?id=${encodeURIComponent(e.currentTarget.dataset.id)}` });
  },

  openEntry(e) {
    nav.open(e.currentTarget.dataset.url);
  },
});
