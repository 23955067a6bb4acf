// Drives the web mail in Debian's chromium with playwright-core (which downloads no
// browser): Bob logs in, reads Alice's message and downloads its attachment, replies with
// an attachment, opens a hostile HTML message (no script may run, nothing remote may load),
// deletes it, files Alice's message in a folder, and a forged POST is refused.
// Environment: WEBMAIL_URL, WEBMAIL_USER, WEBMAIL_PASSWORD, SCREENSHOTS, CHROMIUM.
'use strict';
const { chromium } = require('playwright-core');
const fs = require('fs');
const path = require('path');

const base = process.env.WEBMAIL_URL;
const shots = process.env.SCREENSHOTS;

function check(condition, what) {
  if (!condition) throw new Error('check failed: ' + what);
  console.log('browser: ' + what);
}

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    // Background networking off: the machines' network is closed and a test reaches only
    // 127.0.0.0/8.
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--disable-quic',
      '--no-first-run', '--disable-background-networking', '--disable-component-update',
      '--disable-sync'],
    timeout: 60000,
  });
  try {
    const context = await browser.newContext({ acceptDownloads: true });
    context.setDefaultTimeout(20000);
    const page = await context.newPage();
    const alarms = [];
    page.on('dialog', (dialog) => { alarms.push('dialog ' + dialog.message()); dialog.dismiss(); });
    await page.exposeFunction('reportAlarm', (what) => alarms.push(what));
    await page.addInitScript(() => {
      window.addEventListener('message', (event) => window.reportAlarm('message ' + event.data));
    });
    const shot = (name) => page.screenshot({ path: path.join(shots, name), fullPage: true });

    // Not logged in: every page sends the browser to the login form.
    await page.goto(base + '/');
    check(page.url().endsWith('/login'), 'redirected to the login page');
    await page.fill('input[name=user]', process.env.WEBMAIL_USER);
    await page.fill('input[name=password]', 'wrong');
    await page.click('button[type=submit]');
    await page.waitForLoadState();
    const refusal = await page.textContent('.error');
    check(refusal.includes('Wrong'), 'a wrong password is refused (' + refusal + ')');
    await page.fill('input[name=user]', process.env.WEBMAIL_USER);
    await page.fill('input[name=password]', process.env.WEBMAIL_PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForURL(/\/folder\?f=INBOX/);
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === 'webmail_session');
    check(session && session.httpOnly && session.sameSite === 'Strict', 'session cookie HttpOnly, SameSite=Strict');
    await shot('1-inbox.png');
    check(await page.locator('a.subject', { hasText: 'Crepes tonight?' }).count() === 1, "Alice's message is listed");
    check(await page.locator('tr.unseen').count() === 2, 'both messages are unread');

    // Alice's message and its attachment.
    await page.click('a.subject:has-text("Crepes tonight?")');
    check((await page.textContent('#subject')) === 'Crepes tonight?', 'the message opens');
    check((await page.textContent('#body')).includes('shall we make crepes tonight?'), 'its text is shown');
    check((await page.textContent('td.from')).includes('alice@crepes.fr'), 'its sender is shown');
    await shot('2-message.png');
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.click('#attachments a'),
    ]);
    check(download.suggestedFilename() === 'recipe.txt', 'the attachment downloads as recipe.txt');
    const saved = await download.path();
    check(fs.readFileSync(saved, 'utf8') === 'flour, eggs, milk\n', 'the attachment has its content');

    // The reply, with an attachment, through the submission path.
    await page.click('#reply');
    check((await page.inputValue('input[name=subject]')) === 'Re: Crepes tonight?', 'the reply has Re: in its subject');
    check((await page.inputValue('input[name=to]')).includes('alice@crepes.fr'), 'the reply goes to Alice');
    const quoted = await page.inputValue('textarea[name=body]');
    check(quoted.includes('> shall we make crepes tonight?'), 'the reply quotes the message');
    await page.fill('textarea[name=body]', 'Yes, with chocolate!' + quoted);
    await page.setInputFiles('input[name=attachment]', {
      name: 'shopping.txt', mimeType: 'text/plain', buffer: Buffer.from('chocolate\n'),
    });
    await shot('3-reply.png');
    await page.click('#send');
    await page.waitForURL(/notice=sent/);
    check(true, 'the reply was sent');
    await shot('4-sent.png');

    // A forged POST (no CSRF token, or another site's Origin) is refused.
    const forged = await page.request.post(base + '/send', {
      form: { to: 'alice@crepes.fr', subject: 'forged', body: 'x' },
    });
    check(forged.status() === 403, 'a POST without the CSRF token is refused (' + forged.status() + ')');
    const inboxHtml = await page.content();
    const csrf = /name="csrf" value="([^"]+)"/.exec(inboxHtml)[1];
    const crossSite = await page.request.post(base + '/send', {
      form: { csrf, to: 'alice@crepes.fr', subject: 'forged', body: 'x' },
      headers: { Origin: 'http://evil.example' },
    });
    check(crossSite.status() === 403, "a POST from another site's Origin is refused (" + crossSite.status() + ')');

    // The hostile HTML message: shown, but no script runs and nothing remote loads.
    await page.goto(base + '/folder?f=INBOX');
    await page.click('a.subject:has-text("Look at this")');
    const frame = page.frameLocator('#body');
    check((await frame.locator('body').textContent()).includes('Hello from Mallory'), 'the HTML body is rendered');
    check(await frame.locator('script').count() === 0, 'the script element is gone');
    await page.waitForTimeout(1000);
    const link = frame.locator('a');
    if (await link.count() > 0) {
      await link.first().click({ timeout: 2000 }).catch(() => {});
      await page.waitForTimeout(500);
    }
    check(alarms.length === 0, 'no script ran (' + alarms.join(', ') + ')');
    check(!(await page.title()).includes('pwned'), 'the page title is untouched');
    await shot('5-hostile.png');
    await page.click('#delete');
    await page.waitForURL(/\/folder/);
    check(await page.locator('a.subject', { hasText: 'Look at this' }).count() === 0, 'the deleted message left the INBOX');
    await page.goto(base + '/folder?f=Trash');
    check(await page.locator('a.subject', { hasText: 'Look at this' }).count() === 1, 'it is in the Trash');

    // Alice's message (now read) filed in the Crepes folder.
    await page.goto(base + '/folder?f=INBOX');
    check(await page.locator('tr.seen').count() === 1, 'the message read is marked read');
    await page.click('a.subject:has-text("Crepes tonight?")');
    await page.selectOption('select[name=to]', 'Crepes');
    await page.click('button:has-text("Move")');
    await page.waitForURL(/\/folder/);
    await page.goto(base + '/folder?f=Crepes');
    check(await page.locator('a.subject', { hasText: 'Crepes tonight?' }).count() === 1, 'moved into Crepes');
    await page.goto(base + '/folder?f=Sent');
    check(await page.locator('a.subject', { hasText: 'Re: Crepes tonight?' }).count() === 1, 'the reply is in Sent');
    await shot('6-sent-folder.png');

    // Logging out ends the session.
    await page.goto(base + '/folder?f=INBOX');
    await page.click('button:has-text("Log out")');
    await page.goto(base + '/folder?f=INBOX');
    check(page.url().endsWith('/login'), 'after logging out the pages need a login again');
    console.log('browser: ok');
  } finally {
    await browser.close();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
