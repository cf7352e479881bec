'use strict';
// wx.navigateTo cannot open a tab page; wx.switchTab cannot take a query. Pick the right one.
const TAB_PAGES = ['/pages/home/home', '/pages/licences/licences', '/pages/payments/payments', '/pages/me/me'];

function open(url) {
  if (!url) return;
  const path = url.split('?')[0];
  if (TAB_PAGES.includes(path)) wx.switchTab({ url: path });
  else wx.navigateTo({ url });
}

module.exports = { open };
