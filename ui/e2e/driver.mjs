// Shared by the e2e suite and the window benchmark.
import { spawn } from "node:child_process";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { Builder } from "selenium-webdriver";

const driverBin =
  process.env.TAURI_DRIVER ??
  path.join(process.env.CARGO_HOME ?? path.join(os.homedir(), ".cargo"), "bin", "tauri-driver");

// Starts tauri-driver on `port` (its native driver on the next) with `env`, and a session of
// `app`. Returns both; the caller quits the session and kills the driver.
export async function openApp(app, env, port) {
  const driverProcess = spawn(driverBin, ["--port", String(port), "--native-port", String(port + 1)], { env, stdio: "ignore" });
  await waitForPort(port, 20000);
  const driver = await new Builder()
    .usingServer(`http://127.0.0.1:${port}/`)
    .withCapabilities({ browserName: "wry", "tauri:options": { application: app } })
    .build();
  return { driver, driverProcess };
}

// Resolves once something listens on 127.0.0.1:`port` (tauri-driver), or fails after `ms`.
export function waitForPort(port, ms) {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const socket = net.connect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.end();
        resolve();
      });
      socket.once("error", () => {
        socket.destroy();
        if (Date.now() > deadline) reject(new Error(`tauri-driver did not listen on ${port}`));
        else setTimeout(attempt, 200);
      });
    };
    attempt();
  });
}
