// Drives chromium through the dashboard: node dashboard.mjs <ui-url>
// <gateway-url> <screenshot.png> <user-data-dir>. Exits non-zero with a
// message when something the test expects does not show up.
import { chromium } from 'playwright-core';

const [ui, gw, shot, profile] = process.argv.slice(2);
const ctx = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
  viewport: { width: 1280, height: 1000 },
  bypassCSP: true, // waitForFunction evaluates strings; the page itself needs no eval
});
const fail = async (msg) => {
  console.error(msg);
  const page = ctx.pages()[0];
  if (page) await page.screenshot({ path: shot, fullPage: true }).catch(() => {});
  await ctx.close();
  process.exit(1);
};
try {
  const page = ctx.pages()[0] || await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(ui);
  await page.locator('#routes td', { hasText: '/httpbin/*' }).waitFor({ timeout: 5000 });
  await page.locator('#plugins td', { hasText: 'heimdall' }).first().waitFor({ timeout: 5000 });
  await page.locator('#conn', { hasText: 'live' }).waitFor({ timeout: 5000 });
  const before = Number((await page.textContent('#requests')).replace(/\D/g, '') || 0);
  for (let i = 0; i < 20; i++) {
    const r = await fetch(`${gw}/httpbin/${i % 4 === 3 ? 'status/404' : 'get?n=' + i}`);
    await r.arrayBuffer();
    await new Promise((ok) => setTimeout(ok, 100)); // spread over a few chart samples
  }
  await page.waitForFunction((want) => Number(document.getElementById('requests').textContent.replace(/\D/g, '')) >= want,
    before + 20, { timeout: 5000 });
  await page.locator('#log div', { hasText: '#request_header' }).first().waitFor({ timeout: 5000 });
  // Filtering by a path keeps only that request's lines.
  await page.fill('#f-text', 'get?n=18 ');
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll('#log div')];
    return rows.length > 0 && rows.every((r) => r.textContent.includes('get?n=18 '));
  }, null, { timeout: 5000 });
  await page.fill('#f-text', '');
  // Let the chart draw a few samples before the picture.
  await page.waitForTimeout(2500);
  if (errors.length) await fail('page errors: ' + errors.join('; '));
  await page.screenshot({ path: shot, fullPage: true });
  console.log('ok');
} catch (e) {
  await fail(String(e));
}
await ctx.close();
