// Drives the real Socket.IO Admin UI (@socket.io/admin-ui's built ui/dist) in headless Chromium
// (Debian's /usr/bin/chromium, driven by playwright-core) for tests/integration/test_admin_ui_browser.py.
// usage: node admin_ui_browser.js OPTIONS_JSON    with {"ui": URL of the UI page, "screenshots": DIR}
// Commands arrive as JSON lines on stdin ({"cmd": ..., ...}); each is answered by one JSON line,
// {"event": "done", "cmd", ...what it found} or {"event": "failed", "cmd", "error", "text", "console",
// "failed"} with the page's text, the browser's console and the failed requests for the report.
// Every wait is Playwright's (locators that wait, waitForFunction); COMMAND_TIMEOUT bounds each one.
"use strict";
const path = require("path");
const readline = require("readline");
const { chromium } = require("playwright-core");

const options = JSON.parse(process.argv[2]);
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const COMMAND_TIMEOUT = 10000; // ms; the test's own guard per answer is longer
const ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

const consoleLines = [];
const failedRequests = [];
let browser;
let page;

function out(event) {
  process.stdout.write(JSON.stringify(event) + "\n");
}

function exact(text) {
  return new RegExp("^\\s*" + text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&") + "\\s*$", "i");
}

// The text of the element as written in the DOM (Vuetify's chips upper-case theirs with CSS,
// which innerText would apply), whitespace collapsed.
async function textOf(locator) {
  return (await locator.evaluate((el) => el.textContent)).replace(/\s+/g, " ").trim();
}

async function cells(row) {
  const result = [];
  for (const cell of await row.locator("> td").all()) result.push(await textOf(cell));
  return result;
}

async function rows(table) {
  const result = [];
  for (const row of await table.locator("tbody > tr").all()) result.push(await cells(row));
  return result;
}

// Open a top-level view with its link in the navigation drawer (hash routes: #/, #/sockets, ...).
async function view(title, hash) {
  await page.locator(".v-navigation-drawer a.v-list-item").filter({ hasText: exact(title) }).click();
  await page.waitForFunction((hash) => location.hash.replace(/\/$/, "") === hash, hash);
}

// The NamespaceSelector (a v-select) of the sockets and events views.
async function selectNamespace(nsp) {
  const selector = page.locator(".v-card .v-select").first();
  const current = await textOf(selector.locator(".v-select__selection"));
  if (current === nsp) return;
  await selector.locator(".v-select__slot").click();
  await page.locator(".menuable__content__active .v-list-item").filter({ hasText: exact(nsp) }).click();
  await selector.locator(".v-select__selection").filter({ hasText: exact(nsp) }).waitFor();
}

// The main data table of a view (the sockets, events and servers views have one each).
function mainTable() {
  return page.locator("main .v-data-table").first();
}

function rowWith(table, text) {
  return table.locator("tbody > tr").filter({ hasText: text });
}

const commands = {
  async login({ serverUrl, username, password, wsOnly, expectError }) {
    const dialog = page.locator(".v-dialog--active");
    await dialog.getByLabel("Server URL").fill(serverUrl);
    if (wsOnly) {
      await dialog.locator("label", { hasText: "Advanced options" }).click();
      await dialog.locator("label", { hasText: "WebSocket only?" }).click();
    }
    await dialog.getByLabel("Username").fill(username);
    await dialog.getByLabel("Password").fill(password);
    await dialog.getByRole("button", { name: "Connect" }).click();
    if (expectError) {
      const error = dialog.locator(".red--text");
      await error.waitFor();
      return { error: await textOf(error) };
    }
    await dialog.waitFor({ state: "detached" });
    // The app bar's status chip (ConnectionStatus) says "connected" once the admin socket is up.
    await page.locator("header .v-chip").filter({ visible: true, hasText: exact("connected") }).waitFor();
    return { storage: await page.evaluate(() => ({ ...localStorage })) };
  },

  // Pre-seed localStorage (what the UI reads at start: server_url, namespace, path, parser, ws_only,
  // session_id) and load the page again: the UI connects by itself, without the form.
  async reopen({ storage }) {
    await page.evaluate((storage) => {
      localStorage.clear();
      for (const [key, value] of Object.entries(storage)) localStorage.setItem(key, value);
    }, storage);
    await page.reload();
    await page.locator("header .v-chip").filter({ visible: true, hasText: exact("connected") }).waitFor();
    return { dialogs: await page.locator(".v-dialog--active").count(), header: await textOf(page.locator("header").first()) };
  },

  async servers({ serverId, clientsCount }) {
    await view("Servers", "#/servers");
    const row = rowWith(mainTable(), serverId);
    await row.locator(".v-chip").filter({ hasText: exact("Healthy") }).waitFor();
    // server_stats comes every 2 s: wait for the expected count rather than take the first one.
    await row.locator("td").nth(4).filter({ hasText: exact(String(clientsCount)) }).waitFor();
    const headers = [];
    for (const th of await mainTable().locator("thead th").all()) headers.push(await textOf(th));
    return { headers, rows: await rows(mainTable()) };
  },

  async sockets({ nsp, ids, transport }) {
    await view("Sockets", "#/sockets");
    await selectNamespace(nsp);
    const table = mainTable();
    for (const id of ids) {
      const row = rowWith(table, id);
      await row.waitFor();
      if (transport) await row.locator(".v-chip").filter({ hasText: exact(transport) }).waitFor();
    }
    return { rows: await rows(table) };
  },

  async socket({ nsp, id, rooms }) {
    await view("Sockets", "#/sockets");
    await selectNamespace(nsp);
    await rowWith(mainTable(), id).locator("td").first().click(); // the row opens the socket's page
    await page.waitForFunction((id) => location.hash.endsWith("/sockets/" + id), id);
    const roomsCard = page.locator(".v-card").filter({ has: page.locator(".v-card__title", { hasText: exact("Rooms") }) });
    const roomsTable = roomsCard.locator(".v-data-table");
    for (const room of rooms) await rowWith(roomsTable, exact(room)).waitFor();
    const details = page.locator(".v-card").filter({ has: page.locator(".v-card__title", { hasText: exact("Details") }) });
    const detailRows = {};
    for (const table of await details.locator(".v-data-table").all()) {
      for (const [key, value] of await rows(table)) detailRows[key] = detailRows[key] || value;
    }
    const socketTable = details.locator(".v-data-table").nth(1);
    const socketRows = {};
    for (const [key, value] of await rows(socketTable)) socketRows[key] = value;
    return {
      hash: await page.evaluate(() => location.hash),
      rooms: (await rows(roomsTable)).map((cells) => cells[0]),
      client: detailRows,
      socket: socketRows,
    };
  },

  async events({ nsp, id, eventName }) {
    await view("Events", "#/events");
    await selectNamespace(nsp);
    const table = mainTable();
    const row = rowWith(table, id).filter({ hasText: "Event received" }).filter({ has: page.locator("code", { hasText: exact(eventName) }) });
    await row.waitFor();
    await row.locator("button").click(); // expand: the event's arguments
    const expanded = table.locator("tr.v-data-table__expanded__content");
    await expanded.waitFor();
    return { row: await cells(row), args: await textOf(expanded) };
  },

  async disconnect({ nsp, id }) {
    await view("Sockets", "#/sockets");
    await selectNamespace(nsp);
    await rowWith(mainTable(), id).locator("button").click(); // "Disconnect this Socket instance"
    // The click reaches the row too, which opens the socket's page (the UI does that with Node as
    // well): back to the list, where the socket is gone once socket_disconnected arrives.
    await view("Sockets", "#/sockets");
    await selectNamespace(nsp);
    await rowWith(mainTable(), id).waitFor({ state: "detached" });
    return { rows: await rows(mainTable()) };
  },

  async disconnection({ nsp, id }) {
    await view("Events", "#/events");
    await selectNamespace(nsp);
    const row = rowWith(mainTable(), id).filter({ hasText: "Disconnection" });
    await row.waitFor();
    return { row: await cells(row) };
  },

  async dashboard() {
    await view("Dashboard", "#");
    const servers = page.locator(".v-card").filter({ has: page.locator(".v-card__title", { hasText: "Servers" }) });
    await servers.waitFor();
    return { text: await textOf(page.locator("main")) };
  },

  async screenshot({ name }) {
    const file = path.join(options.screenshots, name + ".png");
    await page.screenshot({ path: file, fullPage: true });
    return { path: file };
  },
};

// What the page showed when a command failed: its text, its location and a screenshot.
async function pageState(cmd) {
  const state = {};
  try {
    state.text = await page.locator("body").innerText({ timeout: 2000 });
    state.hash = await page.evaluate(() => location.hash);
    state.screenshot = path.join(options.screenshots, `failed-${cmd}.png`);
    await page.screenshot({ path: state.screenshot, fullPage: true, timeout: 5000 });
  } catch (err) {
    state.text = `${state.text || ""}\n(the page state is incomplete: ${err.message})`;
  }
  return state;
}

(async () => {
  browser = await chromium.launch({ executablePath, headless: true, args: ARGS });
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  // The UI's page links Google's fonts and the MDI icon font from CDNs: no network in the tests, so
  // anything not on the server under test fails at once (the icons are then blank squares).
  const origin = new URL(options.ui).origin;
  await context.route("**/*", (route) =>
    route.request().url().startsWith(origin) ? route.continue() : route.abort("blockedbyclient")
  );
  page = await context.newPage();
  page.setDefaultTimeout(COMMAND_TIMEOUT);
  page.on("console", (message) => consoleLines.push(`${message.type()}: ${message.text()}`));
  page.on("pageerror", (err) => consoleLines.push(`pageerror: ${err.message}`));
  page.on("requestfailed", (request) => {
    if (request.url().startsWith(origin)) failedRequests.push(`${request.method()} ${request.url()}`);
  });
  await page.goto(options.ui);
  await page.locator(".v-dialog--active").getByLabel("Server URL").waitFor(); // the connection form
  out({ event: "ready", title: await page.title() });

  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    const { cmd, ...args } = JSON.parse(line);
    if (cmd === "exit") break;
    try {
      out({ event: "done", cmd, ...(await commands[cmd](args)) });
    } catch (err) {
      const error = String(err && err.message ? err.message : err);
      out({ event: "failed", cmd, error, ...(await pageState(cmd)), console: consoleLines, failed: failedRequests });
    }
  }
  await browser.close();
})().catch(async (err) => {
  out({ event: "failed", cmd: "start", error: String(err && err.message ? err.message : err), console: consoleLines, failed: failedRequests });
  if (browser) await browser.close();
  process.exit(1);
});
