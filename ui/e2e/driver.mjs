// Shared by the e2e suite and the window benchmark.
import net from "node:net";

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
