// Smoke test of the installed desktop app (the .deb's binary), driven like the e2e suite by
// tauri-driver + WebKitWebDriver: a first start on an empty data directory, the demo, the
// dashboard's figures, and the About box's version. Run by scripts/package-test.sh:
//   node e2e/installed.mjs APP VERSION HOME
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { By, until } from "selenium-webdriver";
import { openApp } from "./driver.mjs";

const [app, version, home] = process.argv.slice(2);
if (!app || !version || !home) {
  console.error("usage: node e2e/installed.mjs APP VERSION HOME");
  process.exit(2);
}
const PORT = 4448;
const env = { ...process.env, HOME: home, XDG_DATA_HOME: path.join(home, ".local", "share") };
delete env.STEWARD_DB;
const { driver, driverProcess } = await openApp(app, env, PORT);
try {
  const found = (css) => driver.wait(until.elementLocated(By.css(css)), 30000);
  // An empty data directory opens on the first-start choice.
  await found("[data-testid=first-start]");
  await (await found("[data-testid=start-demo]")).click();
  const open = await found("[data-testid=open-findings-count]");
  await driver.wait(async () => /\d/.test(await open.getText()), 30000);
  await (await found("[data-testid=about]")).click();
  const shown = await (await found("[data-testid=about-version]")).getText();
  assert.equal(shown, version, "the About box gives the installed version and commit");
  if (process.env.SHOTS) {
    await driver.sleep(700);
    spawnSync("import", ["-window", "root", path.join(process.env.SHOTS, "about.png")]);
  }
  console.log(`installed window: first start, demo dashboard and About (${shown}) ok`);
} finally {
  await driver.quit().catch(() => {});
  driverProcess.kill("SIGTERM");
  // Anchored: this script's own command line names the app too.
  spawnSync("pkill", ["-TERM", "-f", `^${app}`]);
}
