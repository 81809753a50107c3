// End-to-end test of the real desktop app: tauri-driver + WebKitWebDriver drive the real
// webview, on a temp database seeded by the real CLI. Run by `make e2e` under Xvfb.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, existsSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Builder, By, Key, until } from "selenium-webdriver";
import { waitForPort } from "./driver.mjs";

const root = path.resolve(import.meta.dirname, "..", "..");
const app = process.env.STEWARD_APP ?? path.join(root, "target", "debug", "steward-desktop");
const cli = process.env.STEWARD_CLI ?? path.join(root, "target", "debug", "steward");
const driverBin =
  process.env.TAURI_DRIVER ??
  path.join(process.env.CARGO_HOME ?? path.join(os.homedir(), ".cargo"), "bin", "tauri-driver");
const PORT = 4444;

let tmp;
let db;
let driverProcess;
let driver;
let authServer;
let issuer;

// axe-core, run inside the webview: every screen must have no serious or critical violation.
const axeSource = readFileSync(path.join(root, "ui", "node_modules", "axe-core", "axe.min.js"), "utf8");
async function accessible(screen) {
  // The page's CSP forbids eval: axe is loaded as a WebDriver script of its own.
  if (!(await driver.executeScript("return !!window.axe;"))) {
    await driver.executeScript(`${axeSource}\n;window.axe = axe;`);
  }
  const result = await driver.executeAsyncScript(
    "const done = arguments[arguments.length - 1];" +
      "window.axe.run(document, { resultTypes: ['violations'] })" +
      ".then((r) => done(r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')" +
      ".map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }))))" +
      ".catch((e) => done([{ id: 'axe-error', help: String(e) }]));",
  );
  assert.deepEqual(result, [], `${screen}: ${JSON.stringify(result, null, 1)}`);
}

// With SHOTS=DIR, the screen is captured there at the moments the docs show
// (`import -window root`, the display the app runs on).
async function shot(name) {
  if (!process.env.SHOTS) return;
  await driver.sleep(700); // the webview paints a moment after the DOM settles
  spawnSync("import", ["-window", "root", path.join(process.env.SHOTS, `${name}.png`)]);
}

