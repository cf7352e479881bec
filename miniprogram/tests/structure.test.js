'use strict';
// What the developer tools would reject at compile time: a page listed in app.json without its
// four files, unbalanced WXML tags or {{ }}, and event bindings naming no method of the page.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const appJson = JSON.parse(fs.readFileSync(path.join(ROOT, 'app.json'), 'utf8'));

function read(file) {
  return fs.readFileSync(path.join(ROOT, file), 'utf8');
}

test('every page in app.json has its .js, .wxml, .wxss and .json', () => {
  for (const page of appJson.pages) {
    for (const ext of ['js', 'wxml', 'wxss', 'json']) {
      assert.ok(fs.existsSync(path.join(ROOT, `${page}.${ext}`)), `${page}.${ext}`);
    }
    JSON.parse(read(`${page}.json`));
  }
  for (const tab of appJson.tabBar.list) assert.ok(appJson.pages.includes(tab.pagePath), tab.pagePath);
});

test('WXML tags and mustaches balance', () => {
  for (const page of appJson.pages) {
    const source = read(`${page}.wxml`).replace(/<!--[\s\S]*?-->/g, '');
    assert.equal((source.match(/\{\{/g) || []).length, (source.match(/\}\}/g) || []).length, `${page}: {{ }}`);
    const stack = [];
    for (const match of source.matchAll(/<(\/?)([a-z][a-z0-9-]*)((?:[^>"']|"[^"]*"|'[^']*')*?)(\/?)>/g)) {
      const [, closing, tag, , selfClosing] = match;
      if (selfClosing) continue;
      if (!closing) stack.push(tag);
      else assert.equal(stack.pop(), tag, `${page}: </${tag}> closes the wrong tag`);
    }
    assert.deepEqual(stack, [], `${page}: unclosed tags`);
  }
});

test('every event binding names a method of its page', () => {
  for (const page of appJson.pages) {
    const js = read(`${page}.js`);
    for (const [, handler] of read(`${page}.wxml`).matchAll(/\b(?:bind|catch)[a-z]+="([A-Za-z_]+)"/g)) {
      assert.match(js, new RegExp(`\\n  (async )?${handler}\\(`), `${page}: ${handler}`);
    }
  }
});
