// The demo page around the widget: example queries, "/" to focus the box, the
// embed snippet for this server, and a reader that opens a result in place (the
// demo corpus has no pages of its own to link to).
(() => {
  'use strict';
  const input = document.getElementById('q');

  // On a phone the introduction makes way for the results while searching.
  const searching = () => document.body.classList.toggle('searching', input.value.trim() !== '');
  input.addEventListener('input', searching);
  searching();

  document.getElementById('try').addEventListener('click', (e) => {
    const b = e.target.closest('button[data-q]');
    if (!b) return;
    input.value = b.dataset.q;
    input.dispatchEvent(new Event('input', { bubbles: true }));
    input.focus();
  });

  document.addEventListener('keydown', (e) => {
    const t = e.target;
    if (e.key !== '/' || e.ctrlKey || e.metaKey || e.altKey || t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName)) return;
    e.preventDefault();
    input.focus();
    input.select();
  });

  const origin = location.origin;
  document.getElementById('snippet').textContent =
    `<input type="search" placeholder="Search the docs">\n<script src="${origin}/widget.js" data-endpoint="${origin}" defer></script>`;

  const reader = document.getElementById('reader');
  const text = (id, s) => { document.getElementById(id).textContent = s; };
  document.getElementById('reader-close').addEventListener('click', () => reader.close());
  reader.addEventListener('click', (e) => { if (e.target === reader) reader.close(); });

  input.addEventListener('stacksearch:select', async (e) => {
    if (!reader.showModal) return; // an old browser follows the link
    e.preventDefault();
    const hit = e.detail.hit;
    text('reader-page', hit.page || '');
    text('reader-title', hit.title);
    const body = document.getElementById('reader-body');
    body.replaceChildren();
    if (!reader.open) reader.showModal();
    try {
      const r = await fetch('v1/documents/' + encodeURIComponent(hit.id));
      if (!r.ok) throw new Error(r.statusText);
      const doc = await r.json();
      for (const para of doc.body.split(/\n\s*\n/)) {
        const p = document.createElement('p');
        p.textContent = para.trim();
        if (p.textContent) body.append(p);
      }
    } catch (_) {
      const p = document.createElement('p');
      p.textContent = 'This record could not be loaded.';
      body.append(p);
    }
  });
})();
