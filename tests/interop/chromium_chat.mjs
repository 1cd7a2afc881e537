// Headless Chromium (the system's /usr/bin/chromium, driven by playwright-core) on the chat
// example: two pages exchange messages both ways, then both close cleanly.
//
//   node chromium_chat.mjs http://127.0.0.1:PORT/
//
// Prints `PASS name` or `FAIL name: why` per check; exits 1 if any failed. Every wait has
// a timeout, and the browser is closed in all cases.

import { chromium } from 'playwright-core';

const url = process.argv[2];
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
let failures = 0;

function report(name, ok, why) {
  if (ok) console.log(`PASS ${name}`);
  else {
    failures++;
    console.log(`FAIL ${name}: ${why}`);
  }
}

async function check(name, fn) {
  try {
    const why = await fn();
    report(name, why === undefined || why === true, why);
  } catch (e) {
    report(name, false, e && e.message.split('\n')[0]);
  }
}

const hasLine = (page, text) =>
  page.waitForFunction(
    (t) => [...document.querySelectorAll('#log li')].some((li) => li.textContent.endsWith(t)),
    text,
    { timeout: 5000 },
  );

async function say(page, text) {
  await page.fill('#text', text);
  await page.click('#send');
}

async function leave(page) {
  await page.click('#leave');
  await page.waitForFunction(() => window.chat.closed !== null, null, { timeout: 5000 });
  const closed = await page.evaluate(() => window.chat.closed);
  if (closed.code !== 1000 || !closed.wasClean) return `onclose ${JSON.stringify(closed)}`;
}

// The user data directory is a fresh temporary one that playwright creates and removes.
const browser = await chromium.launch({
  executablePath,
  headless: true,
  timeout: 30000,
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});
try {
  const context = await browser.newContext();
  context.setDefaultTimeout(10000);
  const a = await context.newPage();
  const b = await context.newPage();

  await check('chromium chat page served by plain GET', async () => {
    const response = await a.goto(url);
    const type = response.headers()['content-type'] || '';
    if (response.status() !== 200 || !type.startsWith('text/html')) return `${response.status()} ${type}`;
    await b.goto(url);
  });

  await check('chromium both pages open the WebSocket (subprotocol chat)', async () => {
    for (const page of [a, b]) {
      await page.waitForFunction(() => window.chat && window.chat.ws.readyState === 1, null, { timeout: 10000 });
      const protocol = await page.evaluate(() => window.chat.ws.protocol);
      if (protocol !== 'chat') return `subprotocol '${protocol}'`;
    }
  });

  await check('chromium message from page A appears in page B', async () => {
    await say(a, 'hello from A 😀');
    await hasLine(b, 'hello from A 😀');
    await hasLine(a, 'hello from A 😀');
  });

  await check('chromium message from page B appears in page A', async () => {
    await say(b, 'hi from B, ünïcödé');
    await hasLine(a, 'hi from B, ünïcödé');
  });

  await check('chromium page A closes cleanly (1000, wasClean)', () => leave(a));
  await check('chromium page B sees A leave', async () => {
    const left = await b.waitForFunction(
      () => [...document.querySelectorAll('#log li')].some((li) => / left$/.test(li.textContent)),
      null,
      { timeout: 5000 },
    );
    await left.dispose();
  });
  await check('chromium page B closes cleanly (1000, wasClean)', () => leave(b));
} finally {
  await browser.close();
}
process.exit(failures ? 1 : 0);
