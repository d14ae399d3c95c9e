// Runs one page in headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core) and
// prints what the page reports.
// usage: node browser_peer.js PAGE_URL
// The page sets window.result (any JSON value) when it is done; that value is printed as one JSON
// line, with the browser's console messages and failed requests, as {"result", "console", "failed"}.
"use strict";
const { chromium } = require("playwright-core");

const [pageUrl] = process.argv.slice(2);
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";

(async () => {
  const browser = await chromium.launch({ executablePath, headless: true, args: ["--no-sandbox"] });
  const consoleLines = [];
  const failed = [];
  try {
    const page = await browser.newPage();
    page.on("console", (message) => consoleLines.push(message.text()));
    page.on("requestfailed", (request) => failed.push(`${request.method()} ${request.url()}`));
    await page.goto(pageUrl);
    await page.waitForFunction(() => window.result !== undefined, null, { timeout: 20000 });
    const result = await page.evaluate(() => window.result);
    process.stdout.write(JSON.stringify({ result, console: consoleLines, failed }) + "\n");
  } finally {
    await browser.close();
  }
})().catch((err) => {
  process.stdout.write(JSON.stringify({ error: String(err && err.message ? err.message : err) }) + "\n");
  process.exit(1);
});
