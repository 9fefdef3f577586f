// Hypatia web page: the Tutor chat and the solver Playground. Plain JS, no build step.
// Talks to the API described in crates/server/API.md. Text from the model or the student
// is only ever set as text nodes (never innerHTML); KaTeX's auto-render then turns the
// math delimiters in those text nodes into rendered math.
'use strict';

(() => {
  const $ = (sel) => document.querySelector(sel);
  const TOKEN_KEY = 'hypatia.token';
  const STUDENT_KEY = 'hypatia.student';
  const GRADE_KEY = 'hypatia.grade';
  // The tutor explains when the student asks for the answer (once explain_allowed is true).
  const EXPLAIN_TEXT = 'Please show me the answer and explain it.';
  const OUTCOMES = {
    open: 'In progress',
    solved: 'Solved',
    solved_with_hints: 'Solved with hints',
    told: 'Answer explained',
  };

  const state = {
    session: null, // the last SessionView
    busy: false, // a tutor turn is in flight
    streaming: null, // {bubble, text, pending} while deltas arrive
    afterToken: null, // what to retry once a token is saved
  };

  // ---------------------------------------------------------------- math rendering

  const DELIMITERS = [
    { left: '$$', right: '$$', display: true },
    { left: '\\[', right: '\\]', display: true },
    { left: '\\(', right: '\\)', display: false },
    { left: '$', right: '$', display: false },
  ];

  // Repairs the ways models commonly mangle math delimiters.
  function normalizeMath(s) {
    if (!s) return '';
    s = String(s);
    // JSON-style doubled backslashes: \\( x \\) and \\[ x \\] (but not a \\[2pt] line break).
    s = s.replace(/\\\\([()])/g, '\\$1');
    s = s.replace(/\\\\\[(?!\s*-?\d*\.?\d+\s*(?:pt|em|ex|mm|cm|in|mu)\s*\])/g, '\\[');
    s = s.replace(/(^|[^\\])\\\\\]/g, '$1\\]');
    // "[ \frac{a}{b} ]" alone on a line: display math whose backslashes got lost.
    s = s.replace(/^([ \t]*)\[\s+([^\n]*\\[a-zA-Z]+[^\n]*?)\s+\][ \t]*$/gm, '$1\\[$2\\]');
    // "( \frac{a}{b} )": inline math whose backslashes got lost.
    s = s.replace(/(^|[^\\\w])\(\s+([^()\n]*?\\[a-zA-Z]+[^()\n]*?)\s+\)/g, '$1\\($2\\)');
    return s;
  }

  // Where a `$` at i opens inline math, the index of the closing `$` (pandoc's rule: the
  // opener is followed by a non-space, the closer follows a non-space and is not followed
  // by a digit), else -1. So "$5 and $3" stays money.
  function inlineDollarEnd(s, i) {
    const first = s[i + 1];
    if (first === undefined || /\s/.test(first)) return -1;
    for (let j = i + 1; j < s.length; j++) {
      const c = s[j];
      if (c === '\\') { j++; continue; }
      if (c === '\n' && /^\n[ \t]*\n/.test(s.slice(j))) return -1;
      if (c === '$') {
        if (j > i + 1 && !/\s/.test(s[j - 1]) && !/[0-9]/.test(s[j + 1] || '')) return j;
      }
    }
    return -1;
  }

  // Splits text into text, math and literal-dollar pieces.
  function splitMath(s) {
    const out = [];
    let buf = '';
    const flush = () => { if (buf) { out.push({ kind: 'text', text: buf }); buf = ''; } };
    let i = 0;
    while (i < s.length) {
      const c = s[i];
      if (c === '\\') {
        const n = s[i + 1];
        if (n === '(' || n === '[') {
          const close = n === '(' ? '\\)' : '\\]';
          const j = s.indexOf(close, i + 2);
          if (j > i + 2 && s.slice(i + 2, j).trim()) {
            flush();
            out.push({ kind: 'math', display: n === '[', tex: s.slice(i + 2, j) });
            i = j + 2;
            continue;
          }
        } else if (n === '$') {
          flush();
          out.push({ kind: 'dollar' });
          i += 2;
          continue;
        }
        buf += c;
        i++;
        continue;
      }
      if (c === '$') {
        if (s[i + 1] === '$') {
          const j = s.indexOf('$$', i + 2);
          if (j > i + 2 && s.slice(i + 2, j).trim()) {
            flush();
            out.push({ kind: 'math', display: true, tex: s.slice(i + 2, j) });
            i = j + 2;
            continue;
          }
          flush();
          out.push({ kind: 'dollar' }, { kind: 'dollar' });
          i += 2;
          continue;
        }
        const j = inlineDollarEnd(s, i);
        if (j > 0) {
          flush();
          out.push({ kind: 'math', display: false, tex: s.slice(i + 1, j) });
          i = j + 1;
          continue;
        }
        flush();
        out.push({ kind: 'dollar' });
        i++;
        continue;
      }
      buf += c;
      i++;
    }
    flush();
    return out.flatMap((p) => (p.kind === 'text' ? wrapBareCommands(p.text) : [p]));
  }

  // LaTeX commands written outside any delimiters (\boxed{72}, \frac{1}{2}, 3 \times 4)
  // become inline math.
  const BARE = /\\(boxed|dfrac|tfrac|frac|sqrt|times|cdot|div|pm|mp|leq|geq|neq|le|ge|ne|approx|cdots|ldots|dots|pi|infty|circ|degree)(?![a-zA-Z])/g;
  const ARGS = { boxed: 1, frac: 2, dfrac: 2, tfrac: 2, sqrt: 1 };

  function readGroup(s, k) {
    while (k < s.length && /[ \t]/.test(s[k])) k++;
    if (s[k] === '{') {
      let depth = 0;
      for (let j = k; j < s.length; j++) {
        if (s[j] === '\\') { j++; continue; }
        if (s[j] === '{') depth++;
        else if (s[j] === '}' && --depth === 0) return j + 1;
      }
      return -1;
    }
    if (k < s.length && /[0-9a-zA-Z]/.test(s[k])) return k + 1;
    return -1;
  }

  function wrapBareCommands(text) {
    const out = [];
    let last = 0;
    BARE.lastIndex = 0;
    let m;
    while ((m = BARE.exec(text))) {
      let end = m.index + m[0].length;
      const nargs = ARGS[m[1]] || 0;
      if (m[1] === 'sqrt' && text[end] === '[') {
        const close = text.indexOf(']', end);
        if (close > 0) end = close + 1;
      }
      let ok = true;
      for (let a = 0; a < nargs; a++) {
        const e = readGroup(text, end);
        if (e < 0) { ok = false; break; }
        end = e;
      }
      if (!ok) continue;
      if (m.index > last) out.push({ kind: 'text', text: text.slice(last, m.index) });
      out.push({ kind: 'math', display: false, tex: text.slice(m.index, end) });
      last = end;
      BARE.lastIndex = end;
    }
    if (last < text.length) out.push({ kind: 'text', text: text.slice(last) });
    return out;
  }

  function renderMath(el) {
    if (typeof window.renderMathInElement !== 'function') return;
    try {
      window.renderMathInElement(el, { delimiters: DELIMITERS, throwOnError: false });
    } catch (e) {
      console.warn('KaTeX auto-render failed', e);
    }
  }

  // Appends `text` to `el` as text nodes, math pieces in their own spans, then renders math.
  // Markdown-style **bold** and *italic* as <strong>/<em> (text only, never HTML); a `*`
  // between spaces or digits (3 * 4, 3*4*5) stays a times sign.
  const EMPHASIS = /(^|[\s(["'])(\*\*|\*)(?=[^\s*])([^*\n]*?[^\s*])\2(?=$|[\s.,;:!?)\]"'])/g;

  function appendText(frag, text) {
    let last = 0;
    EMPHASIS.lastIndex = 0;
    let m;
    while ((m = EMPHASIS.exec(text))) {
      const start = m.index + m[1].length;
      if (start > last) frag.appendChild(document.createTextNode(text.slice(last, start)));
      const el = document.createElement(m[2] === '**' ? 'strong' : 'em');
      el.textContent = m[3];
      frag.appendChild(el);
      last = EMPHASIS.lastIndex;
    }
    if (last < text.length) frag.appendChild(document.createTextNode(text.slice(last)));
  }

  function appendMathText(el, text) {
    const frag = document.createDocumentFragment();
    const parts = splitMath(normalizeMath(text));
    parts.forEach((p, i) => {
      if (p.kind === 'text') {
        let t = p.text;
        // No stray blank line or indent around display math (bubbles keep white space).
        if (i > 0 && parts[i - 1].display) t = t.replace(/^[ \t]*\n?[ \t]*/, '');
        if (i + 1 < parts.length && parts[i + 1].display) t = t.replace(/[ \t]*\n?[ \t]*$/, '');
        if (t) appendText(frag, t);
      } else if (p.kind === 'dollar') {
        const span = document.createElement('span');
        span.className = 'dollar';
        span.textContent = '$';
        frag.appendChild(span);
      } else {
        const span = document.createElement('span');
        span.className = 'math';
        span.textContent = p.display ? `\\[${p.tex}\\]` : `\\(${p.tex}\\)`;
        frag.appendChild(span);
      }
    });
    el.appendChild(frag);
    renderMath(el);
  }

  function setMathText(el, text) {
    el.replaceChildren();
    appendMathText(el, text);
  }

  // Model output: fenced code blocks as <pre><code>, the prose between them with math.
  function appendModelText(el, text) {
    const s = String(text || '');
    const fence = /```([^\n`]*)\n?([\s\S]*?)(?:```|$)/g;
    let last = 0;
    let m;
    while ((m = fence.exec(s))) {
      if (m.index > last) appendProse(el, s.slice(last, m.index));
      appendCode(el, m[2].replace(/\n$/, ''), m[1].trim());
      last = fence.lastIndex;
      if (m[0].length === 0) break;
    }
    if (last < s.length) appendProse(el, s.slice(last));
  }

  function appendProse(el, text) {
    if (!text.trim()) return;
    const div = document.createElement('div');
    div.className = 'prose math-text';
    appendMathText(div, text.replace(/^\n+|\s+$/g, ''));
    el.appendChild(div);
  }

  function appendCode(el, code, lang) {
    const pre = document.createElement('pre');
    const c = document.createElement('code');
    if (lang) c.dataset.lang = lang;
    c.textContent = code;
    pre.appendChild(c);
    el.appendChild(pre);
  }

  // ---------------------------------------------------------------- banner and HTTP

  function showBanner(text, kind = 'error') {
    $('#banner-text').textContent = text;
    $('#banner').className = kind === 'info' ? 'banner info' : 'banner';
    $('#banner').hidden = false;
  }
  function hideBanner() { $('#banner').hidden = true; }

  class ApiError extends Error {
    constructor(message, status = 0, type = '') {
      super(message);
      this.status = status;
      this.type = type;
    }
  }

  function showError(err) {
    const msg = err instanceof ApiError || (err && err.message) ? err.message : String(err);
    showBanner(msg || 'Something went wrong.');
  }

  async function errorFrom(res) {
    let message = '';
    let type = '';
    try {
      const text = await res.text();
      try {
        const body = JSON.parse(text);
        if (body && body.error) {
          message = body.error.message || '';
          type = body.error.type || '';
        }
      } catch (_) {
        message = text.slice(0, 300);
      }
    } catch (_) { /* no body */ }
    if (res.status === 413) message = 'That text is too long for this server.';
    if (!message) message = `The server answered ${res.status} ${res.statusText}`.trim();
    return new ApiError(message, res.status, type);
  }

  function retryAfterSeconds(res) {
    const h = res.headers.get('Retry-After');
    let secs = 5;
    if (h) {
      if (/^\s*\d+\s*$/.test(h)) secs = parseInt(h, 10);
      else {
        const t = Date.parse(h);
        if (!Number.isNaN(t)) secs = Math.ceil((t - Date.now()) / 1000);
      }
    }
    return Math.min(Math.max(secs, 1), 120);
  }

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  // fetch with the access token; one retry after a 429's Retry-After; throws ApiError.
  async function api(path, opts = {}, retried = false) {
    const headers = new Headers(opts.headers || {});
    const token = localStorage.getItem(TOKEN_KEY);
    if (token) headers.set('Authorization', `Bearer ${token}`);
    let res;
    try {
      res = await fetch(path, { ...opts, headers });
    } catch (e) {
      throw new ApiError(`Cannot reach the Hypatia server (${e.message}).`);
    }
    if (res.ok) return res;
    const err = await errorFrom(res);
    if (res.status === 429 && !retried) {
      for (let n = retryAfterSeconds(res); n > 0; n--) {
        showBanner(`The tutor is busy, retrying in ${n} s`, 'info');
        await sleep(1000);
      }
      hideBanner();
      return api(path, opts, true);
    }
    if (res.status === 429) {
      err.message = 'The tutor is still busy. Please try again in a minute.';
    }
    if (res.status === 401) {
      err.message = token
        ? 'The server did not accept the access token. Check it under Settings.'
        : 'This server needs an access token. Enter it under Settings.';
      $('#settings').open = true;
      $('#token').focus();
    }
    throw err;
  }

  // Reads a text/event-stream body, calling onEvent(event, data) for each event.
  async function readSse(res, onEvent) {
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    let event = '';
    let data = [];
    const dispatch = () => {
      if (data.length) onEvent(event || 'message', data.join('\n'));
      event = '';
      data = [];
    };
    const line = (l) => {
      if (l === '') return dispatch();
      if (l[0] === ':') return undefined;
      const colon = l.indexOf(':');
      const field = colon < 0 ? l : l.slice(0, colon);
      let value = colon < 0 ? '' : l.slice(colon + 1);
      if (value[0] === ' ') value = value.slice(1);
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
      return undefined;
    };
    let finished = false;
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true });
        for (;;) {
          const nl = buf.search(/[\r\n]/);
          if (nl < 0) break;
          if (buf[nl] === '\r' && nl === buf.length - 1) break; // maybe \r\n split across chunks
          const width = buf[nl] === '\r' && buf[nl + 1] === '\n' ? 2 : 1;
          line(buf.slice(0, nl));
          buf = buf.slice(nl + width);
        }
      }
      buf += decoder.decode();
      for (const l of buf.split(/\r\n|\r|\n/)) line(l);
      dispatch();
      finished = true;
    } finally {
      if (!finished) reader.cancel().catch(() => {});
    }
  }

  const parseJson = (text) => {
    try { return JSON.parse(text); } catch (_) { return null; }
  };

  // ---------------------------------------------------------------- tabs and settings

  function selectTab(name, focus = false) {
    for (const t of ['tutor', 'playground']) {
      const tab = $(`#tab-${t}`);
      const on = t === name;
      tab.setAttribute('aria-selected', String(on));
      tab.tabIndex = on ? 0 : -1;
      $(`#panel-${t}`).hidden = !on;
      if (on && focus) tab.focus();
    }
  }

  function setupTabs() {
    const names = ['tutor', 'playground'];
    names.forEach((name, i) => {
      const tab = $(`#tab-${name}`);
      tab.addEventListener('click', () => selectTab(name));
      tab.addEventListener('keydown', (e) => {
        let k = -1;
        if (e.key === 'ArrowRight') k = (i + 1) % names.length;
        else if (e.key === 'ArrowLeft') k = (i + names.length - 1) % names.length;
        else if (e.key === 'Home') k = 0;
        else if (e.key === 'End') k = names.length - 1;
        if (k >= 0) {
          e.preventDefault();
          selectTab(names[k], true);
        }
      });
    });
  }

  function setupSettings() {
    const input = $('#token');
    const stateLine = $('#token-state');
    const describe = () => {
      stateLine.textContent = localStorage.getItem(TOKEN_KEY) ? 'A token is saved in this browser.' : 'No token saved.';
    };
    input.value = localStorage.getItem(TOKEN_KEY) || '';
    describe();
    $('#settings-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const v = input.value.trim();
      if (v) localStorage.setItem(TOKEN_KEY, v);
      else localStorage.removeItem(TOKEN_KEY);
      describe();
      $('#settings').open = false;
      hideBanner();
      const again = state.afterToken;
      state.afterToken = null;
      if (again) again();
    });
    $('#token-clear').addEventListener('click', () => {
      input.value = '';
      localStorage.removeItem(TOKEN_KEY);
      describe();
    });
    $('#banner-close').addEventListener('click', hideBanner);
  }

  // ---------------------------------------------------------------- tutor

  function bubble(role, text, meta) {
    const div = document.createElement('div');
    div.className = `msg ${role}`;
    const who = document.createElement('span');
    who.className = 'who';
    who.textContent = role === 'student' ? 'You' : 'Tutor';
    const body = document.createElement('span');
    body.className = 'body math-text';
    div.append(who, body);
    if (text) appendMathText(body, text);
    if (meta) {
      const m = document.createElement('span');
      m.className = 'meta';
      m.textContent = meta;
      div.appendChild(m);
    }
    return div;
  }

  function turnMeta(t) {
    const parts = [];
    if (t.move === 'explain') parts.push('explained');
    if (t.hint_level) parts.push(`hint: ${t.hint_level}`);
    return parts.join(' · ');
  }

  function scrollToEnd() {
    const last = $('#messages').lastElementChild;
    if (last) last.scrollIntoView({ block: 'nearest' });
  }

  function updateStatus() {
    const s = state.session;
    if (!s) return;
    $('#hint-level').textContent = `Hint level: ${s.hint_level || 'nudge'}`;
    const outcome = $('#outcome');
    outcome.textContent = OUTCOMES[s.outcome] || s.outcome || '';
    outcome.className = `pill${s.outcome === 'solved' || s.outcome === 'solved_with_hints' ? ' ok' : ''}${s.outcome === 'told' ? ' told' : ''}`;
    $('#attempts').textContent = s.attempts ? `Attempts: ${s.attempts}` : '';
  }

  function updateControls() {
    $('#send').disabled = state.busy || !state.session;
    const explain = $('#explain');
    explain.hidden = !(state.session && state.session.explain_allowed);
    explain.disabled = state.busy;
    $('#thinking').hidden = !(state.busy && !(state.streaming && state.streaming.text));
  }

  function renderSession() {
    const s = state.session;
    $('#start-form').hidden = true;
    $('#chat').hidden = false;
    setMathText($('#chat-problem'), s.problem);
    updateStatus();
    const box = $('#messages');
    box.replaceChildren();
    if (s.greeting) box.appendChild(bubble('tutor', s.greeting));
    for (const t of s.turns || []) {
      box.appendChild(bubble('student', t.student));
      box.appendChild(bubble('tutor', t.tutor, turnMeta(t)));
    }
    updateControls();
    scrollToEnd();
  }

  function showStartForm() {
    state.session = null;
    $('#chat').hidden = true;
    $('#start-form').hidden = false;
    $('#messages').replaceChildren();
    updateControls();
  }

  function sessionIdFromHash() {
    const m = /(?:^#|&)session=([^&]+)/.exec(location.hash);
    return m ? decodeURIComponent(m[1]) : null;
  }

  async function loadSession(id) {
    selectTab('tutor');
    try {
      const res = await api(`api/sessions/${encodeURIComponent(id)}`, { headers: { Accept: 'application/json' } });
      state.session = await res.json();
      renderSession();
    } catch (err) {
      if (err.status === 401) state.afterToken = () => loadSession(id);
      if (err.status === 404) {
        history.replaceState(null, '', location.pathname + location.search);
        showStartForm();
        showBanner('That tutoring session was not found. Start a new one.');
      } else {
        showError(err);
      }
    }
  }

  async function startSession(e) {
    e.preventDefault();
    const student = $('#student').value.trim();
    const problem = $('#problem').value.trim();
    if (!student || !problem) {
      showBanner(student ? 'Please type a problem.' : 'Please type your name.');
      return;
    }
    const body = { student, problem, grade: Number($('#grade').value) };
    const solution = $('#solution').value.trim();
    const answer = $('#answer').value.trim();
    if (solution) body.solution = solution;
    if (answer) body.answer = answer;
    localStorage.setItem(STUDENT_KEY, student);
    localStorage.setItem(GRADE_KEY, $('#grade').value);
    hideBanner();
    const start = $('#start');
    const status = $('#start-status');
    start.disabled = true;
    status.textContent = solution
      ? 'Starting…'
      : 'Starting… the tutor is solving the problem first, which can take a minute.';
    try {
      const res = await api('api/sessions', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify(body),
      });
      state.session = await res.json();
      location.hash = `session=${encodeURIComponent(state.session.id)}`;
      renderSession();
      $('#work').focus();
    } catch (err) {
      showError(err);
    } finally {
      start.disabled = false;
      status.textContent = '';
    }
  }

  function renderStreaming() {
    const st = state.streaming;
    if (!st) return;
    st.pending = false;
    if (!st.bubble) {
      st.bubble = bubble('tutor', '');
      st.bubble.classList.add('streaming');
      $('#messages').appendChild(st.bubble);
    }
    setMathText(st.bubble.querySelector('.body'), st.text);
    updateControls();
    scrollToEnd();
  }

  async function sendMessage(text) {
    const s = state.session;
    text = (text || '').trim();
    if (state.busy || !s || !text) return;
    const turn = (s.turns || []).length;
    state.busy = true;
    state.streaming = { bubble: null, text: '', pending: false };
    hideBanner();
    $('#messages').appendChild(bubble('student', text));
    updateControls();
    scrollToEnd();
    let done = false;
    try {
      const res = await api(`api/sessions/${encodeURIComponent(s.id)}/messages`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' },
        body: JSON.stringify({ text, turn }),
      });
      const type = res.headers.get('Content-Type') || '';
      const finish = (body) => {
        if (!body || !body.session) throw new ApiError('The server sent an unreadable reply.');
        done = true;
        state.streaming = null;
        state.session = body.session;
        renderSession();
      };
      if (type.includes('text/event-stream')) {
        await readSse(res, (event, data) => {
          const body = parseJson(data);
          if (event === 'delta') {
            if (!body || typeof body.text !== 'string') return;
            state.streaming.text += body.text;
            if (!state.streaming.pending) {
              state.streaming.pending = true;
              requestAnimationFrame(renderStreaming);
            }
          } else if (event === 'done') {
            finish(body);
          } else if (event === 'error') {
            throw new ApiError((body && body.message) || data || 'The tutor failed to reply.');
          }
        });
      } else {
        finish(await res.json());
      }
      if (!done) throw new ApiError('The connection closed before the tutor finished replying.');
    } catch (err) {
      if (err.status === 409) {
        showBanner('This conversation changed in another window; it has been reloaded.', 'info');
      } else {
        showError(err);
      }
      state.streaming = null;
      await resync(s.id, text, turn);
    } finally {
      state.busy = false;
      state.streaming = null;
      updateControls();
    }
  }

  // After a failed turn: reload the session; give the text back if it was not recorded.
  async function resync(id, text, turn) {
    try {
      const res = await api(`api/sessions/${encodeURIComponent(id)}`, { headers: { Accept: 'application/json' } });
      state.session = await res.json();
    } catch (_) { /* keep what we had */ }
    if (state.session) renderSession();
    const recorded = state.session && (state.session.turns || []).length > turn;
    const work = $('#work');
    if (!recorded && !work.value.trim()) work.value = text;
  }

  function setupTutor() {
    const grade = $('#grade');
    for (let g = 1; g <= 12; g++) {
      const o = document.createElement('option');
      o.value = String(g);
      o.textContent = String(g);
      grade.appendChild(o);
    }
    grade.value = localStorage.getItem(GRADE_KEY) || '6';
    if (!grade.value) grade.value = '6';
    $('#student').value = localStorage.getItem(STUDENT_KEY) || '';

    $('#start-form').addEventListener('submit', startSession);
    $('#send-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const work = $('#work');
      const text = work.value;
      if (!text.trim() || state.busy) return;
      work.value = '';
      sendMessage(text);
    });
    $('#work').addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        if (!state.busy) $('#send-form').requestSubmit();
      }
    });
    $('#explain').addEventListener('click', () => sendMessage(EXPLAIN_TEXT));
    $('#new-session').addEventListener('click', () => {
      history.pushState(null, '', location.pathname + location.search);
      showStartForm();
      $('#problem').focus();
    });
    window.addEventListener('hashchange', () => {
      const id = sessionIdFromHash();
      if (id && (!state.session || state.session.id !== id)) loadSession(id);
      else if (!id && state.session && !state.busy) showStartForm();
    });
  }

  // ---------------------------------------------------------------- playground

  function kv(parent, key, value) {
    const p = document.createElement('p');
    p.className = 'kv';
    const b = document.createElement('b');
    b.textContent = `${key}: `;
    p.append(b, document.createTextNode(value));
    parent.appendChild(p);
  }

  function brief(v) {
    if (v === null || v === undefined) return '—';
    if (typeof v === 'object') {
      const s = JSON.stringify(v);
      return s.length > 400 ? `${s.slice(0, 400)}…` : s;
    }
    return String(v);
  }

  function label(parent, text) {
    const d = document.createElement('div');
    d.className = 'label';
    d.textContent = text;
    parent.appendChild(d);
  }

  function preBlock(parent, text, wrap = false) {
    const pre = document.createElement('pre');
    if (wrap) pre.className = 'wrap';
    const c = document.createElement('code');
    c.textContent = text;
    pre.appendChild(c);
    parent.appendChild(pre);
  }

  function promptText(p) {
    if (Array.isArray(p)) return p.map((m) => (m && m.role ? `${m.role}: ${m.content}` : brief(m))).join('\n\n');
    return typeof p === 'string' ? p : brief(p);
  }

  function renderStep(step, i) {
    const li = document.createElement('li');
    const kind = (step && step.kind) || 'step';
    li.className = `step ${kind}`;
    li.dataset.kind = kind;
    const head = document.createElement('div');
    head.className = 'step-kind';
    head.textContent = `${i + 1}. ${kind}`;
    li.appendChild(head);
    const skip = new Set(['kind']);
    if (kind === 'generation') {
      skip.add('prompt').add('completion');
      if (step.completion) appendModelText(li, step.completion);
      else kv(li, 'completion', '(empty)');
      if (step.prompt !== undefined) {
        const d = document.createElement('details');
        const sum = document.createElement('summary');
        sum.textContent = 'Prompt';
        d.appendChild(sum);
        preBlock(d, promptText(step.prompt), true);
        li.appendChild(d);
      }
    } else if (kind === 'execution') {
      skip.add('code').add('outcome');
      label(li, 'Code');
      preBlock(li, step.code || '');
      const o = step.outcome || {};
      const st = document.createElement('p');
      st.className = 'kv';
      const b = document.createElement('b');
      b.textContent = 'Status: ';
      const v = document.createElement('span');
      v.className = o.status === 'ok' || o.status === 'success' ? 'status-ok' : 'status-bad';
      v.textContent = `${brief(o.status)}${typeof o.seconds === 'number' ? ` (${o.seconds.toFixed(2)} s)` : ''}`;
      st.append(b, v);
      li.appendChild(st);
      if (o.stdout) { label(li, 'Output'); preBlock(li, o.stdout, true); }
      if (o.stderr) { label(li, 'Errors'); preBlock(li, o.stderr, true); }
      if (!o.stdout && !o.stderr) kv(li, 'Output', '(none)');
    } else if (kind === 'answer') {
      skip.add('answer').add('source');
      const p = document.createElement('p');
      p.className = 'kv math-text';
      const b = document.createElement('b');
      b.textContent = 'Answer: ';
      p.appendChild(b);
      const span = document.createElement('span');
      appendMathText(span, step.answer === null || step.answer === undefined ? '(none)' : String(step.answer));
      p.appendChild(span);
      li.appendChild(p);
      if (step.source) kv(li, 'Source', brief(step.source));
    }
    for (const [k, v] of Object.entries(step || {})) {
      if (skip.has(k) || v === '' || v === null || v === undefined) continue;
      if (typeof v === 'string' && v.length > 200) {
        label(li, k);
        const div = document.createElement('div');
        appendModelText(div, v);
        li.appendChild(div);
      } else {
        kv(li, k, brief(v));
      }
    }
    return li;
  }

  function firstPlan(steps) {
    const gen = steps.find((s) => s && s.kind === 'generation' && typeof s.completion === 'string');
    if (!gen) return '';
    const at = gen.completion.indexOf('```');
    return (at < 0 ? '' : gen.completion.slice(0, at)).trim();
  }

  function renderSolve(d) {
    const ans = $('#pg-answer');
    ans.replaceChildren();
    if (d.answer === null || d.answer === undefined || d.answer === '') {
      ans.textContent = '(no answer)';
      ans.classList.add('none');
    } else {
      ans.classList.remove('none');
      appendMathText(ans, String(d.answer));
    }
    const meta = [];
    if (d.strategy) meta.push(`strategy ${d.strategy}`);
    if (d.model) meta.push(`model ${d.model}`);
    if (typeof d.seconds === 'number') meta.push(`${d.seconds.toFixed(1)} s`);
    if (typeof d.prompt_tokens === 'number' || typeof d.completion_tokens === 'number') {
      meta.push(`${d.prompt_tokens ?? '?'} prompt + ${d.completion_tokens ?? '?'} completion tokens`);
    }
    if (typeof d.confidence === 'number') meta.push(`confidence ${d.confidence.toFixed(2)}`);
    $('#pg-meta').textContent = meta.join(' · ');

    const steps = (d.trace && Array.isArray(d.trace.steps)) ? d.trace.steps : [];
    const plan = firstPlan(steps);
    $('#pg-plan-section').hidden = !plan;
    setMathText($('#pg-plan'), plan);
    const text = typeof d.text === 'string' ? d.text.trim() : '';
    $('#pg-explanation-section').hidden = !text;
    $('#pg-explanation').replaceChildren();
    if (text) appendModelText($('#pg-explanation'), text);

    const trace = $('#pg-trace');
    trace.replaceChildren();
    steps.forEach((s, i) => trace.appendChild(renderStep(s, i)));
    if (!steps.length) {
      const li = document.createElement('li');
      li.className = 'step';
      li.textContent = 'No trace steps.';
      trace.appendChild(li);
    }
  }

  async function solve(e) {
    e.preventDefault();
    const problem = $('#pg-problem').value.trim();
    if (!problem) { showBanner('Please type a problem.'); return; }
    const strategy = $('#pg-strategy').value;
    const button = $('#pg-solve');
    const status = $('#pg-status');
    hideBanner();
    button.disabled = true;
    status.textContent = 'Solving… this can take a minute.';
    $('#pg-result').hidden = false;
    setMathText($('#pg-echo'), problem);
    $('#pg-answer').replaceChildren();
    $('#pg-answer').classList.remove('none');
    $('#pg-meta').textContent = '';
    $('#pg-plan-section').hidden = true;
    $('#pg-explanation-section').hidden = true;
    $('#pg-trace').replaceChildren();
    try {
      const res = await api('api/solve', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify({ problem, strategy }),
      });
      renderSolve(await res.json());
      status.textContent = '';
    } catch (err) {
      showError(err);
      status.textContent = 'Failed.';
    } finally {
      button.disabled = false;
    }
  }

  // ---------------------------------------------------------------- start

  function init() {
    setupTabs();
    setupSettings();
    setupTutor();
    $('#pg-form').addEventListener('submit', solve);
    updateControls();
    const id = sessionIdFromHash();
    if (id) loadSession(id);
  }

  // Exposed for tests and the console.
  window.hypatia = { normalizeMath, splitMath, setMathText };

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
