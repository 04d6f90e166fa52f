// The HTML report of `bulwark check` in headless Chromium (Debian's /usr/bin/chromium, driven
// by playwright-core): it loads with no console error and no network request, its counts,
// score and rows equal the JSON report of the same run, filters and sorting work and live in
// the URL fragment, and it still shows its charts with scripts off. Screenshots go to
// target/browser/. The last test measures how long a report of 10,000 findings takes to load
// (a measurement printed for people, not a timed assertion).
//
//   node --test tests/browser/report.test.mjs     (BULWARK_BIN defaults to target/debug/bulwark)

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bin = process.env.BULWARK_BIN || path.join(root, 'target/debug/bulwark');
const out = path.join(root, 'target/browser');
const fixtures = ['tests/fixtures/check/bundle', 'tests/fixtures/check/offline'].map((p) => path.join(root, p));
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/// Runs `bulwark check` on `paths`; exit 1 (findings at deny) is a normal outcome here.
function check(paths, format, extra = []) {
  const args = ['check', '-o', format, ...paths.flatMap((p) => ['-f', p]), ...extra];
  const run = spawnSync(bin, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.ok(run.status === 0 || run.status === 1, `bulwark ${args.join(' ')}: ${run.status} ${run.stderr}`);
  return run.stdout;
}

/// The score the page must show, worked out from the JSON report: its summary counts the rule
/// checks the engine made (one per object and rule that judged it), and a check fails when its
/// rule found something on that object, however many findings it made there.
function expectedScore(report) {
  const key = (o, file, line) => JSON.stringify([o.apiVersion, o.kind, o.namespace ?? null, o.name, file ?? null, line ?? null]);
  const failing = new Map();
  for (const f of report.findings) {
    const k = key(f.object, f.file, f.line);
    if (!failing.has(k)) failing.set(k, new Set());
    failing.get(k).add(f.rule);
  }
  let failed = 0;
  failing.forEach((rules) => { failed += rules.size; });
  const checks = report.summary.checks;
  const passed = checks - failed;
  const tenths = checks === 0 ? 1000 : Math.floor((passed * 1000) / checks);
  return { checks, passed, text: `${Math.floor(tenths / 10)}.${tenths % 10}%` };
}

let report;
let htmlFile;
const contexts = [];

/// A browser with a fresh profile; `seen` collects requests and console errors.
async function browser(options = {}) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: FLAGS,
    viewport: { width: 1400, height: 900 },
    ...options,
  });
  contexts.push([context, profile]);
  const seen = { requests: [], errors: [] };
  context.on('request', (r) => seen.requests.push(r.url()));
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') seen.errors.push(m.text()); });
  page.on('pageerror', (e) => seen.errors.push(String(e)));
  return { context, page, seen };
}

/// Every row of the table, page by page, as [action, rule].
async function allRows(page) {
  const rows = [];
  for (;;) {
    rows.push(...(await page.$$eval('#rows tr', (trs) => trs.map((tr) => [tr.cells[0].textContent.trim(), tr.cells[1].textContent.trim()]))));
    if (await page.isDisabled('#next')) break;
    await page.click('#next');
  }
  return rows;
}

const text = (page, selector) => page.textContent(selector).then((t) => t.trim());

before(() => {
  assert.ok(fs.existsSync(bin), `no bulwark binary at ${bin}: build it first (cargo build)`);
  fs.mkdirSync(out, { recursive: true });
  report = JSON.parse(check(fixtures, 'json'));
  htmlFile = path.join(out, 'report.html');
  check(fixtures, 'html', ['--out', htmlFile]);
  assert.ok(report.findings.length > 50, 'the fixtures make more than one page of findings');
  assert.ok(report.objects.every((o) => !['kube-system', 'kube-public', 'kube-node-lease', 'bulwark-system'].includes(o.namespace)),
    'no fixture sits in a namespace the built-in policy exempts');
});

