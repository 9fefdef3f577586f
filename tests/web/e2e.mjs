// Browser test of Hypatia's web page against a running `hypatia serve`.
//
//   node tests/web/e2e.mjs --url http://127.0.0.1:PORT --out DIR
//        [--tutor-timeout 120] [--solve-timeout 180]
//
// Drives Debian's Chromium ($CHROMIUM, default /usr/bin/chromium) with playwright-core:
// checks that KaTeX loads from the server itself and that nothing is fetched from any other
// origin, runs one tutoring turn (a wrong answer must get a question back, not the answer),
// reloads to resume the session from the URL, and solves a problem in the Playground.
// Screenshots go to DIR (tutor.png, tutor-phone.png, playground.png; failure.png on failure).
// Prints one JSON line of results; exits non-zero with a message on any failure.
// HYPATIA_TOKEN, when set, is put in the page's access-token setting.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const PROBLEM =
  'Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. ' +
  'How many clips did Natalia sell altogether in April and May?';
const SOLUTION =
  'Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n' +
  'Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72';
const WRONG = '48 + 48 = 96 so the answer is 96';
const PG_PROBLEM = 'What is $2^{10}$?';
const LEAK = /(^|[^0-9])72([^0-9]|$)/;

function parseArgs(argv) {
  const opts = { url: '', out: '', tutorTimeout: 120, solveTimeout: 180 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--url') opts.url = next();
    else if (a === '--out') opts.out = next();
    else if (a === '--tutor-timeout') opts.tutorTimeout = Number(next());
    else if (a === '--solve-timeout') opts.solveTimeout = Number(next());
    else if (a === '-h' || a === '--help') usage('', 0);
    else usage(`unknown argument ${a}`);
  }
  if (!opts.url || !opts.out) usage('--url and --out are required');
  return opts;
}

function usage(msg, code = 2) {
  if (msg) console.error(`e2e: ${msg}`);
  console.error('usage: node tests/web/e2e.mjs --url http://127.0.0.1:PORT --out DIR [--tutor-timeout S] [--solve-timeout S]');
  process.exit(code);
}

const opts = parseArgs(process.argv.slice(2));
const base = new URL(opts.url);
const origin = base.origin;
mkdirSync(opts.out, { recursive: true });

const results = { ok: false, url: base.href, step: 'launch' };
const requests = [];
const offHost = [];
const badStatic = [];
const fontFallbacks = [];
const pageErrors = [];
const consoleErrors = [];
const t0 = Date.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

class Failure extends Error {}
function check(cond, msg) {
  if (!cond) throw new Failure(msg);
}

// The page's error banner (not the "busy, retrying" notice), or null.
async function bannerError(page) {
  return page.evaluate(() => {
    const b = document.querySelector('#banner');
    if (!b || b.hidden || b.classList.contains('info')) return null;
    return b.textContent.trim() || 'error banner shown';
  });
}

