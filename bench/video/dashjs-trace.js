// Plays PAGE_URL (our player.html with dash.js 5, which uses its default ABR, DYNAMIC) in
// Debian's chromium while Chrome's own network emulation (DevTools Network
// .emulateNetworkConditions) follows TRACE (lines `SECONDS MBIT/S`, looped) with RTT_MS of
// latency; prints what the page measured as JSON, plus the throttle steps applied.
// Environment: PAGE_URL, TRACE, RTT_MS, CHROMIUM, TIMEOUT_MS; playwright-core via NODE_PATH.
'use strict';
const fs = require('fs');
const { chromium } = require('playwright-core');

function readTrace(path) {
  const samples = [];
  for (const line of fs.readFileSync(path, 'utf8').split('\n')) {
    const text = line.replace(/#.*/, '').trim();
    if (!text) continue;
    const [t, mbps] = text.split(/\s+/).map(Number);
    samples.push([t, mbps]);
  }
  return samples;
}

async function main() {
  const trace = readTrace(process.env.TRACE);
  const period = trace.length > 1 ? trace[trace.length - 1][0] + (trace[1][0] - trace[0][0]) : 1e9;
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--autoplay-policy=no-user-gesture-required'],
  });
  try {
    const page = await browser.newPage();
    const cdp = await page.context().newCDPSession(page);
    const latency = Number(process.env.RTT_MS || 80);
    const rateAt = (t) => {
      const local = t % period;
      let rate = trace[0][1];
      for (const [start, mbps] of trace) if (start <= local) rate = mbps;
      return rate;
    };
    const apply = async (mbps) => cdp.send('Network.emulateNetworkConditions', {
      offline: false, latency, downloadThroughput: mbps * 1e6 / 8, uploadThroughput: 10e6 / 8,
    });
    await apply(rateAt(0));
    const start = Date.now();
    let stop = false;
    const steps = [];
    (async () => {
      let last = null;
      while (!stop) {
        const t = (Date.now() - start) / 1000;
        const rate = rateAt(t);
        if (rate !== last) { await apply(rate).catch(() => {}); steps.push([t, rate]); last = rate; }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    await page.goto(process.env.PAGE_URL, { waitUntil: 'load', timeout: 60000 });
    await page.waitForFunction(() => window.qoe.ended || window.qoe.errors.length > 0, null,
      { timeout: Number(process.env.TIMEOUT_MS || 600000), polling: 500 }).catch(() => {});
    stop = true;
    const qoe = await page.evaluate(() => ({
      startup_ms: window.qoe.playing === null ? null : window.qoe.playing - window.qoe.start,
      stalls: window.qoe.stalls, stall_ms: window.qoe.stallMs, ended: window.qoe.ended,
      segments: window.qoe.segments, errors: window.qoe.errors,
    }));
    qoe.throttle_steps = steps.length;
    console.log(JSON.stringify(qoe));
  } finally {
    await browser.close();
  }
}

main().catch((error) => { console.error(error); process.exit(1); });
