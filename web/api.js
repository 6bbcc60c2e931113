// The API reference: /openapi.json (OpenAPI 2.0, generated from the .proto
// files) rendered as a page. Every string from the document becomes text, never
// HTML; `backticks` become <code>.
(() => {
  'use strict';
  const doc = document.getElementById('doc');
  const toc = document.getElementById('toc');
  const METHODS = ['get', 'post', 'put', 'patch', 'delete'];
  // The calls a reader looks for first; the rest keep the document's order.
  const FIRST = ['/v1/search', '/v1/suggest', '/v1/documents/{id}', '/v1/clicks', '/v1/index:reindex', '/v1/operations/{name}'];
  const rank = (o) => (FIRST.includes(o.path) ? FIRST.indexOf(o.path) : FIRST.length);

  const el = (tag, cls, ...kids) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    e.append(...kids.filter((k) => k != null));
    return e;
  };
  const inline = (s) => {
    const f = document.createDocumentFragment();
    String(s || '').split(/`([^`]*)`/).forEach((part, i) => f.append(i % 2 ? el('code', null, part) : part));
    return f;
  };
  // Proto comments wrap lines; a blank line starts a paragraph.
  const paras = (s) => String(s || '').split(/\n\s*\n/).filter((p) => p.trim()).map((p) => el('p', null, inline(p.replace(/\s*\n\s*/g, ' '))));
  const typeName = (ref) => ref.split('/').pop().replace(/^(stacksearchV1|v1|rpc|protobuf)(?=[A-Z])/, '');
  const anchor = (ref) => 'type-' + typeName(ref);

  // type renders a schema's type, linking message types to their section.
  const type = (s) => {
    if (!s) return el('span', 'type', 'any');
    if (s.$ref) {
      const a = el('a', 'type', typeName(s.$ref));
      a.href = '#' + anchor(s.$ref);
      return a;
    }
    if (s.type === 'array') return el('span', 'type', type(s.items), '[]');
    if (s.type === 'object' && s.additionalProperties) return el('span', 'type', 'map<string, ', type(s.additionalProperties), '>');
    const t = s.format && s.format !== s.type ? `${s.type} (${s.format})` : s.type || 'object';
    return el('span', 'type', s.enum ? `enum: ${s.enum.join(' | ')}` : t);
  };

  const table = (heads, rows) => {
    const t = el('table');
    t.append(el('thead', null, el('tr', null, ...heads.map((h) => el('th', null, h)))));
    t.append(el('tbody', null, ...rows.map((r) => el('tr', null, ...r.map((c) => el('td', null, c))))));
    return el('div', 'table-wrap', t);
  };

  const render = (api) => {
    const ops = [];
    for (const [path, item] of Object.entries(api.paths || {})) {
      for (const m of METHODS) if (item[m]) ops.push({ path, method: m, ...item[m] });
    }
    const tags = (api.tags || []).map((t) => t.name);
    for (const o of ops) for (const t of o.tags || ['Other']) if (!tags.includes(t)) tags.push(t);
    const origin = location.origin;

    doc.replaceChildren(el('h1', null, api.info?.title || 'API reference'), el('div', 'api-intro', ...paras(api.info?.description)));
    for (const [name, s] of Object.entries(api.securityDefinitions || {})) {
      doc.append(el('h4', null, 'Authentication'), el('p', null, inline(`${s.name} ${s.in}: `), inline(s.description || name)));
    }
    doc.append(el('p', null, 'Requests and responses are JSON with the field names shown here. The same document as OpenAPI 2.0: ', link('openapi.json', 'openapi.json'), '.'));
    toc.replaceChildren();

    for (const tag of tags) {
      const mine = ops.filter((o) => (o.tags || ['Other']).includes(tag)).sort((a, b) => rank(a) - rank(b));
      if (!mine.length) continue;
      const info = (api.tags || []).find((t) => t.name === tag);
      const h = el('h2', null, tag);
      h.id = 'tag-' + tag;
      doc.append(h, ...paras(info?.description));
      const list = el('ul');
      toc.append(el('h2', null, tag), list);
      for (const o of mine) {
        const id = 'op-' + o.operationId + (o.method === 'get' ? '' : '-' + o.method);
        const sec = el('section', 'op');
        sec.id = id;
        const rpc = (o.operationId || '').split('_').pop();
        sec.append(el('h3', null, el('span', `method method-${o.method}`, o.method.toUpperCase()), el('span', 'op-path', o.path), el('span', 'op-name', rpc)));
        if (tag === 'AdminService') sec.append(el('span', 'auth', 'Needs the admin token'));
        sec.append(...paras(o.summary), ...paras(o.description));
        const params = (o.parameters || []).filter((p) => p.in !== 'body');
        if (params.length) {
          sec.append(el('h4', null, 'Parameters'), table(['Name', 'In', 'Type', 'Description'], params.map((p) => [
            el('code', null, p.name), p.in + (p.required ? ', required' : ''), type(p.type ? p : p.schema), el('div', null, ...paras(p.description)),
          ])));
        }
        const body = (o.parameters || []).find((p) => p.in === 'body');
        if (body) sec.append(el('h4', null, 'Request body'), el('p', null, type(body.schema)));
        const ok = o.responses?.['200'];
        if (ok) sec.append(el('h4', null, 'Response'), el('p', null, type(ok.schema), ' · errors: ', link('#' + anchor('Status'), 'Status')));
        sec.append(el('pre', 'example', el('code', null, example(origin, o, body))));
        doc.append(sec);
        const a = link('#' + id, `${o.method.toUpperCase()} ${o.path}`);
        list.append(el('li', null, a));
      }
    }

    const h = el('h2', null, 'Types');
    h.id = 'types';
    doc.append(h);
    const list = el('ul');
    toc.append(el('h2', null, 'Types'), list);
    const defs = Object.entries(api.definitions || {}).sort((a, b) => typeName(a[0]).localeCompare(typeName(b[0])));
    for (const [name, s] of defs) {
      const sec = el('section', 'schema');
      sec.id = anchor(name);
      sec.append(el('h3', null, el('span', 'op-path', typeName(name))), ...paras(s.description || s.title));
      const props = Object.entries(s.properties || {});
      if (props.length) {
        sec.append(table(['Field', 'Type', 'Description'], props.map(([f, p]) => [
          el('code', null, f), type(p), el('div', null, ...paras(p.description || p.title)),
        ])));
      } else if (!s.description) {
        sec.append(el('p', null, 'An empty object: {}.'));
      }
      doc.append(sec);
      list.append(el('li', null, link('#' + sec.id, typeName(name))));
    }
    if (location.hash) document.getElementById(decodeURIComponent(location.hash.slice(1)))?.scrollIntoView();
  };

  const link = (href, text) => {
    const a = el('a', null, text);
    a.href = href;
    return a;
  };

  const example = (origin, o, body) => {
    const auth = (o.tags || []).includes('AdminService') ? " -H 'Authorization: Bearer $TOKEN'" : '';
    const path = o.path.replace(/\{(\w+)\}/g, '<$1>');
    if (o.method === 'get' && o.path === '/v1/search') return `curl '${origin}${path}?query=django&facets=frameworks'`;
    if (o.method === 'get' && o.path === '/v1/suggest') return `curl '${origin}${path}?query=djan'`;
    const m = o.method === 'get' ? '' : ` -X ${o.method.toUpperCase()}`;
    const d = body ? " -d '{}'" : '';
    return `curl${m}${auth} '${origin}${path}'${d}`;
  };

  fetch('openapi.json')
    .then((r) => (r.ok ? r.json() : Promise.reject(new Error(r.status + ' ' + r.statusText))))
    .then(render)
    .catch((e) => doc.append(el('p', 'api-error', 'The API document could not be loaded: ' + e.message)));
})();