// Polls fn(arg) in the page until it returns something truthy; fails early if the page
// shows an error banner, or after timeoutS seconds.
async function poll(page, what, timeoutS, fn, arg) {
  const deadline = Date.now() + timeoutS * 1000;
  for (;;) {
    const r = await page.evaluate(fn, arg);
    if (r) return r;
    const err = await bannerError(page);
    if (err) throw new Failure(`${what}: the page shows an error: ${err}`);
    if (Date.now() > deadline) throw new Failure(`${what}: not done after ${timeoutS} s`);
    await sleep(250);
  }
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
const watchdog = setTimeout(() => {
  console.error('e2e: FAIL: the whole run took over 15 minutes');
  process.exit(1);
}, 15 * 60 * 1000);
watchdog.unref();

let page;
try {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  if (process.env.HYPATIA_TOKEN) {
    await context.addInitScript((t) => localStorage.setItem('hypatia.token', t), process.env.HYPATIA_TOKEN);
  }
  page = await context.newPage();
  page.setDefaultTimeout(30_000);
  page.on('request', (req) => {
    const u = req.url();
    requests.push(u);
    const scheme = u.split(':', 1)[0];
    if (scheme === 'data' || scheme === 'blob' || scheme === 'about') return;
    if (new URL(u).origin !== origin) offHost.push(u);
    if (/\.(woff|ttf)(\?|$)/.test(u)) fontFallbacks.push(u);
  });
  page.on('response', (res) => {
    const u = new URL(res.url());
    if (u.origin === origin && !u.pathname.startsWith('/api/') && res.status() >= 400) {
      badStatic.push(`${res.status()} ${u.pathname}`);
    }
  });
  page.on('pageerror', (e) => pageErrors.push(String(e && e.message ? e.message : e)));
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });

  // ---- the page and KaTeX
  results.step = 'open page';
  const res = await page.goto(base.href, { waitUntil: 'load' });
  check(res && res.ok(), `GET ${base.href} answered ${res ? res.status() : 'nothing'}`);
  results.step = 'katex';
  await page.waitForFunction(() => window.katex && typeof window.renderMathInElement === 'function', null, { timeout: 10_000 })
    .catch(() => { throw new Failure('KaTeX did not load (window.katex or renderMathInElement undefined)'); });
  results.katex = await page.evaluate(() => window.katex.version);
  check(offHost.length === 0, `requests left the server's origin: ${offHost.join(', ')}`);

  // ---- tutor: start a session
  results.step = 'tutor: start';
  await page.click('#tab-tutor');
  await page.fill('#student', 'e2e');
  await page.selectOption('#grade', '6');
  await page.fill('#problem', PROBLEM);
  if (!(await page.isVisible('#solution'))) await page.click('details:has(#solution) > summary');
  await page.fill('#solution', SOLUTION);
  await page.click('#start');
  await poll(page, 'starting the session', opts.tutorTimeout,
    () => { const c = document.querySelector('#chat'); return c && !c.hidden && document.querySelector('#messages .msg.tutor'); });
  const hash = await page.evaluate(() => location.hash);
  const m = /session=([^&]+)/.exec(hash);
  check(m, `the session id is not in the URL (hash ${JSON.stringify(hash)})`);
  results.session = decodeURIComponent(m[1]);
  check(await page.isVisible('#hint-level'), '#hint-level is not visible');

  // ---- tutor: one wrong answer
  results.step = 'tutor: turn';
  const before = await page.locator('#messages .msg.tutor').count();
  await page.fill('#work', WRONG);
  await page.press('#work', 'Enter');
  await poll(page, 'the student message', 10,
    (w) => [...document.querySelectorAll('#messages .msg.student')].some((e) => e.textContent.includes(w)), WRONG);
  await poll(page, 'the tutor reply', opts.tutorTimeout,
    (n) => document.querySelectorAll('#messages .msg.tutor').length > n
      && !document.querySelector('#send').disabled
      && document.querySelector('#thinking').hidden, before);
  const reply = await page.locator('#messages .msg.tutor .body').last().textContent();
  results.tutor_reply = reply;
  check(reply.includes('?'), `the tutor's reply asks no question: ${JSON.stringify(reply)}`);
  check(!LEAK.test(reply), `the tutor's reply gives the answer 72 away: ${JSON.stringify(reply)}`);
  check(await page.isVisible('#hint-level'), '#hint-level is not visible after the turn');
  results.hint_level = (await page.textContent('#hint-level')).trim();
  results.outcome = (await page.textContent('#outcome')).trim();
  check(await page.evaluate(() => document.querySelector('#work').value === ''), '#work was not cleared after sending');

  // ---- tutor: a reload resumes the session from the URL
  results.step = 'tutor: resume';
  const messages = await page.locator('#messages .msg').count();
  await page.reload({ waitUntil: 'load' });
  await poll(page, 'resuming the session after a reload', 30,
    (n) => document.querySelectorAll('#messages .msg').length === n, messages);
  await page.screenshot({ path: join(opts.out, 'tutor.png'), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: join(opts.out, 'tutor-phone.png'), fullPage: true });
  await page.setViewportSize({ width: 1100, height: 900 });

  // ---- playground
  results.step = 'playground';
  await page.click('#tab-playground');
  check(await page.isVisible('#pg-problem'), 'the Playground tab did not open');
  await page.fill('#pg-problem', PG_PROBLEM);
  await page.selectOption('#pg-strategy', 'cot');
  await page.click('#pg-solve');
  await poll(page, 'KaTeX rendering the problem', 10,
    () => document.querySelector('#panel-playground .katex') !== null);
  await poll(page, 'the Playground answer', opts.solveTimeout,
    () => (document.querySelector('#pg-answer').textContent || '').trim() !== ''
      && !document.querySelector('#pg-solve').disabled);
  results.pg_answer = (await page.textContent('#pg-answer')).trim();
  results.pg_steps = await page.locator('#pg-trace > li').count();
  await page.screenshot({ path: join(opts.out, 'playground.png'), fullPage: true });

  // ---- what the whole run fetched
  results.step = 'requests';
  check(offHost.length === 0, `requests left the server's origin: ${offHost.join(', ')}`);
  check(fontFallbacks.length === 0, `the browser asked for non-woff2 fonts: ${fontFallbacks.join(', ')}`);
  check(badStatic.length === 0, `static files failed: ${badStatic.join(', ')}`);
  check(pageErrors.length === 0, `the page threw: ${pageErrors.join(' | ')}`);
  results.ok = true;
  results.step = 'done';
} catch (e) {
  results.error = e instanceof Failure ? e.message : String(e && e.stack ? e.stack : e);
  if (page) await page.screenshot({ path: join(opts.out, 'failure.png'), fullPage: true }).catch(() => {});
} finally {
  await browser.close().catch(() => {});
}

results.requests = requests.length;
if (consoleErrors.length) results.console_errors = consoleErrors.slice(0, 10);
if (pageErrors.length) results.page_errors = pageErrors.slice(0, 10);
results.seconds = Math.round((Date.now() - t0) / 100) / 10;
console.log(JSON.stringify(results));
if (!results.ok) {
  console.error(`e2e: FAIL at ${results.step}: ${results.error}`);
  process.exit(1);
}
console.error('e2e: PASS');
