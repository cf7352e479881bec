// Just enough of the DOM for the console's views to render in node: elements, text, events,
// form values. Enough to find "the button labelled 发布" and click it; no layout, no CSS.

class Node {
  constructor() {
    this.childNodes = [];
    this.parentNode = null;
  }

  append(...nodes) {
    for (const node of nodes) {
      const child = typeof node === 'string' ? new Text(node) : node;
      if (child.parentNode) child.remove();
      child.parentNode = this;
      this.childNodes.push(child);
    }
  }

  replaceChildren(...nodes) {
    this.childNodes.forEach((child) => { child.parentNode = null; });
    this.childNodes = [];
    this.append(...nodes);
  }

  remove() {
    if (!this.parentNode) return;
    const siblings = this.parentNode.childNodes;
    siblings.splice(siblings.indexOf(this), 1);
    this.parentNode = null;
  }

  get textContent() {
    return this.childNodes.map((c) => c.textContent).join('');
  }

  set textContent(value) {
    this.replaceChildren(new Text(String(value)));
  }
}

export class Text extends Node {
  constructor(data) {
    super();
    this.data = data;
  }

  get textContent() {
    return this.data;
  }
}

export class Element extends Node {
  constructor(tagName) {
    super();
    this.tagName = tagName.toUpperCase();
    this.attributes = new Map();
    this.listeners = {};
    this.dataset = {};
    this.className = '';
    this.explicitValue = undefined;
    this.checked = false;
    this.disabled = false;
    this.readOnly = false;
    this.required = false;
    this.selected = false;
    this.hidden = false;
    this.files = null;
  }

  // A select's value is its selected option's, as in a browser.
  get value() {
    if (this.tagName === 'SELECT' && this.explicitValue === undefined) {
      const options = this.all().filter((el) => el.tagName === 'OPTION');
      const chosen = options.find((o) => o.selected) || options[0];
      return chosen ? (chosen.getAttribute('value') ?? chosen.textContent) : '';
    }
    return this.explicitValue ?? '';
  }

  set value(value) {
    this.explicitValue = String(value);
  }

  setAttribute(name, value) {
    this.attributes.set(name, String(value));
    if (name === 'value') this.value = String(value);
    if (name === 'id') this.id = String(value);
  }

  getAttribute(name) {
    return this.attributes.has(name) ? this.attributes.get(name) : null;
  }

  addEventListener(type, fn) {
    (this.listeners[type] = this.listeners[type] || []).push(fn);
  }

  dispatch(type, extra = {}) {
    const event = { type, target: this, submitter: extra.submitter || null, preventDefault() {}, ...extra };
    (this.listeners[type] || []).forEach((fn) => fn(event));
    return event;
  }

  click() {
    if (this.disabled) return;
    this.dispatch('click');
    // A submit button submits its form, as in a browser.
    if (this.tagName === 'BUTTON' && (this.getAttribute('type') || 'submit') === 'submit') {
      let form = this.parentNode;
      while (form && form.tagName !== 'FORM') form = form.parentNode;
      if (form) form.dispatch('submit', { submitter: this });
    }
  }

  reset() {
    this.all().forEach((el) => { if (el.tagName === 'INPUT' || el.tagName === 'TEXTAREA') el.value = ''; });
  }

  all() {
    const out = [];
    const walk = (node) => node.childNodes.forEach((c) => { if (c instanceof Element) { out.push(c); walk(c); } });
    walk(this);
    return out;
  }

  querySelector(selector) {
    return this.all().find((el) => el.tagName === selector.toUpperCase()) || null;
  }
}

export function installDom() {
  // Toasts close themselves after seconds; in tests those timers must not keep node running.
  const realSetTimeout = globalThis.setTimeout;
  globalThis.setTimeout = (fn, ms, ...args) => {
    const timer = realSetTimeout(fn, ms, ...args);
    if (ms >= 1000 && timer.unref) timer.unref();
    return timer;
  };
  const body = new Element('body');
  globalThis.document = {
    body,
    createElement: (tag) => new Element(tag),
    createTextNode: (data) => new Text(data),
    getElementById: (id) => body.all().find((el) => el.id === id) || null,
  };
  globalThis.Node = Node;
  const windowListeners = {};
  globalThis.window = globalThis.window || {
    location: { hash: '' },
    confirm: () => true,
    prompt: () => '测试原因',
    addEventListener: (type, fn) => { (windowListeners[type] = windowListeners[type] || []).push(fn); },
    dispatch: (type) => (windowListeners[type] || []).forEach((fn) => fn({ type })),
  };
  return body;
}

// Helpers for tests: find by visible text, set a form field by its label.
export function byText(root, tag, text) {
  return root.all().find((el) => el.tagName === tag.toUpperCase() && el.textContent.includes(text)) || null;
}

export function fieldByLabel(root, label) {
  const field = root.all().find((el) => el.tagName === 'LABEL' && el.childNodes[0] && el.childNodes[0].textContent.startsWith(label));
  if (!field) throw new Error(`no field labelled ${label}`);
  return field.childNodes[1];
}
