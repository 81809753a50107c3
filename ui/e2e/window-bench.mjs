// The window benchmark: the optimized desktop app (the build `make run` opens), driven by
// tauri-driver + WebKitWebDriver like the e2e suite, on a small and a large database made by
// `steward demo`. For each it measures, inside the webview (performance.now(), the frame after
// the rows are in the DOM):
//   dashboard  the page's start to the dashboard's figures painted
//   inventory  a click on the Inventory tab to its first rows painted
//   keystroke  a key in the search box to the updated rows painted (median of 5)
// and prints the large figures beside the small ones. Run by scripts/bench-window.sh.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { By, until } from "selenium-webdriver";
import { openApp } from "./driver.mjs";

const root = path.resolve(import.meta.dirname, "..", "..");
const app = process.env.STEWARD_APP ?? path.join(root, "target", "release", "steward-desktop");
// Ports of their own (the e2e suite uses 4444 and its native driver 4445).
const PORT = 4446;
const [small, large] = process.argv.slice(2);
if (!small || !large) {
  console.error("usage: node e2e/window-bench.mjs SMALL.db LARGE.db");
  process.exit(2);
}

// Resolves with performance.now() in the frame after `selector` matches an element whose text
// passes `ready`.
const PAINTED = `
  const [selector, pattern, done] = arguments;
  const ready = () => {
    const el = document.querySelector(selector);
    return el && new RegExp(pattern).test(el.textContent);
  };
  const tick = () => (ready() ? requestAnimationFrame(() => done(performance.now())) : requestAnimationFrame(tick));
  tick();`;

async function measure(db) {
  const home = mkdtempSync(path.join(os.tmpdir(), "steward-bench-window-"));
  const env = { ...process.env, HOME: home, XDG_DATA_HOME: path.join(home, "data"), STEWARD_DB: db };
  const { driver, driverProcess } = await openApp(app, env, PORT);
  try {
    await driver.manage().setTimeouts({ script: 120000 });
    const dashboard = await driver.executeAsyncScript(PAINTED, "[data-testid=open-findings-count]", "\\d");

    const inventory = await driver.executeAsyncScript(
      `const done = arguments[0];
       const t0 = performance.now();
       document.querySelector("[data-testid=tab-inventory]").click();
       const tick = () => {
         const count = document.querySelector("[data-testid=result-count]");
         const rows = document.querySelectorAll("[data-testid=identity-row]").length;
         if (rows > 0 && count && /\\d/.test(count.textContent)) requestAnimationFrame(() => done(performance.now() - t0));
         else requestAnimationFrame(tick);
       };
       tick();`,
    );

    // Each key narrows the search: the time from its keydown to the rows of its query
    // painted (the table is busy while a query is out; the first request after the key is its
    // own, once the search box's pause has passed).
    const search = await driver.wait(until.elementLocated(By.css("[data-testid=search]")), 10000);
    const keystrokes = [];
    for (const key of ["s", "c", "h", "e", "d"]) {
      await driver.executeScript(
        `const input = arguments[0];
         const table = document.querySelector("[data-testid=inventory]");
         window.__busy = false;
         window.__observer?.disconnect();
         window.__observer = new MutationObserver(() => {
           if (table.getAttribute("aria-busy") === "true") window.__busy = true;
         });
         window.__observer.observe(table, { attributes: true, attributeFilter: ["aria-busy"] });
         input.addEventListener("keydown", () => (window.__t0 = performance.now()), { once: true });`,
        search,
      );
      await search.sendKeys(key);
      const ms = await driver.executeAsyncScript(
        `const done = arguments[0];
         const table = document.querySelector("[data-testid=inventory]");
         const tick = () => {
           if (window.__busy && table.getAttribute("aria-busy") === "false") requestAnimationFrame(() => done(performance.now() - window.__t0));
           else requestAnimationFrame(tick);
         };
         tick();`,
      );
      keystrokes.push(ms);
    }
    keystrokes.sort((a, b) => a - b);
    const count = await driver.findElement(By.css("[data-testid=result-count]")).getText();
    return { dashboard, inventory, keystroke: keystrokes[2], found: count };
  } finally {
    await driver.quit().catch(() => {});
    driverProcess.kill("SIGTERM");
    await new Promise((r) => driverProcess.once("exit", r));
    spawnSync("pkill", ["-TERM", "-f", app]);
    rmSync(home, { recursive: true, force: true, maxRetries: 20, retryDelay: 250 });
  }
}

// Each figure is the median of RUNS launches, the two databases taking turns: one launch on a
// shared machine varies by a few tenths of a second.
const RUNS = Number(process.env.RUNS ?? 3);
const median = (xs) => xs.sort((p, q) => p - q)[Math.floor(xs.length / 2)];
const runs = { small: [], large: [] };
for (let i = 0; i < RUNS; i++) {
  runs.small.push(await measure(small));
  runs.large.push(await measure(large));
}
const summary = (list) => ({
  dashboard: median(list.map((m) => m.dashboard)),
  inventory: median(list.map((m) => m.inventory)),
  keystroke: median(list.map((m) => m.keystroke)),
  found: list[0].found,
});
const a = summary(runs.small);
const b = summary(runs.large);
const row = (name, x, y) =>
  console.log(`${name.padEnd(10)} ${(x / 1000).toFixed(3).padStart(8)} s ${(y / 1000).toFixed(3).padStart(8)} s   ${(y / x).toFixed(2)}x`);
console.log(`window: ${path.basename(small)} vs ${path.basename(large)} (optimized build, median of ${RUNS} launches)`);
console.log(`${"".padEnd(10)} ${"small".padStart(10)} ${"large".padStart(10)}   large/small`);
row("dashboard", a.dashboard, b.dashboard);
row("inventory", a.inventory, b.inventory);
row("keystroke", a.keystroke, b.keystroke);
console.log(`(search "sched": ${a.found} / ${b.found})`);
console.log(`targets: large/small <= 2x each; dashboard at large < 1 s (${b.dashboard < 1000 ? "met" : "NOT met"})`);
