/*! Stacksearch search box. One tag turns an <input> into search-as-you-type:
 *   <script src="https://search.example.com/widget.js" data-endpoint="https://search.example.com" defer></script>
 * Attributes, all optional: data-endpoint (searchd's URL; default: where this script comes from),
 * data-input (CSS selector of the input(s); default: the first input[type=search]), data-results
 * (selector of an element to show results in, instead of a dropdown under the input), data-facets
 * (default "languages,frameworks,databases,topics"; "" for none), data-page-size (default 8),
 * data-debounce (milliseconds, default 120), data-distinct ("false" lists every matching section,
 * not only the best of each page; default: the server's), data-key (a search key, when searching
 * is not public), data-base-url (what relative result URLs resolve against; default: the page),
 * data-css="false" (bring your own styles instead of widget.css), data-manual (no automatic start:
 * call Stacksearch.attach(input, {endpoint, ...}) yourself). Opening a result fires a cancelable
 * "stacksearch:select" event on the input ({query, hit, position, url} in detail).
 * No framework, no build step. */
(() => {
  'use strict';
  const script = document.currentScript || document.querySelector('script[src*="widget.js"]');
  const LABELS = { languages: 'Languages', frameworks: 'Frameworks', databases: 'Databases', topics: 'Topics', types: 'Type' };
  const CHIPS = 6; // values shown per facet before "all"
  let uid = 0;

  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  };
  const attr = (e, a) => { for (const k in a) e.setAttribute(k, a[k]); return e; };

  // Server text is HTML-escaped with matches in <mark>. It becomes DOM nodes: only a
  // literal <mark> or </mark> is markup; the rest is text with its entities decoded.
  // Never innerHTML: a document's text can hold no markup that runs.
  const ENTITIES = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' };
  const decode = (s) => s.replace(/&(#[0-9]+|#x[0-9a-f]+|[a-z]+);/gi, (m, e) => {
    if (e[0] !== '#') return ENTITIES[e.toLowerCase()] ?? m;
    const n = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
    return n > 0 && n <= 0x10ffff ? String.fromCodePoint(n) : m;
  });
  const marked = (s) => {
    const f = document.createDocumentFragment();
    let mark = null;
    for (const part of String(s).split(/(<\/?mark>)/)) {
      if (part === '<mark>') f.append(mark = el('mark', 'ssw-mark'));
      else if (part === '</mark>') mark = null;
      else if (part) (mark || f).append(decode(part));
    }
    return f;
  };
  const plain = (s) => decode(String(s).replace(/<\/?mark>/g, ''));

  // Only http(s) links: a document's url must not be able to run script.
  const safeURL = (u, base) => {
    try {
      const x = new URL(u, base);
      return x.protocol === 'http:' || x.protocol === 'https:' ? x.href : '';
    } catch (_) { return ''; }
  };

  class Box {
    constructor(input, o) {
      this.input = input;
      this.o = o;
      this.id = 'ssw' + ++uid;
      this.q = '';
      this.filters = {};
      this.expanded = new Set();
      this.hits = [];
      this.active = -1;
      this.seq = 0;
      this.next = '';
      const host = o.results && document.querySelector(o.results);
      this.inline = !!host;

      const p = this.panel = el('div', 'ssw ' + (host ? 'ssw-inline' : 'ssw-dropdown'));
      p.id = this.id;
      p.hidden = true;
      this.status = attr(el('div', 'ssw-status'), { role: 'status', 'aria-live': 'polite' });
      this.notice = el('div', 'ssw-notice');
      this.facets = attr(el('div', 'ssw-facets'), { role: 'group', 'aria-label': 'Filter results' });
      this.answer = attr(el('section', 'ssw-answer'), { 'aria-label': 'Answer' });
      this.list = attr(el('ul', 'ssw-list'), { role: 'listbox', id: this.id + '-list', 'aria-label': 'Search results' });
      this.empty = el('div', 'ssw-empty');
      this.more = attr(el('button', 'ssw-more', 'More results'), { type: 'button' });
      const main = el('div', 'ssw-main');
      main.append(this.list, this.empty, this.more);
      const body = el('div', 'ssw-body');
      body.append(this.answer, this.facets, main); // the answer comes first on a narrow screen
      p.append(this.status, this.notice, body);
      for (const e of [this.notice, this.answer, this.empty, this.more]) e.hidden = true;
      if (host) host.append(p);
      else input.after(p);

      attr(input, {
        role: 'combobox', 'aria-autocomplete': 'list', 'aria-expanded': 'false',
        'aria-controls': this.list.id, autocomplete: 'off', autocapitalize: 'off', spellcheck: 'false',
      });
      if (!input.labels?.length && !input.getAttribute('aria-label') && !input.getAttribute('aria-labelledby')) {
        input.setAttribute('aria-label', 'Search');
      }

      input.addEventListener('input', () => this.schedule());
      input.addEventListener('keydown', (e) => this.key(e));
      input.addEventListener('focus', () => { if (this.q && this.input.value.trim()) this.open(); });
      this.more.addEventListener('click', () => this.search(true));
      p.addEventListener('click', (e) => this.click(e));
      p.addEventListener('auxclick', (e) => {
        const a = e.target.closest('a.ssw-hit');
        if (a && e.button === 1) this.visit(+a.dataset.i, false);
      });
      // A pointer on a button or result leaves the focus in the input, to type on
      // (keyboard users reach the buttons with Tab).
      p.addEventListener('mousedown', (e) => { if (e.target.closest('button, a')) e.preventDefault(); });
      if (!host) {
        // A dropdown closes when focus or a pointer goes elsewhere, but not while
        // a pointer is down on it (a browser may move the focus to the page then).
        const inside = (n) => n && (n === input || p.contains(n));
        let held = false;
        p.addEventListener('pointerdown', () => { held = true; });
        document.addEventListener('pointerup', () => setTimeout(() => { held = false; }), true);
        document.addEventListener('pointerdown', (e) => { if (!inside(e.target)) this.close(); });
        const out = () => setTimeout(() => { if (!held && !inside(document.activeElement)) this.close(); });
        input.addEventListener('blur', out);
        p.addEventListener('focusout', out);
        addEventListener('resize', () => { if (!p.hidden) this.place(); });
      }
      if (input.value.trim()) this.search(false);
    }

    headers(h) {
      if (this.o.key) h.Authorization = 'Bearer ' + this.o.key;
      return h;
    }

    schedule() {
      clearTimeout(this.timer);
      if (!this.input.value.trim()) {
        this.seq++;
        this.ctrl?.abort();
        this.clear();
        return;
      }
      this.timer = setTimeout(() => this.search(false), this.o.debounce);
    }

    // search asks for the first page of what the input holds, or (more) the next
    // page of the results shown. Only the newest request's answer is shown: an
    // older one is aborted, and its answer ignored if it comes anyway.
    async search(more) {
      clearTimeout(this.timer);
      const q = more ? this.q : this.input.value.trim();
      if (!q || (more && !this.next)) return;
      this.ctrl?.abort();
      const ctrl = this.ctrl = new AbortController();
      const seq = ++this.seq;
      const params = new URLSearchParams({ query: q, page_size: this.o.pageSize, disjunctive_facets: 'true' });
      for (const f of this.o.facets) params.append('facets', f);
      for (const f in this.filters) for (const v of this.filters[f]) params.append(f, v);
      if (this.o.distinct) params.set('distinct', this.o.distinct);
      if (more) params.set('page_token', this.next);
      this.panel.classList.add('ssw-loading');
      this.list.setAttribute('aria-busy', 'true');
      let res;
      try {
        const r = await fetch(this.o.endpoint + '/v1/search?' + params, { signal: ctrl.signal, headers: this.headers({}) });
        res = await r.json().catch(() => ({}));
        if (!r.ok) throw Object.assign(new Error(res.message || r.statusText), { status: r.status });
      } catch (e) {
        if (seq === this.seq) this.fail(q, e);
        return;
      } finally {
        if (seq === this.seq) {
          this.panel.classList.remove('ssw-loading');
          this.list.removeAttribute('aria-busy');
        }
      }
      if (seq === this.seq) this.render(q, res, more);
    }

    render(q, res, more) {
      const hits = res.hits || [];
      const corrected = res.corrected_query || '';
      this.q = q;
      this.next = res.next_page_token || '';
      if (!more) {
        this.hits = [];
        this.list.replaceChildren();
        this.setActive(-1);
        this.renderFacets(res.facets || {});
        this.renderAnswer(res.answer);
        this.renderNotice(q, corrected);
        this.list.scrollTop = 0;
      }
      const start = this.hits.length;
      this.hits.push(...hits);
      hits.forEach((h, k) => this.list.append(this.option(h, start + k)));
      const total = res.total_hits || 0;
      const shown = corrected || q;
      this.status.textContent = total
        ? `${total} result${total === 1 ? '' : 's'} for “${shown}”`
        : `No results for “${shown}”`;
      this.status.classList.remove('ssw-error');
      this.renderEmpty(q, !this.hits.length && !res.answer);
      // A last page that came back empty (the server may offer a token after a
      // full page) ends the paging too.
      this.more.hidden = !this.next || (more && !hits.length);
      this.open();
    }

    fail(q, e) {
      if (e.name === 'AbortError') return;
      this.status.textContent = e.status === 429
        ? 'Too many searches at once: try again in a moment.'
        : 'Search is unavailable right now. Try again in a moment.';
      this.status.classList.add('ssw-error');
      this.open();
    }

    option(h, i) {
      const o = this.id + '-opt-' + i;
      const li = attr(el('li', 'ssw-option'), { id: o, role: 'option', 'aria-selected': 'false', 'aria-labelledby': o + '-t' });
      const a = el('a', 'ssw-hit');
      a.tabIndex = -1;
      a.dataset.i = i;
      const href = safeURL(h.url, this.o.baseURL);
      if (href) a.href = href;
      const title = el('span', 'ssw-title');
      title.id = o + '-t';
      // The title highlight is used only when it is the whole title, unabridged.
      const th = (h.highlights || []).find((x) => x.field === 'title')?.fragments?.[0];
      title.append(th && plain(th) === h.title ? marked(th) : h.title || h.id);
      const head = el('span', 'ssw-head');
      head.append(title);
      if (h.type === 'faq') head.append(el('span', 'ssw-badge', 'FAQ'));
      a.append(head);
      const snip = h.snippet || (h.highlights || []).find((x) => x.field === 'body')?.fragments?.[0];
      if (snip) {
        const s = el('span', 'ssw-snippet');
        s.id = o + '-s';
        s.append(marked(snip));
        li.setAttribute('aria-describedby', s.id);
        a.append(s);
      }
      const tags = [...(h.frameworks || []), ...(h.languages || [])].filter((v, k, all) => all.indexOf(v) === k).slice(0, 4);
      const meta = [h.page, tags.join(', '), h.more_in_page ? `+${h.more_in_page} more on this page` : ''].filter(Boolean);
      if (meta.length) a.append(el('span', 'ssw-meta', meta.join(' · ')));
      li.append(a);
      return li;
    }

    renderFacets(facets) {
      const focused = document.activeElement;
      const keep = this.facets.contains(focused) ? focused.dataset : null;
      this.facets.replaceChildren();
      let any = false;
      for (const f of this.o.facets) {
        const sel = this.filters[f] || [];
        const vals = (facets[f]?.values || []).slice();
        for (const v of sel) if (!vals.some((x) => x.value === v)) vals.push({ value: v, count: 0 });
        if (!vals.length) continue;
        any = true;
        const g = attr(el('div', 'ssw-group'), { role: 'group', 'aria-labelledby': `${this.id}-g-${f}` });
        const label = el('span', 'ssw-group-label', LABELS[f] || f);
        label.id = `${this.id}-g-${f}`;
        const chips = el('div', 'ssw-chips');
        const all = this.expanded.has(f);
        vals.forEach((v, k) => {
          const on = sel.includes(v.value);
          if (!all && k >= CHIPS && !on) return;
          const b = attr(el('button', 'ssw-chip'), {
            type: 'button', 'aria-pressed': String(on),
            'aria-label': `${v.value}, ${v.count} result${v.count === 1 ? '' : 's'}`,
          });
          b.dataset.f = f;
          b.dataset.v = v.value;
          b.append(el('span', 'ssw-chip-name', v.value), el('span', 'ssw-count', String(v.count)));
          chips.append(b);
        });
        if (vals.length > CHIPS) {
          const t = attr(el('button', 'ssw-chip ssw-chip-all', all ? 'Fewer' : `All ${vals.length}`), { type: 'button', 'aria-expanded': String(all) });
          t.dataset.f = f;
          t.dataset.all = '';
          chips.append(t);
        }
        g.append(label, chips);
        this.facets.append(g);
      }
      if (Object.keys(this.filters).length) {
        const c = attr(el('button', 'ssw-clear', 'Clear filters'), { type: 'button' });
        c.dataset.clear = '';
        this.facets.append(c);
      }
      this.facets.hidden = !any;
      if (keep) {
        const again = [...this.facets.querySelectorAll('button')].find((b) =>
          b.dataset.f === keep.f && b.dataset.v === keep.v && ('all' in b.dataset) === ('all' in keep));
        (again || this.input).focus();
      }
    }

    renderAnswer(a) {
      this.answerHit = a;
      this.answer.replaceChildren();
      this.answer.hidden = !a;
      if (!a) return;
      const href = safeURL(a.url, this.o.baseURL);
      this.answer.append(el('span', 'ssw-answer-label', 'Answer'), el('p', 'ssw-answer-q', a.question), el('p', 'ssw-answer-text', a.answer));
      if (href) {
        const l = el('a', 'ssw-answer-link', 'Read the full answer');
        l.href = href;
        this.answer.append(l);
      }
    }

    renderNotice(q, corrected) {
      this.notice.replaceChildren();
      this.notice.hidden = !corrected || corrected.toLowerCase() === q.toLowerCase();
      if (this.notice.hidden) return;
      const b = attr(el('button', 'ssw-link', corrected), { type: 'button' });
      b.dataset.correct = corrected;
      this.notice.append('Did you mean ', b, '?');
    }

    renderEmpty(q, show) {
      this.empty.hidden = !show;
      if (!show) return;
      const tips = el('ul', 'ssw-tips');
      for (const t of ['Check the spelling, or type fewer letters of a long word.', 'Use fewer or more general words: “database” finds more than “PostgreSQL index tuning”.']) {
        tips.append(el('li', null, t));
      }
      this.empty.replaceChildren(el('p', 'ssw-empty-title', `Nothing matches “${q}”.`), tips);
      if (Object.keys(this.filters).length) {
        const c = attr(el('button', 'ssw-clear', 'Search without filters'), { type: 'button' });
        c.dataset.clear = '';
        this.empty.append(c);
      }
    }

    click(e) {
      const t = e.target.closest('a.ssw-hit, a.ssw-answer-link, button');
      if (!t) return;
      const d = t.dataset;
      if (t.classList.contains('ssw-answer-link')) {
        // The answer's FAQ record is opened like a result (not reported: it has no rank).
        const a = this.answerHit;
        const detail = { query: this.q, hit: { id: a.id, title: a.question, url: a.url, type: 'faq' }, position: 0, url: t.href };
        const newTab = e.ctrlKey || e.metaKey || e.shiftKey;
        if (!newTab && !this.input.dispatchEvent(new CustomEvent('stacksearch:select', { bubbles: true, cancelable: true, detail }))) e.preventDefault();
        return;
      }
      if (t.tagName === 'A') {
        // The link navigates by itself; a click to open a new tab is only reported.
        const newTab = e.ctrlKey || e.metaKey || e.shiftKey;
        if (!this.visit(+d.i, !newTab) && !newTab) e.preventDefault();
        return;
      }
      if ('correct' in d) {
        this.input.value = d.correct;
        this.input.focus();
        this.search(false);
      } else if ('clear' in d) {
        this.filters = {};
        this.input.focus();
        this.search(false);
      } else if ('all' in d) {
        this.expanded.has(d.f) ? this.expanded.delete(d.f) : this.expanded.add(d.f);
        this.search(false);
      } else if (d.f) {
        const sel = this.filters[d.f] || [];
        this.filters[d.f] = sel.includes(d.v) ? sel.filter((v) => v !== d.v) : [...sel, d.v];
        if (!this.filters[d.f].length) delete this.filters[d.f];
        this.search(false);
      }
    }

    // visit reports result i as opened and, with notify, tells the page with a
    // cancelable "stacksearch:select" event. It returns the URL to go to, or ""
    // when the page cancelled (a single-page app routes it itself) or the result
    // has no http(s) URL.
    visit(i, notify) {
      const hit = this.hits[i];
      if (!hit) return '';
      this.report(i);
      const url = safeURL(hit.url, this.o.baseURL);
      if (!notify) return url;
      const detail = { query: this.q, hit, position: i + 1, url };
      return this.input.dispatchEvent(new CustomEvent('stacksearch:select', { bubbles: true, cancelable: true, detail })) ? url : '';
    }

    // report tells searchd's analytics which result was opened, without waiting
    // and ignoring every failure (an older searchd answers 501). sendBeacon sends
    // text/plain, a CORS-safelisted request with no preflight, and survives the
    // navigation that follows; a key needs a header, so that goes by fetch.
    report(i) {
      const hit = this.hits[i];
      if (!hit) return;
      const url = this.o.endpoint + '/v1/clicks';
      const body = JSON.stringify({ query: this.q, id: hit.id, position: i + 1 });
      try {
        if (!this.o.key && navigator.sendBeacon && navigator.sendBeacon(url, body)) return;
        fetch(url, { method: 'POST', body, keepalive: true, headers: this.headers({ 'Content-Type': 'application/json' }) }).catch(() => {});
      } catch (_) { /* analytics must never break the search box */ }
    }

    key(e) {
      if (e.isComposing) return;
      switch (e.key) {
        case 'ArrowDown':
        case 'ArrowUp':
          if (!this.hits.length) return;
          e.preventDefault();
          this.open();
          this.setActive(e.key === 'ArrowDown'
            ? (this.active + 1) % this.hits.length
            : (this.active <= 0 ? this.hits.length : this.active) - 1);
          break;
        case 'Enter':
          if (this.active >= 0 && !this.panel.hidden) {
            e.preventDefault();
            const newTab = e.ctrlKey || e.metaKey;
            const url = this.visit(this.active, !newTab);
            if (url && newTab) open(url, '_blank', 'noopener');
            else if (url) location.assign(url);
          } else if (!this.input.form) {
            e.preventDefault();
            this.search(false);
          }
          break;
        case 'Escape':
          if (this.active >= 0 || (!this.inline && !this.panel.hidden)) {
            e.preventDefault();
            this.inline ? this.setActive(-1) : this.close();
          } else if (this.input.value) {
            e.preventDefault();
            this.input.value = '';
            this.schedule();
          }
          break;
      }
    }

    setActive(i) {
      this.list.querySelector('[aria-selected="true"]')?.setAttribute('aria-selected', 'false');
      this.active = i;
      const li = i >= 0 && document.getElementById(`${this.id}-opt-${i}`);
      if (!li) {
        this.input.removeAttribute('aria-activedescendant');
        return;
      }
      li.setAttribute('aria-selected', 'true');
      this.input.setAttribute('aria-activedescendant', li.id);
      li.scrollIntoView({ block: 'nearest' });
    }

    open() {
      this.panel.hidden = false;
      this.input.setAttribute('aria-expanded', 'true');
      if (!this.inline) this.place();
    }

    close() {
      this.setActive(-1);
      if (this.inline) return;
      this.panel.hidden = true;
      this.input.setAttribute('aria-expanded', 'false');
    }

    clear() {
      this.q = '';
      this.hits = [];
      this.next = '';
      this.list.replaceChildren();
      this.setActive(-1);
      this.panel.hidden = true;
      this.input.setAttribute('aria-expanded', 'false');
    }

    // place puts the dropdown under the input, as wide as the input (at least
    // 30rem, at most 40rem) and inside the viewport.
    place() {
      const p = this.panel;
      const r = this.input.getBoundingClientRect();
      const vw = document.documentElement.clientWidth;
      const w = Math.min(Math.max(r.width, 480), 640, vw - 16);
      const left = Math.max(8, Math.min(r.left, vw - 8 - w));
      let ox = -scrollX;
      let oy = -scrollY;
      const op = p.offsetParent;
      if (op && (op !== document.body || getComputedStyle(op).position !== 'static')) {
        const o = op.getBoundingClientRect();
        ox = o.left + op.clientLeft - op.scrollLeft;
        oy = o.top + op.clientTop - op.scrollTop;
      }
      p.style.width = w + 'px';
      p.style.left = left - ox + 'px';
      p.style.top = r.bottom + 6 - oy + 'px';
    }
  }

  const defaults = (ds, src) => ({
    endpoint: (ds.endpoint || (src ? new URL(src, location.href).origin : location.origin)).replace(/\/+$/, ''),
    input: ds.input,
    results: ds.results,
    facets: (ds.facets ?? 'languages,frameworks,databases,topics').split(',').map((s) => s.trim()).filter((f) => f in LABELS),
    pageSize: Math.min(Math.max(parseInt(ds.pageSize, 10) || 8, 1), 100),
    debounce: ds.debounce != null && ds.debounce !== '' ? +ds.debounce : 120,
    key: ds.key || '',
    distinct: ds.distinct === 'true' || ds.distinct === 'false' ? ds.distinct : '',
    baseURL: ds.baseUrl || document.baseURI,
    css: ds.css !== 'false',
  });

  // Stacksearch.attach(input, options) adds a box by hand: options are the data-
  // attributes' names in camelCase (endpoint, results, facets, pageSize, ...).
  const attach = (input, opts = {}) => {
    const o = defaults({}, script?.src);
    Object.assign(o, opts);
    if (typeof o.facets === 'string') o.facets = defaults({ facets: o.facets }).facets;
    if (o.css && script?.src && !document.querySelector('link[data-stacksearch]')) {
      const l = attr(el('link'), { rel: 'stylesheet', href: new URL('widget.css', script.src).href, 'data-stacksearch': '' });
      document.head.append(l);
    }
    return new Box(input, o);
  };
  window.Stacksearch = { attach };

  const init = () => {
    const ds = script ? script.dataset : {};
    const o = defaults(ds, script?.src);
    const inputs = ds.input ? document.querySelectorAll(ds.input) : [document.querySelector('input[type=search]')];
    let n = 0;
    for (const input of inputs) if (input && !input.hasAttribute('aria-controls')) { attach(input, o); n++; }
    if (!n) console.warn('stacksearch: no input matches', ds.input || 'input[type=search]');
  };
  if (script && !('manual' in script.dataset)) {
    if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
    else init();
  }
})();