// The tests' authorization server (oidc-provider on loopback, tests/authz).
async function startAuthServer() {
  const proc = spawn("node", [path.join(root, "tests", "authz", "server.mjs"), "--port", "0"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const line = await new Promise((resolve, reject) => {
    let buf = "";
    proc.stdout.on("data", (d) => {
      buf += d;
      if (buf.includes("\n")) resolve(buf.split("\n")[0]);
    });
    proc.once("exit", (code) => reject(new Error(`the authorization server exited (${code})`)));
  });
  return { proc, issuer: line.replace(/^listening /, "").trim() };
}

before(async () => {
  for (const [what, p] of [["app", app], ["cli", cli], ["tauri-driver", driverBin]]) {
    assert.ok(existsSync(p), `${what} not found at ${p}; run make build and make deps`);
  }
  tmp = mkdtempSync(path.join(os.tmpdir(), "steward-e2e-"));
  db = path.join(tmp, "steward.db");
  // Tests never touch the real data dir: HOME and XDG dirs point into the temp dir.
  const env = {
    ...process.env,
    HOME: tmp,
    XDG_DATA_HOME: path.join(tmp, "data"),
    XDG_CONFIG_HOME: path.join(tmp, "config"),
    STEWARD_DB: db,
  };
  const seeded = spawnSync(cli, ["--db", db, "demo", "--identities", "60"], { env, encoding: "utf8" });
  assert.equal(seeded.status, 0, `seeding failed: ${seeded.stderr}`);
  // Staging's authorization server, and a backend service registered there through Steward.
  ({ proc: authServer, issuer } = await startAuthServer());
  for (const args of [
    ["connect", "add", "--environment", "staging", "--issuer", issuer, "--fhir-base", `${issuer}/fhir`],
    ["identity", "add", "--client-id", "e2e-lab-feed", "--name", "Lab results feed", "--kind", "backend_service",
      "--environment", "staging", "--approved-scopes", "system/Patient.rs system/Observation.rs",
      "--auth-method", "client_secret_basic", "--purpose", "Sends lab results to the state registry.",
      "--technical-owner", "rosa.martins@stewardhealth.example"],
    ["register", "e2e-lab-feed"],
  ]) {
    const r = spawnSync(cli, ["--db", db, ...args], { env, encoding: "utf8" });
    assert.equal(r.status, 0, `steward ${args.join(" ")}: ${r.stderr}`);
  }

  // Its output is not inherited: a child that outlived the test would hold the runner open.
  driverProcess = spawn(driverBin, ["--port", String(PORT)], { env, stdio: "ignore" });
  await waitForPort(PORT, 20000);
  driver = await new Builder()
    .usingServer(`http://127.0.0.1:${PORT}/`)
    .withCapabilities({ browserName: "wry", "tauri:options": { application: app } })
    .build();
});

after(async () => {
  if (driver) await driver.quit().catch(() => {});
  // SIGTERM, not SIGKILL, so tauri-driver stops WebKitWebDriver too.
  if (driverProcess) {
    driverProcess.kill("SIGTERM");
    await new Promise((r) => driverProcess.once("exit", r));
  }
  if (authServer) authServer.kill("SIGTERM");
  // Whatever happened to the session, no copy of the app outlives the test: wait until the
  // app and the authorization server have exited before their files go.
  spawnSync("pkill", ["-TERM", "-f", app]);
  for (let i = 0; i < 50 && spawnSync("pgrep", ["-f", app]).status === 0; i++) {
    await new Promise((r) => setTimeout(r, 200));
  }
  if (authServer && authServer.exitCode === null) await new Promise((r) => authServer.once("exit", r));
  // The webview may still be flushing its own data dir for a moment after quitting.
  if (tmp) rmSync(tmp, { recursive: true, force: true, maxRetries: 20, retryDelay: 250 });
});

// The webview re-renders while data arrives: conditions that touch a replaced element throw
// a stale-element error, which only means "not yet".
function settled(fn) {
  return async () => {
    try {
      return await fn();
    } catch {
      return false;
    }
  };
}

// Answers the native file dialog titled `title` as a person at the keyboard does: the
// location (Ctrl+L), the path, Enter. The dialog is GTK's own; xdotool types into it.
async function answerDialog(title, answer, { folder = false } = {}) {
  const find = () => spawnSync("xdotool", ["search", "--onlyvisible", "--name", title], { encoding: "utf8" }).stdout.trim().split("\n")[0];
  let win = "";
  for (let i = 0; i < 150 && !win; i++) {
    win = find();
    if (!win) await driver.sleep(100);
  }
  assert.ok(win, `the dialog "${title}" opened`);
  // A dialog that is mapped may not take keys yet: a person would type again, and so do we.
  for (let attempt = 0; attempt < 3; attempt++) {
    spawnSync("xdotool", ["windowfocus", "--sync", win]);
    await driver.sleep(700);
    spawnSync("xdotool", ["key", "--clearmodifiers", "ctrl+l"]);
    await driver.sleep(200);
    // A save dialog selects the suggested name without its extension: replace all of it.
    spawnSync("xdotool", ["key", "--clearmodifiers", "ctrl+a"]);
    spawnSync("xdotool", ["type", "--delay", "2", answer]);
    await driver.sleep(300);
    // GTK completes a folder's name inline; Delete drops what it added. A folder is chosen
    // with the dialog's Open button (Alt+O): Enter would open it instead.
    spawnSync("xdotool", ["key", "Delete"]);
    spawnSync("xdotool", ["key", "--clearmodifiers", folder ? "alt+o" : "Return"]);
    // Answered, the dialog's window is destroyed (a window being re-mapped is not).
    for (let i = 0; i < 40; i++) {
      if (spawnSync("xdotool", ["getwindowname", win]).status !== 0) return;
      await driver.sleep(100);
    }
  }
  await shot(`dialog-stuck-${title.split(" ")[0]}`);
  assert.fail(`the dialog "${title}" did not close`);
}

// Calls a desktop command the way the window does; a rejection comes back as `{ error }`.
async function invoke(command, args = {}) {
  return driver.executeAsyncScript(
    "const done = arguments[arguments.length - 1];" +
      "window.__TAURI_INTERNALS__.invoke(arguments[0], arguments[1])" +
      ".then((r) => done(r), (e) => done({ error: e }));",
    command,
    args,
  );
}

async function clickFresh(css, index = 0) {
  await driver.wait(
    settled(async () => {
      const found = await driver.findElements(By.css(css));
      if (found.length <= index) return false;
      await found[index].click();
      return true;
    }),
    10000,
    `click ${css}`,
  );
}

// Activates a control from the keyboard: it takes the focus (as Tab would bring it there) and
// Enter presses it. A control only a mouse can use fails here.
async function press(css) {
  await driver.wait(
    settled(async () => {
      const el = await driver.findElement(By.css(css));
      const focused = await driver.executeScript(
        "arguments[0].scrollIntoView({ block: 'center' }); arguments[0].focus(); return document.activeElement === arguments[0];",
        el,
      );
      if (!focused) return false;
      await driver.actions().sendKeys(Key.ENTER).perform();
      return true;
    }),
    10000,
    `press ${css}`,
  );
}

async function rows() {
  return driver.findElements(By.css("[data-testid=identity-row]"));
}

async function countText() {
  return driver.findElement(By.css("[data-testid=result-count]")).getText();
}

test("the dashboard is the home screen", async () => {
  const open = await driver.wait(until.elementLocated(By.css("[data-testid=open-findings-count]")), 30000);
  await accessible("dashboard");
  await shot("dashboard");
  const text = await open.getText();
  assert.ok(Number(text) > 0, `the seeded demo has open findings: '${text}'`);
  const pct = await driver.wait(until.elementLocated(By.css("[data-testid=traced-percent]")), 10000);
  assert.match(await pct.getText(), /^\d+\.\d %$/, "the traceability headline");
  const charts = await driver.findElements(By.css("[data-testid=dashboard] canvas"));
  assert.equal(charts.length, 5, "five charts are drawn, traceability first");
});

test("the About box gives the version, its commit and the database, from the keyboard", async () => {
  await press("[data-testid=about]");
  const version = await driver.wait(until.elementLocated(By.css("[data-testid=about-version]")), 10000);
  const cliVersion = spawnSync(cli, ["--version"], { encoding: "utf8" }).stdout.trim();
  assert.equal(`steward ${await version.getText()}`, cliVersion, "the window and the CLI name one build");
  const dialog = await driver.findElement(By.css("[data-testid=about-dialog]"));
  assert.match(await dialog.getText(), new RegExp(path.basename(db).replace(".", "\\.")), "the database it works on");
  await accessible("about");
  await driver.actions().sendKeys(Key.ESCAPE).perform();
  await driver.wait(async () => (await driver.findElements(By.css("[data-testid=about-dialog]"))).length === 0, 5000);
  const focused = await driver.executeScript("return document.activeElement?.dataset?.testid ?? null;");
  assert.equal(focused, "about", "the focus goes back to the About button");
});

test("the findings view lists findings and filters by severity", async () => {
  await clickFresh("[data-testid=tab-findings]");
  await driver.wait(until.elementsLocated(By.css("[data-testid=finding-row]")), 10000);
  await accessible("findings");
  await shot("findings");
  const count = async () => driver.findElement(By.css("[data-testid=findings-count]")).getText();
  const before = await count();
  await clickFresh("[data-testid=filter-severity] option[value=critical]");
  await driver.wait(settled(async () => (await count()) !== before), 10000, "the severity filter applies");
  // Read the whole list in one step, so a re-render cannot leave a stale element behind.
  const severities = await driver.executeScript(
    "return [...document.querySelectorAll('[data-testid=finding-row] .sev')].map((e) => e.textContent.trim().toLowerCase())",
  );
  assert.ok(severities.length > 0);
  assert.ok(severities.every((x) => x === "critical"), severities.join(","));
});

test("a template is edited in the UI and the edit is audited", async () => {
  await clickFresh("[data-testid=tab-templates]");
  await driver.wait(until.elementsLocated(By.css("[data-testid=template]")), 10000);
  await accessible("templates");
  await clickFresh("[data-testid=template] button");
  const scopes = await driver.wait(until.elementLocated(By.css("[data-testid=template-scopes]")), 5000);
  await scopes.clear();
  await driver.executeScript(
    "const t = arguments[0]; t.value = 'openid system/Observation.rs'; t.dispatchEvent(new Event('input', {bubbles: true}));",
    scopes,
  );
  await clickFresh("[data-testid=template] .template-form button");
  await driver.wait(
    settled(async () => (await driver.findElements(By.css("[data-testid=template-scopes]"))).length === 0),
    5000,
    "the form closes after saving",
  );
  const log = spawnSync(cli, ["--db", db, "--json", "audit", "log", "--limit", "1"], { encoding: "utf8" });
  const [entry] = JSON.parse(log.stdout);
  assert.equal(entry.action, "template.edit");
  assert.deepEqual(entry.details.changes.max_scopes.to, ["openid", "system/Observation.rs"]);

  // A new template, then deleted (no identity uses it).
  const before = (await driver.findElements(By.css("[data-testid=template]"))).length;
  await driver.findElement(By.css("[data-testid=template-new-key]")).sendKeys("e2e-courier");
  await driver.findElement(By.css("[data-testid=template-new-name]")).sendKeys("Courier");
  await clickFresh("[data-testid=template-create]");
  await driver.wait(
    settled(async () => (await driver.findElements(By.css("[data-testid=template]"))).length === before + 1),
    10000,
    "the new template is listed",
  );
  await clickFresh("[data-testid=template] .template-form button.link");
  const all = await driver.findElements(By.css("[data-testid=template]"));
  let deleted = false;
  for (const t of all) {
    if (/e2e-courier/.test(await t.getText())) {
      await t.findElement(By.css("[data-testid=template-delete]")).click();
      deleted = true;
      break;
    }
  }
  assert.ok(deleted, "the new template has a Delete button");
  await driver.wait(
    settled(async () => (await driver.findElements(By.css("[data-testid=template]"))).length === before),
    10000,
    "the template is gone",
  );
});

test("the window exports a signed evidence package that verifies", async () => {
  await clickFresh("[data-testid=export-evidence]");
  const form = await driver.wait(until.elementLocated(By.css("[data-testid=export-form]")), 10000);
  await accessible("export");
  // The form takes the focus, and gives it back when it closes.
  const focused = await driver.switchTo().activeElement();
  assert.equal(await focused.getAttribute("data-testid"), "export-since");
  await driver.actions().sendKeys(Key.ESCAPE).perform();
  await driver.wait(settled(async () => (await driver.findElements(By.css("[data-testid=export-form]"))).length === 0), 5000);
  assert.equal(await (await driver.switchTo().activeElement()).getAttribute("data-testid"), "export-evidence");
  await clickFresh("[data-testid=export-evidence]");
  await driver.wait(until.elementLocated(By.css("[data-testid=export-form]")), 10000);
  await press("[data-testid=export-submit]");
  const out = path.join(tmp, "evidence");
  await answerDialog("Export signed evidence package", out);
  // The export ends in its notice or an error: a failure says which, and what the form showed.
  await driver
    .wait(async () => (await driver.findElements(By.css("[data-testid=export-done], [data-testid=export-error]"))).length > 0, 60000)
    .catch(async () => assert.fail(`the export did not finish: ${await driver.findElement(By.css("[data-testid=export-form]")).then((f) => f.getText()).catch(() => "(no form)")}`));
  const failed = await driver.findElements(By.css("[data-testid=export-error]"));
  if (failed.length) assert.fail(`the export failed: ${await failed[0].getText()}`);
  const done = await driver.findElement(By.css("[data-testid=export-done]"));
  assert.match(await done.getText(), /Signed package written/);
  await done.findElement(By.css("button.close")).click();
  assert.equal(form !== null, true);
  const verified = spawnSync(cli, ["--db", db, "evidence", "verify", out], { encoding: "utf8" });
  assert.equal(verified.status, 0, verified.stderr);
  // Where the key is: a database named by STEWARD_DB keeps it in a file, never the keychain.
  const key = await invoke("evidence_key_show");
  assert.ok(!key.error, JSON.stringify(key.error));
  assert.equal(key.storage, "file");
  // A path that no dialog answered is refused: a script in the window cannot pick files.
  const forged = await invoke("evidence_export", { out: path.join(tmp, "forged"), filter: {} });
  assert.equal(forged.error?.code, "invalid", JSON.stringify(forged));
  assert.match(forged.error.message, /not chosen in a file dialog/);
  assert.ok(!existsSync(path.join(tmp, "forged")));
});

test("the window shows the seeded inventory", async () => {
  await clickFresh("[data-testid=tab-inventory]");
  await driver.wait(until.elementsLocated(By.css("[data-testid=identity-row]")), 30000);
  await driver.wait(settled(async () => (await countText()) === "61 identities"), 10000, "the 60 seeded and the one registered");
  await accessible("inventory");
  await shot("inventory");
  assert.equal((await rows()).length, 61, "all 61 identities are listed");
  const tiers = await driver.findElements(By.css("[data-testid=risk-tier]"));
  assert.equal(tiers.length, 61, "every row shows its risk tier");
  for (const t of tiers.slice(0, 5)) assert.match(await t.getText(), /^(low|medium|high)$/i);
  const chain = await driver.findElement(By.css("[data-testid=chain-status]")).getText();
  assert.match(chain, /Audit chain intact/);
});

test("filtering by environment shows only that environment", async () => {
  await clickFresh("[data-testid=filter-environment] option[value=production]");
  await driver.wait(settled(async () => (await countText()) !== "61 identities"), 10000, "the filter applies");
  const envs = await driver.executeScript(
    "return [...document.querySelectorAll('[data-testid=identity-row]')].map((r) => r.dataset.environment)",
  );
  assert.ok(envs.length > 0 && envs.length < 60, `some but not all rows: ${envs.length}`);
  assert.ok(envs.every((e) => e === "production"), envs.join(","));
});

test("searching narrows the list", async () => {
  const search = await driver.findElement(By.css("[data-testid=search]"));
  await search.sendKeys("Sepsis");
  await driver.wait(
    settled(async () => {
      const shown = await rows();
      if (shown.length === 0) return false;
      for (const r of shown) if (!(await r.getText()).includes("Sepsis")) return false;
      return true;
    }),
    10000,
    "only Sepsis rows remain",
  );
  await search.clear();
  await driver.executeScript(
    "const s = arguments[0]; s.value = ''; s.dispatchEvent(new Event('input', {bubbles: true}));",
    search,
  );
});

test("opening an identity shows its detail", async () => {
  // The list re-renders while the cleared search settles: retry on a fresh element.
  let name = "";
  await driver.wait(async () => {
    try {
      const cell = await driver.findElement(By.css("[data-testid=identity-row] td.name div"));
      name = (await cell.getText()).trim();
      await cell.click();
      return true;
    } catch {
      return false;
    }
  }, 10000, "a row can be opened");
  const heading = await driver.wait(until.elementLocated(By.css("[data-testid=detail-name]")), 10000);
  await driver.wait(settled(async () => (await heading.getText()) === name), 10000, `detail of ${name}`);
  const risk = await driver.wait(until.elementLocated(By.css("[data-testid=risk]")), 10000);
  assert.match(await risk.getText(), /risk/i);
  const granted = await driver.findElements(By.css("[data-testid=granted-scope]"));
  assert.ok(granted.length > 0, "granted scopes are listed with their explanations");
  assert.match(await granted[0].getText(), /\./, "each scope carries a sentence");
  const usage = await driver.wait(until.elementLocated(By.css("[data-testid=usage-panel]")), 10000);
  assert.match(await usage.getText(), /usage/i);
  const history = await driver.wait(until.elementLocated(By.css("[data-testid=history] li")), 10000);
  await accessible("identity detail");
  await shot("identity-detail");
  assert.match(await history.getText(), /identity\.create/);
  await clickFresh("[data-testid=detail-close]");
  await driver.wait(
    settled(async () => (await driver.findElements(By.css("[data-testid=identity-detail]"))).length === 0),
    5000,
  );
});

const ROSA = "rosa.martins@stewardhealth.example";

function cliJson(args) {
  const r = spawnSync(cli, ["--db", db, "--json", ...args], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

test("a reviewer works through the demo campaign in the wizard, by keyboard", async () => {
  await clickFresh("[data-testid=tab-reviews]");
  await driver.wait(until.elementLocated(By.css("[data-testid=campaign-charts] canvas")), 10000);
  // Who reviews is the OS account's person, never picked: the seeded demo leaves the OS
  // account unbound, so the queue's place holds the Bind panel until it is bound once.
  const signedIn = async () => driver.findElement(By.css("[data-testid=signed-in]")).getText();
  assert.match(await signedIn(), /is not bound to a person/);
  const panel = await driver.wait(until.elementLocated(By.css("[data-testid=bind-panel]")), 10000);
  assert.match(await panel.getText(), /This OS account \(.+\) is not bound to a person/);
  assert.equal((await driver.findElements(By.css("[data-testid=reviewer-select]"))).length, 0, "no reviewer picker");
  await clickFresh(`[data-testid=bind-person] option[value="${ROSA}"]`);
  await clickFresh("[data-testid=bind]");
  await driver.wait(settled(async () => /^Signed in as Rosa/.test(await signedIn())), 10000, "the top bar signs Rosa in");
  assert.equal(await driver.findElement(By.css("[data-testid=signed-in]")).getAttribute("title").then((t) => t.split(" ")[0]), ROSA);
  await driver.wait(until.elementLocated(By.css("[data-testid=start-review]")), 10000);
  await accessible("reviews");
  assert.equal((await driver.findElements(By.css("[data-testid=bind-panel]"))).length, 0, "the panel gives way to the queue");
  const who = await invoke("whoami");
  assert.equal(who.person?.email, ROSA, JSON.stringify(who));
  const queued = (await driver.findElements(By.css("[data-testid=queue-row]"))).length;
  assert.ok(queued > 0, "Rosa has items waiting");

  // A clean run through one identity: one click to start, Enter through four steps, a
  // comment, Ctrl+Enter. Count every action the reviewer takes.
  let actions = 0;
  await clickFresh("[data-testid=start-review]");
  actions += 1;
  await driver.wait(until.elementLocated(By.css("[data-testid=step-1]")), 10000);
  const first = await driver.findElement(By.css(".wizard-head h2")).getText();
  await accessible("review wizard");
  for (let step = 2; step <= 5; step++) {
    await driver.actions().sendKeys(Key.ENTER).perform();
    actions += 1;
    await driver.wait(until.elementLocated(By.css(`[data-testid=step-${step}]`)), 5000, `step ${step}`);
    if (step === 3) await shot("review-wizard");
  }
  const comment = await driver.wait(until.elementLocated(By.css("[data-testid=comment]")), 5000);
  await driver.wait(settled(async () => (await driver.switchTo().activeElement().getAttribute("data-testid")) === "comment"), 5000, "the comment box has focus");
  await driver.actions().sendKeys("Purpose and scopes confirmed.").perform();
  actions += 1;
  await driver.actions().keyDown(Key.CONTROL).sendKeys(Key.ENTER).keyUp(Key.CONTROL).perform();
  actions += 1;
  assert.ok(comment);
  // The next item opens on its own.
  await driver.wait(
    settled(async () => (await driver.findElement(By.css(".wizard-head h2")).getText()) !== first),
    10000,
    "the next item opens",
  );
  assert.ok(actions <= 7, `a clean identity takes ${actions} actions`);
  console.log(`# wizard: a clean identity took ${actions} reviewer actions (1 click, 5 keys, 1 comment)`);

  const decided = cliJson(["review", "items", "--reviewer", ROSA, "--state", "decided"]);
  const mine = decided.find((i) => i.name === first);
  assert.ok(mine, `the decision on ${first} is stored`);
  assert.ok(["certify", "reduce"].includes(mine.decision), mine.decision);
  const log = cliJson(["audit", "log", "--subject", `review_item:${mine.id}`]);
  assert.ok(log.some((e) => e.action === "review.decide" && e.details.reviewer === ROSA), "the decision is audited");
});

test("the wizard keeps a draft when the reviewer leaves mid-way", async () => {
  await driver.wait(until.elementLocated(By.css("[data-testid=step-1]")), 10000);
  const name = await driver.findElement(By.css(".wizard-head h2")).getText();
  await driver.actions().sendKeys(Key.ENTER).perform();
  await driver.actions().sendKeys(Key.ENTER).perform();
  await driver.wait(until.elementLocated(By.css("[data-testid=scope-table]")), 5000);
  const boxes = await driver.findElements(By.css("[data-testid=remove-scope]"));
  assert.ok(boxes.length > 0);
  const before = await boxes[0].isSelected();
  await driver.executeScript("arguments[0].scrollIntoView(); arguments[0].click();", boxes[0]);
  await driver.sleep(600); // the draft is saved a moment after the last change
  await driver.actions().sendKeys(Key.ESCAPE).perform();
  await driver.wait(until.elementLocated(By.css("[data-testid=queue]")), 10000);
  const rowsNow = await driver.findElements(By.css("[data-testid=queue-row]"));
  let opened = false;
  for (const r of rowsNow) {
    if ((await r.getText()).includes(name)) {
      await driver.executeScript("arguments[0].click();", r);
      opened = true;
      break;
    }
  }
  assert.ok(opened, `${name} is still in the queue`);
  await driver.wait(until.elementLocated(By.css("[data-testid=scope-table]")), 10000, "reopens on the scopes step");
  const again = await driver.findElements(By.css("[data-testid=remove-scope]"));
  assert.equal(await again[0].isSelected(), !before, "the toggle survived");
  await driver.actions().sendKeys(Key.ESCAPE).perform();
});

test("the import screen brings in an audit log and the trace follows", async () => {
  await clickFresh("[data-testid=tab-import]");
  const button = await driver.wait(until.elementLocated(By.css("[data-testid=import-audit]")), 10000);
  await accessible("import");
  assert.match(await button.getText(), /Import audit log/);
  const before = cliJson(["trace"]).total_calls;
  const fixture = path.join(root, "tests", "fixtures", "auditevents", "balp-ex-auditBasicReadOServer.json");
  await clickFresh("[data-testid=import-environment] option[value=production]");
  await clickFresh("[data-testid=import-audit]");
  await answerDialog("FHIR AuditEvent log", fixture);
  const result = await driver.wait(until.elementLocated(By.css("[data-testid=import-result]")), 20000);
  await driver.wait(settled(async () => /1 API calls/.test(await result.getText())), 10000, "the import's summary");
  assert.match(await result.getText(), /SampleApp · 1 calls/, "an unknown client is surfaced");
  const after = cliJson(["trace"]);
  // What the window wrote after a file dialog is what the CLI reads: the dialog runs in a
  // process of its own, so listing the database's folder cannot cost the window its locks.
  assert.equal(after.total_calls, before + 1);
  await clickFresh("[data-testid=import-audit]");
  await answerDialog("FHIR AuditEvent log", fixture);
  await driver.wait(
    settled(async () => /imported before/.test(await driver.findElement(By.css("[data-testid=import-result]")).getText())),
    10000,
    "the same file is counted once",
  );
  assert.equal(cliJson(["trace"]).total_calls, before + 1);
});

test("an administrator checks a server for drift and drills an identity's revocation", async () => {
  await clickFresh("[data-testid=tab-connections]");
  const card = await driver.wait(until.elementLocated(By.css("[data-testid=connection-staging]")), 10000);
  assert.match(await card.getText(), new RegExp(issuer.replace(/[.]/g, "\\.")));
  assert.match(await card.getText(), /token\/revocation/);
  await clickFresh("[data-testid=drift-check-staging]");
  const none = await driver.wait(until.elementLocated(By.css("[data-testid=drift-none-staging]")), 20000);
  await accessible("servers");
  assert.match(await none.getText(), /1 client\(s\) read: the server matches the inventory/);
  await shot("servers");

  await clickFresh("[data-testid=tab-inventory]");
  const search = await driver.wait(until.elementLocated(By.css("[data-testid=search]")), 10000);
  await search.sendKeys("Lab results feed");
  await driver.wait(settled(async () => (await countText()) === "1 identity"), 10000, "the registered identity");
  await clickFresh("[data-testid=identity-row] td.name div");
  const none2 = await driver.wait(until.elementLocated(By.css("[data-testid=drill-none]")), 10000);
  assert.match(await none2.getText(), /Never drilled/);
  const button = await driver.findElement(By.css("[data-testid=drill-run]"));
  await driver.executeScript("arguments[0].scrollIntoView(); arguments[0].click();", button);
  const outcome = await driver.wait(until.elementLocated(By.css("[data-testid=drill-outcome]")), 40000);
  await driver.wait(settled(async () => /^Passed/.test(await outcome.getText())), 10000, "the drill passes").catch(async (e) => {
    // Say what the drill found: its outcome, error and steps, as the panel shows them.
    const panel = await driver.findElement(By.css("[data-testid=drill-panel]")).getText();
    throw new Error(`${e.message}: ${panel}`);
  });
  const steps = await driver.findElements(By.css("[data-testid=drill-panel] .timeline li"));
  assert.equal(steps.length, 6, "token, introspect, FHIR, revoke, introspect, FHIR");
  await accessible("identity detail with a drill");
  await driver.executeScript("document.querySelector('[data-testid=drill-panel]').scrollIntoView();");
  await shot("drill");
  // Registered, the identity took the client_id the server issued.
  const [registered] = cliJson(["identity", "list", "--search", "Lab results feed"]);
  assert.notEqual(registered.client_id, "e2e-lab-feed");
  const findings = cliJson(["findings", "--identity", String(registered.id)]);
  assert.ok(!findings.some((f) => f.rule === "revocation-untested"), "the passing drill counts");
  await clickFresh("[data-testid=detail-close]");
});

test("an owner attests an identity's purpose and scopes in the window", async () => {
  // Rosa (signed in by the review test) runs the lab feed day to day.
  await clickFresh("[data-testid=tab-mine]");
  const row = await driver.wait(until.elementLocated(By.css("[data-testid=mine-row]")), 10000);
  assert.match(await row.getText(), /Lab results feed/);
  await press("[data-testid=attest-open]");
  const purpose = await driver.wait(until.elementLocated(By.css("[data-testid=attest-purpose]")), 10000);
  await purpose.clear();
  await purpose.sendKeys("Sends finalized lab results to the state public-health registry.");
  const why = await driver.findElements(By.css("[data-testid=attest-why]"));
  assert.equal(why.length, 2, "one justification per approved scope");
  await accessible("my identities");
  for (const w of why) await w.sendKeys("The registry report needs the patient and the result.");
  await shot("my-identities");
  await why[why.length - 1].sendKeys(Key.ENTER);
  const saved = await driver.wait(until.elementLocated(By.css("[data-testid=attest-saved]")), 10000);
  assert.match(await saved.getText(), /2 justification/);
  const [lab] = cliJson(["identity", "list", "--search", "Lab results feed"]);
  const detail = cliJson(["identity", "show", String(lab.id)]);
  assert.equal(detail.purpose, "Sends finalized lab results to the state public-health registry.");
  assert.ok(detail.approvals.every((a) => a.justification), JSON.stringify(detail.approvals));
  assert.ok(detail.history.some((e) => e.action === "identity.attest"), "the attestation is audited");
});

test("an auditor verifies a good package and a tampered one, and signs a checkpoint", async () => {
  await clickFresh("[data-testid=tab-audit]");
  const chain = await driver.wait(until.elementLocated(By.css("[data-testid=chain-verified]")), 20000);
  assert.match(await chain.getText(), /Intact/);
  const rows = await driver.wait(until.elementsLocated(By.css("[data-testid=log-row]")), 10000);
  await accessible("audit");
  assert.ok(rows.length > 0);
  // Filter the log by action prefix.
  const action = await driver.findElement(By.css("[data-testid=log-action]"));
  await action.sendKeys("identity.drill");
  await clickFresh("[data-testid=log-apply]");
  await driver.wait(
    settled(async () => {
      const r = await driver.findElements(By.css("[data-testid=log-row]"));
      return r.length === 1 && /identity\.drill/.test(await r[0].getText());
    }),
    10000,
    "only the drill's entry",
  );

  const good = path.join(tmp, "evidence");
  assert.ok(existsSync(good), "the export test made a package");
  await press("[data-testid=verify-package]");
  await answerDialog("Evidence package to verify", good, { folder: true });
  const verdict = await driver.wait(until.elementLocated(By.css("[data-testid=verify-checks], [data-testid=verify-failure]")), 20000);
  assert.equal(await verdict.getAttribute("data-testid"), "verify-checks", await verdict.getText());
  const result = verdict;
  await driver.wait(settled(async () => /Verified/.test(await driver.findElement(By.css("[data-testid=verify-result]")).getText())), 10000, "the good package verifies");
  assert.equal((await result.findElements(By.css("li[data-passed=true]"))).length, 8, "every check passes");
  await shot("audit");
  const bad = path.join(tmp, "tampered");
  cpSync(good, bad, { recursive: true });
  const inv = path.join(bad, "data", "inventory.csv");
  writeFileSync(inv, readFileSync(inv, "utf8").replace(/,production,/, ",sandbox,"));
  await press("[data-testid=verify-package]");
  await answerDialog("Evidence package to verify", bad, { folder: true });
  const failed = await driver.wait(until.elementLocated(By.css("[data-testid=check-payload_checksums][data-passed=false]")), 20000);
  assert.match(await failed.getText(), /data\/inventory\.csv: changed/, "the failing check names the file");
  assert.equal((await driver.findElements(By.css("[data-testid=verify-checks] > li[data-passed=false]"))).length, 1, "only that check fails");
  await shot("audit-tampered");
  await accessible("audit with a failed verification");

  const before = cliJson(["audit", "log", "--action", "audit.checkpoint"]).length;
  await press("[data-testid=checkpoint-sign]");
  await driver.wait(
    settled(async () => cliJson(["audit", "log", "--action", "audit.checkpoint"]).length === before + 1),
    10000,
    "a checkpoint is signed and audited",
  );
});

test("an administrator adds an identity, marks its owner departed and sees the finding, and imports after a preview", async () => {
  await clickFresh("[data-testid=tab-inventory]");
  await press("[data-testid=add-identity-toggle]");
  const form = await driver.wait(until.elementLocated(By.css("[data-testid=add-identity]")), 10000);
  await form.findElement(By.css("[data-testid=add-client-id]")).sendKeys("e2e-fax-gateway");
  await form.findElement(By.css("[data-testid=add-name]")).sendKeys("Fax gateway");
  await clickFresh("[data-testid=add-environment] option[value=sandbox]");
  await form.findElement(By.css("[data-testid=add-business-owner]")).sendKeys("omar.silva@stewardhealth.example");
  await form.findElement(By.css("[data-testid=add-purpose]")).sendKeys("Sends referral documents by fax.");
  await form.findElement(By.css("[data-testid=add-approved]")).sendKeys("system/DocumentReference.rs");
  await shot("add-identity");
  await accessible("add an identity");
  await form.findElement(By.css("[data-testid=add-approved]")).sendKeys(Key.ENTER);
  const heading = await driver.wait(until.elementLocated(By.css("[data-testid=detail-name]")), 10000);
  await driver.wait(settled(async () => (await heading.getText()) === "Fax gateway"), 10000, "the new identity opens");
  // Edited by keyboard alone: the form takes the focus, Enter saves, the focus comes back.
  const edit = await driver.findElement(By.css("[data-testid=edit-open]"));
  await driver.executeScript("arguments[0].scrollIntoView(); arguments[0].focus();", edit);
  await driver.actions().sendKeys(Key.ENTER).perform();
  await driver.wait(until.elementLocated(By.css("[data-testid=edit-identity]")), 10000);
  assert.equal(await (await driver.switchTo().activeElement()).getAttribute("data-testid"), "add-name", "the form takes the focus");
  await accessible("edit an identity");
  await shot("edit-identity");
  await driver.actions().sendKeys(Key.TAB, Key.TAB).perform();
  assert.equal(await (await driver.switchTo().activeElement()).getAttribute("data-testid"), "add-vendor");
  await driver.actions().sendKeys("Fax Corp", Key.ENTER).perform();
  await driver.wait(settled(async () => (await driver.findElements(By.css("[data-testid=edit-identity]"))).length === 0), 10000, "saved");
  assert.equal(await (await driver.switchTo().activeElement()).getAttribute("data-testid"), "edit-open", "the focus comes back");
  const [fax] = cliJson(["identity", "list", "--search", "Fax gateway"]);
  const shown = cliJson(["identity", "show", String(fax.id)]);
  assert.equal(shown.vendor, "Fax Corp");
  assert.equal(shown.history[0].action, "identity.update");
  await clickFresh("[data-testid=detail-close]");

  await clickFresh("[data-testid=tab-people]");
  await press("[data-testid=person-row][data-email='omar.silva@stewardhealth.example'] [data-testid=person-depart]");
  const done = await driver.wait(until.elementLocated(By.css("[data-testid=people-done]")), 10000);
  assert.match(await done.getText(), /has left the organization/);
  await shot("people");
  // Who reviews what Ana owns, and the review policy, are kept here too.
  // Ana's row, clear of the table's sticky header.
  await driver.executeScript("document.querySelector(\"[data-testid=person-row][data-email='ana.lima@stewardhealth.example']\").scrollIntoView({ block: 'center' });");
  await clickFresh("[data-testid=person-row][data-email='ana.lima@stewardhealth.example'] [data-testid=person-reviewer] option[value='ben.okafor@stewardhealth.example']");
  await driver.wait(
    settled(async () => /reviewed by ben\.okafor/.test(await driver.findElement(By.css("[data-testid=people-done]")).getText())),
    10000,
    "the designation is saved",
  );
  const high = await driver.findElement(By.css("[data-testid=policy-high]"));
  await high.clear();
  await high.sendKeys("60");
  await clickFresh("[data-testid=policy-save]");
  await driver.wait(
    settled(async () => /policy is saved/.test(await driver.findElement(By.css("[data-testid=people-done]")).getText())),
    10000,
    "the policy is saved",
  );
  assert.equal(cliJson(["review", "policy"]).intervals.high_days, 60);
  await accessible("people");

  await clickFresh("[data-testid=tab-inventory]");
  const search = await driver.wait(until.elementLocated(By.css("[data-testid=search]")), 10000);
  await search.clear();
  await search.sendKeys("Fax gateway");
  await driver.wait(settled(async () => (await countText()) === "1 identity"), 10000, "the new identity");
  await clickFresh("[data-testid=identity-row] td.name div");
  const findings = await driver.wait(until.elementLocated(By.css("[data-testid=detail-findings]")), 10000);
  await driver.wait(settled(async () => /Owner has left/.test(await findings.getText())), 10000, "the owner-departed finding");
  await clickFresh("[data-testid=detail-close]");

  const csv = path.join(root, "tests", "fixtures", "csv", "inventory.csv");
  await clickFresh("[data-testid=tab-import]");
  await press("[data-testid=import-registrations]");
  await answerDialog("Registrations", csv);
  const preview = await driver.wait(until.elementLocated(By.css("[data-testid=registrations-preview]")), 20000);
  assert.match(await preview.getText(), /4 to create/);
  await accessible("registrations preview");
  assert.equal(cliJson(["identity", "list", "--search", "pophealth"]).length, 0, "a preview writes nothing");
  await press("[data-testid=registrations-apply]");
  const imported = await driver.wait(until.elementLocated(By.css("[data-testid=registrations-result]")), 20000);
  assert.match(await imported.getText(), /4 created/);
  assert.equal(cliJson(["identity", "list", "--search", "pophealth"]).length, 2);

  // A roster from HR: previewed, then imported.
  const roster = path.join(tmp, "roster.csv");
  writeFileSync(roster, "name,email,active\nZoe Quinn,zoe.quinn@stewardhealth.example,true\nBen Okafor,ben.okafor@stewardhealth.example,false\n");
  await clickFresh("[data-testid=tab-people]");
  await press("[data-testid=roster-import]");
  await answerDialog("Roster", roster);
  const rosterPreview = await driver.wait(until.elementLocated(By.css("[data-testid=roster-preview]")), 20000);
  assert.match(await rosterPreview.getText(), /1 to add \(zoe\.quinn@stewardhealth\.example\), 1 who have left \(ben\.okafor@stewardhealth\.example\)/);
  await press("[data-testid=roster-apply]");
  await driver.wait(settled(async () => (await driver.findElements(By.css("[data-testid=roster-preview]"))).length === 0), 10000);
  const people = cliJson(["person", "list"]);
  assert.ok(people.some((p) => p.email === "zoe.quinn@stewardhealth.example" && p.active));
  assert.ok(people.some((p) => p.email === "ben.okafor@stewardhealth.example" && !p.active));
});

test("a reviewer is told when items are escalated to them, and the top bar counts them", async () => {
  // A sandbox campaign due in two days, with Rosa as its fallback reviewer: the window's
  // scheduled escalation (three days before a deadline) moves its open items to her.
  const deadline = new Date(Date.now() + 2 * 86400000).toISOString().slice(0, 10);
  const r = spawnSync(cli, ["--db", db, "review", "campaign", "create", "--name", "Sandbox sweep", "--deadline", deadline,
    "--environment", "sandbox", "--fallback", ROSA], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  await clickFresh("[data-testid=tab-findings]");
  await clickFresh("[data-testid=tab-reviews]");
  const notice = await driver.wait(until.elementLocated(By.css("[data-testid=queue-notice]")), 20000);
  await driver.wait(settled(async () => /Escalated to you/.test(await notice.getAttribute("textContent"))), 20000, "the notice");
  const badge = await driver.wait(until.elementLocated(By.css("[data-testid=queue-badge]")), 10000);
  assert.match(await badge.getText(), /\d+ escalated/);
  const escalated = cliJson(["review", "items", "--reviewer", ROSA, "--state", "escalated"]);
  assert.ok(escalated.length > 0, "the items were escalated to Rosa");
  await shot("escalated");
  await accessible("reviews with an escalation");

  // The campaign's CSV report (the save dialog's command), then the campaign is closed here.
  const sweep = cliJson(["review", "campaign", "list"]).find((c) => c.name === "Sandbox sweep");
  const csv = path.join(tmp, "sweep.csv");
  await clickFresh("[data-testid=campaign-row]", cliJson(["review", "campaign", "list"]).findIndex((c) => c.id === sweep.id));
  await press("[data-testid=campaign-report]");
  await answerDialog("Campaign report", csv);
  await driver.wait(settled(() => existsSync(csv) && readFileSync(csv, "utf8").split("\n").length > 2), 10000, "the report is written");
  // Closing is refused while items are undecided, and the window says why.
  await clickFresh("[data-testid=campaign-close]");
  const refused = await driver.wait(until.elementLocated(By.css("[data-testid=campaign-error]")), 10000);
  assert.match(await refused.getText(), /undecided items/);
  assert.equal(cliJson(["review", "campaign", "list"]).find((c) => c.id === sweep.id).state, "open");
});

test("a new user's empty database opens on the first-start choice, and the demo is a database of its own", async () => {
  // A second window on an empty database: the driver is restarted with it.
  await driver.quit();
  driverProcess.kill("SIGTERM");
  await new Promise((r) => driverProcess.once("exit", r));
  spawnSync("pkill", ["-TERM", "-f", app]);
  const empty = path.join(tmp, "empty.db");
  const env = {
    ...process.env,
    HOME: tmp,
    XDG_DATA_HOME: path.join(tmp, "data"),
    XDG_CONFIG_HOME: path.join(tmp, "config"),
    STEWARD_DB: empty,
  };
  driverProcess = spawn(driverBin, ["--port", String(PORT)], { env, stdio: "ignore" });
  await waitForPort(PORT, 20000);
  driver = await new Builder()
    .usingServer(`http://127.0.0.1:${PORT}/`)
    .withCapabilities({ browserName: "wry", "tauri:options": { application: app } })
    .build();
  const first = await driver.wait(until.elementLocated(By.css("[data-testid=first-start]")), 30000);
  assert.match(await first.getText(), /This database is empty/);
  await shot("first-start");
  await accessible("first start");
  await clickFresh("[data-testid=start-demo]");
  await driver.wait(until.elementLocated(By.css("[data-testid=demo-label]")), 60000);
  await driver.wait(until.elementLocated(By.css("[data-testid=open-findings-count]")), 30000);
  // The user's own database stays empty; the demo went into a file of its own.
  const own = spawnSync(cli, ["--db", empty, "--json", "identity", "list"], { env, encoding: "utf8" });
  assert.equal(own.status, 0, own.stderr);
  assert.equal(JSON.parse(own.stdout).length, 0, "nothing was seeded into the real database");
  assert.ok(existsSync(path.join(tmp, "data", "steward", "steward-demo.db")), "the demo database");
});

test("where the keychain cannot be used, an export signs nothing until the person keeps the key in a file", async () => {
  // A window whose database asks for the keychain, with no session bus to reach one.
  await driver.quit();
  driverProcess.kill("SIGTERM");
  await new Promise((r) => driverProcess.once("exit", r));
  spawnSync("pkill", ["-TERM", "-f", app]);
  const keyless = path.join(tmp, "keyless.db");
  const env = {
    ...process.env,
    HOME: tmp,
    XDG_DATA_HOME: path.join(tmp, "data"),
    XDG_CONFIG_HOME: path.join(tmp, "config"),
    STEWARD_DB: keyless,
    STEWARD_KEY_STORE: "keychain",
    DBUS_SESSION_BUS_ADDRESS: `unix:path=${path.join(tmp, "no-bus")}`,
  };
  const seeded = spawnSync(cli, ["--db", keyless, "demo", "--identities", "20"], { env, encoding: "utf8" });
  assert.equal(seeded.status, 0, seeded.stderr);
  driverProcess = spawn(driverBin, ["--port", String(PORT)], { env, stdio: "ignore" });
  await waitForPort(PORT, 20000);
  driver = await new Builder()
    .usingServer(`http://127.0.0.1:${PORT}/`)
    .withCapabilities({ browserName: "wry", "tauri:options": { application: app } })
    .build();
  await driver.wait(until.elementLocated(By.css("[data-testid=open-findings-count]")), 30000);
  const out = path.join(tmp, "keyless-evidence");
  await clickFresh("[data-testid=export-evidence]");
  await driver.wait(until.elementLocated(By.css("[data-testid=export-form]")), 10000);
  await press("[data-testid=export-submit]");
  await answerDialog("Export signed evidence package", out);
  const error = await driver.wait(until.elementLocated(By.css("[data-testid=export-error]")), 60000);
  assert.match(await error.getText(), /keychain cannot keep this database's signing key/);
  assert.ok(!existsSync(`${keyless}.signing.key`), "no key was made in a file");
  assert.ok(!existsSync(out), "nothing was exported");
  await shot("export-keychain-unavailable");
  await accessible("export without a keychain");
  // The person chooses the file, with the keyboard, and exports again.
  await press("[data-testid=key-use-file]");
  const notice = await driver.wait(until.elementLocated(By.css("[data-testid=key-file-notice]")), 10000);
  assert.match(await notice.getText(), /kept in a 0600 file beside the database/);
  assert.ok(existsSync(`${keyless}.signing.key`), "the key is in the file chosen");
  await press("[data-testid=export-submit]");
  await answerDialog("Export signed evidence package", out);
  await driver.wait(until.elementLocated(By.css("[data-testid=export-done]")), 60000);
  const verified = spawnSync(cli, ["--db", keyless, "evidence", "verify", out], { env, encoding: "utf8" });
  assert.equal(verified.status, 0, verified.stderr);
});
