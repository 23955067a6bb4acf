// Loads a page and its objects over HTTPS in Debian's chromium (driven by playwright-core,
// which downloads no browser) and reports the protocol each resource came over, as the
// browser's Resource Timing says (nextHopProtocol: "h2" for HTTP/2).
// Environment: PAGE_URL, SCREENSHOT, CHROMIUM. playwright-core is found through NODE_PATH.
'use strict';
const { chromium } = require('playwright-core');

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--disable-quic',
      '--no-first-run', '--disable-background-networking', '--disable-component-update',
      '--disable-sync'],
    timeout: 60000,
  });
  try {
    // The test's CA is not in the browser's store: the certificate check is skipped here;
    // the curl and httpx tests check it.
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    const response = await page.goto(process.env.PAGE_URL, { waitUntil: 'load', timeout: 30000 });
    const report = await page.evaluate(() => ({
      page: performance.getEntriesByType('navigation')[0].nextHopProtocol,
      objects: performance.getEntriesByType('resource').map((r) => [r.name, r.nextHopProtocol]),
      images: Array.from(document.images).filter((i) => i.complete && i.naturalWidth >= 0).length,
    }));
    if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT });
    console.log('status ' + response.status());
    console.log('page ' + report.page);
    for (const [name, protocol] of report.objects) console.log('object ' + protocol + ' ' + name);
    console.log('browser: ok');
  } finally {
    await browser.close();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
