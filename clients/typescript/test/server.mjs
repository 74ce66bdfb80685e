// A real StemeDB server for the tests: this repository's build, on a free loopback port, with a
// fresh data directory and a root key of its own. Stopped when the test process exits.
import { spawn } from "node:child_process";
import { mkdtempSync, accessSync, constants } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { randomBytes } from "node:crypto";
import { createInterface } from "node:readline";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

export function stemedbBin() {
  const path = process.env.STEMEDB_BIN ?? join(root, "target", "debug", "stemedb");
  try { accessSync(path, constants.X_OK); } catch {
    throw new Error(`no stemedb binary at ${path}: build it (cargo build -p stemedb-cli) or set STEMEDB_BIN`);
  }
  return path;
}

export async function startServer() {
  const apiKey = "ts-" + randomBytes(24).toString("hex");
  const data = mkdtempSync(join(tmpdir(), "stemedb-ts-"));
  const child = spawn(stemedbBin(), ["serve", "--data-dir", join(data, "db"), "--bind", "127.0.0.1:0"], {
    env: { ...process.env, STEMEDB_ROOT_API_KEY: apiKey }, stdio: ["ignore", "pipe", "ignore"],
  });
  process.on("exit", () => child.kill());
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the server did not start")), 30_000);
    createInterface({ input: child.stdout }).on("line", (line) => {
      const prefix = "stemedb listening on ";
      if (line.startsWith(prefix)) { clearTimeout(timer); resolve(line.slice(prefix.length).trim()); }
    });
    child.on("exit", (code) => reject(new Error(`the server exited (${code})`)));
  });
  return { url, apiKey, stop: () => child.kill("SIGTERM") };
}