after(async () => {
  for (const [context, profile] of contexts) {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
});

test('the report loads with no console error and no network request, and agrees with the JSON report', async () => {
  const { page, seen } = await browser();
  const url = pathToFileURL(htmlFile).href;
  await page.goto(url, { waitUntil: 'load' });
  for (const [id, key] of [['objects', 'objects'], ['deny', 'deny'], ['warn', 'warn'], ['audit', 'audit'], ['errors', 'errors']]) {
    assert.equal(Number(await text(page, `#count-${id}`)), report.summary[key], id);
  }
  const score = expectedScore(report);
  assert.equal(await text(page, '#score'), score.text);
  assert.equal(Number(await text(page, '#score-passed')), score.passed);
  assert.equal(Number(await text(page, '#score-checks')), score.checks);
  assert.match(await text(page, '#score-definition'), /share of rule checks that passed/);
  assert.equal(Number(await text(page, '#total')), report.findings.length);
  assert.equal(Number(await text(page, '#shown')), report.findings.length);
  assert.equal(await page.locator('#rows tr').count(), 50, 'one page of 50 rows');
  await page.screenshot({ path: path.join(out, 'report.png'), fullPage: true });
  const rows = await allRows(page);
  assert.equal(rows.length, report.findings.length);
  const byAction = (a) => rows.filter((r) => r[0] === a).length;
  assert.deepEqual([byAction('deny'), byAction('warn'), byAction('audit')],
    [report.summary.deny, report.summary.warn, report.summary.audit]);
  assert.deepEqual(seen.errors, []);
  assert.deepEqual([...new Set(seen.requests)], [url], 'the only request is the page itself');
});

test('filtering by a rule shows only its rows, and the filter lives in the URL fragment', async () => {
  const { page, seen } = await browser();
  const url = pathToFileURL(htmlFile).href;
  await page.goto(url, { waitUntil: 'load' });
  const counts = new Map();
  report.findings.forEach((f) => counts.set(f.rule, (counts.get(f.rule) ?? 0) + 1));
  const [rule, count] = [...counts].sort((a, b) => b[1] - a[1])[0];
  assert.ok(count > 1 && count < report.findings.length);
  await page.selectOption('select[name=rule]', rule);
  assert.equal(Number(await text(page, '#shown')), count);
  const rows = await allRows(page);
  assert.equal(rows.length, count);
  assert.ok(rows.every((r) => r[1] === rule), 'only that rule');
  const hash = new URL(page.url()).hash;
  assert.equal(new URLSearchParams(hash.slice(1)).get('rule'), rule);
  await page.locator('section.findings').screenshot({ path: path.join(out, 'report-filtered.png') });

  // A shared link opens on the same view; namespace and action filters combine with it.
  const shared = await browser();
  const ns = 'shop';
  const expected = report.findings.filter((f) => f.rule === rule && f.object.namespace === ns && f.action === 'warn').length;
  await shared.page.goto(`${url}#rule=${rule}&ns=${ns}&action=warn`, { waitUntil: 'load' });
  assert.equal(await shared.page.inputValue('select[name=rule]'), rule);
  assert.equal(Number(await text(shared.page, '#shown')), expected);

  // Sorting by rule puts the alphabetically first rule on top, and reverses on a second click.
  await page.click('#clear');
  assert.equal(Number(await text(page, '#shown')), report.findings.length);
  const ids = [...counts.keys()].sort();
  await page.click('th[data-sort=rule]');
  assert.equal(await text(page, '#rows tr:first-child td.rule'), ids[0]);
  await page.click('th[data-sort=rule]');
  assert.equal(await text(page, '#rows tr:first-child td.rule'), ids[ids.length - 1]);
  assert.equal(new URLSearchParams(new URL(page.url()).hash.slice(1)).get('sort'), '-rule');
  assert.deepEqual([...seen.errors, ...shared.seen.errors], []);
});

test('with scripts off the page still shows the counts, the charts and the first findings', async () => {
  const { page, seen } = await browser({ javaScriptEnabled: false });
  await page.goto(pathToFileURL(htmlFile).href, { waitUntil: 'load' });
  assert.equal(Number(await text(page, '#count-deny')), report.summary.deny);
  assert.equal(await page.locator('svg.bars').count(), 3);
  assert.equal(await page.locator('#rows tr').count(), Math.min(100, report.findings.length));
  assert.ok(await page.locator('#filters').isHidden(), 'no dead controls');
  assert.deepEqual(seen.errors, []);
});

test('measurement: a report of 10,000 findings in Chromium', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-10k-'));
  // The same shape as tests/suite/html_report.rs: 23 findings per Deployment.
  for (let file = 0; file < 20; file++) {
    let text = '';
    for (let i = file; i < 435; i += 20) {
      const name = `app-${String(i).padStart(5, '0')}`;
      text += `---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: ${name}, namespace: team-${i % 10}}\n` +
        `spec:\n  replicas: 1\n  selector: {matchLabels: {app: ${name}}}\n  template:\n    metadata: {labels: {app: ${name}}}\n` +
        `    spec:\n      containers:\n      - {name: main, image: 'registry.example/team/${name}:latest', ports: [{containerPort: 8080}]}\n` +
        `      - {name: sidecar, image: 'registry.example/team/proxy:latest'}\n`;
    }
    fs.writeFileSync(path.join(dir, `apps-${String(file).padStart(2, '0')}.yaml`), text);
  }
  const big = path.join(out, 'report-10k.html');
  check([dir], 'html', ['--out', big]);
  const bigReport = JSON.parse(check([dir], 'json'));
  const findings = bigReport.findings.length;
  fs.rmSync(dir, { recursive: true, force: true });
  assert.ok(findings >= 10000, `${findings} findings`);
  const { page, seen } = await browser();
  // The first load is cold (a fresh profile); then two reloads. loadEventEnd counts from the
  // start of the navigation to the end of the load event, after the script drew the table.
  const times = [];
  const walls = [];
  for (let run = 0; run < 3; run++) {
    const start = Date.now();
    if (run === 0) await page.goto(pathToFileURL(big).href, { waitUntil: 'load' });
    else await page.reload({ waitUntil: 'load' });
    walls.push(Date.now() - start);
    const nav = await page.evaluate(() => performance.getEntriesByType('navigation')[0].toJSON());
    times.push(nav.loadEventEnd);
  }
  assert.equal(Number(await text(page, '#total')), findings);
  assert.equal(await page.locator('#rows tr').count(), 50);
  await page.selectOption('select[name=action]', 'deny');
  assert.equal(Number(await text(page, '#shown')), bigReport.summary.deny);
  assert.deepEqual(seen.errors, []);
  const mb = (fs.statSync(big).size / (1024 * 1024)).toFixed(2);
  console.log(`# 10k report: ${findings} findings, ${mb} MiB; load event at ${times.map((t) => t.toFixed(0)).join(', ')} ms ` +
    `(cold, then two reloads; ${walls.join(', ')} ms as seen by the driver)`);
});
