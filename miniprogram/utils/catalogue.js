'use strict';
// Small helpers shared by the catalogue pages.

const AUDIENCES = [
  { value: 'individual', label: '个人办事' },
  { value: 'enterprise', label: '企业办事' },
];

// The region tree becomes one picker list: province, then each city followed by its districts.
function flattenRegions(nodes, depth = 0, out = []) {
  (nodes || []).forEach((node) => {
    out.push({ code: node.code, name: node.name, label: `${'　'.repeat(depth)}${node.name}` });
    flattenRegions(node.children, depth + 1, out);
  });
  return out;
}

// Where a zone tile leads: {kind: "service", code} or {kind: "bundle", bundle_id, slug}.
function entryUrl(entry) {
  if (entry.kind === 'service' && entry.code) return `/pages/service/service?code=${encodeURIComponent(entry.code)}`;
  if (entry.kind === 'bundle' && (entry.bundle_id || entry.slug)) {
    return `/pages/bundle/bundle?id=${encodeURIComponent(entry.bundle_id || entry.slug)}`;
  }
  return null;
}

function listOf(body, key = 'items') {
  if (Array.isArray(body)) return body;
  return body && Array.isArray(body[key]) ? body[key] : [];
}

module.exports = { AUDIENCES, flattenRegions, entryUrl, listOf };
