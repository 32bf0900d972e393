// Starts real cpmserve servers on free loopback ports for the HTTP tests.
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const binary = process.env.CPMSERVE_BIN;
if (!binary) throw new Error("CPMSERVE_BIN must point at build/cpmserve");

const workDir = mkdtempSync(join(tmpdir(), "cpmserve-http-"));
process.on("exit", () => rmSync(workDir, { recursive: true, force: true }));

// A tiny random checkpoint with a trained BPE tokenizer and ChatML template.
export const modelDir = join(workDir, "tiny");
execFileSync(binary, ["make-checkpoint", "--preset", "tiny", "--out", modelDir], { stdio: "ignore" });

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// The larger demo preset, for tests that need generation to take a while.
let demoDir = null;
export function demoModelDir() {
  if (!demoDir) {
    demoDir = join(workDir, "demo");
    execFileSync(binary, ["make-checkpoint", "--preset", "demo", "--out", demoDir], { stdio: "ignore" });
  }
  return demoDir;
}

export async function startServer(extraArgs = [], model = modelDir) {
  const port = await freePort();
  const child = spawn(binary, ["serve", "--model-path", model, "--host", "127.0.0.1", "--port", String(port),
                               "--threads", "1", "--kv-cache-memory", "64M", ...extraArgs],
                      { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  child.stderr.on("data", (chunk) => { log += chunk; });
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const response = await fetch(`${url}/health`);
      if (response.status === 200) break;
    } catch {}
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`server did not start:\n${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    child,
    exited,
    log: () => log,
    async stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      return exited;
    },
  };
}

export async function postJson(url, body, headers = {}) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let json = null;
  try { json = JSON.parse(text); } catch {}
  return { status: response.status, json, text, headers: response.headers };
}

// The data payloads of a server-sent event stream.
export function sseData(text) {
  return text.split("\n\n").map((event) => event.trim()).filter((e) => e.startsWith("data: ")).map((e) => e.slice(6));
}
