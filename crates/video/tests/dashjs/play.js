// Plays an MPD with dash.js 5 in Debian's chromium (driven by playwright-core, which
// downloads no browser) and prints what the page measured as JSON: startup delay, stalls,
// whether it reached the end, and every video segment dash.js loaded.
// Environment: PAGE_URL, CHROMIUM, SCREENSHOT, TIMEOUT_MS. playwright-core via NODE_PATH.
'use strict';
const { chromium } = require('playwright-core');

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--autoplay-policy=no-user-gesture-required'],
    timeout: 60000,
  });
  try {
    const page = await browser.newPage();
    page.on('console', (message) => {
      if (message.type() === 'error') console.error('page: ' + message.text());
    });
    await page.goto(process.env.PAGE_URL, { waitUntil: 'load', timeout: 30000 });
    const supported = await page.evaluate(() =>
      MediaSource.isTypeSupported('video/mp4; codecs="avc1.4d401f"'));
    const limit = Number(process.env.TIMEOUT_MS || 60000);
    await page.waitForFunction(() => window.qoe.ended || window.qoe.errors.length > 0,
      null, { timeout: limit, polling: 200 }).catch(() => {});
    const qoe = await page.evaluate(() => ({
      startup_ms: window.qoe.playing === null ? null : window.qoe.playing - window.qoe.start,
      stalls: window.qoe.stalls,
      stall_ms: window.qoe.stallMs,
      ended: window.qoe.ended,
      current_time: document.getElementById('video').currentTime,
      duration: document.getElementById('video').duration,
      segments: window.qoe.segments,
      errors: window.qoe.errors,
    }));
    qoe.h264 = supported;
    if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT });
    console.log(JSON.stringify(qoe));
  } finally {
    await browser.close();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
