/**
 * Test helpers for the lab: an HTTP GET from inside a lab namespace (raw status and body,
 * so tests can compare the backend's exact JSON), and a bounded poll.
 */
import { createCommandRunner } from "../../../shared/exec/runner.js";

const runner = createCommandRunner();

/** What a GET from inside a namespace saw: status and body, or the error code. */
export interface NsResponse {
  status?: number;
  body?: string;
  error?: string;
}

// Runs in the namespace as `node -e`: one request, new connection, prints JSON.
const GET_SCRIPT = `
const http = require("node:http");
const req = http.get(process.argv[1], { agent: false, timeout: Number(process.argv[2]) }, (res) => {
  let body = "";
  res.setEncoding("utf8");
  res.on("data", (c) => (body += c));
  res.on("end", () => console.log(JSON.stringify({ status: res.statusCode, body })));
});
req.on("timeout", () => { console.log(JSON.stringify({ error: "timeout" })); req.destroy(); process.exit(0); });
req.on("error", (e) => { console.log(JSON.stringify({ error: e.code || e.message })); });
`;

export async function getInNs(ns: string, url: string, timeoutMs = 500): Promise<NsResponse> {
  const r = await runner.run(["ip", "netns", "exec", ns, process.execPath, "-e", GET_SCRIPT, url, String(timeoutMs)], { timeoutMs: timeoutMs + 10_000 });
  if (r.exitCode !== 0) return { error: `exit ${r.exitCode}: ${r.stderr}` };
  return JSON.parse(r.stdout.trim().split("\n").pop() ?? "{}") as NsResponse;
}

/** Runs argv (no shell); returns exit code and output. */
export async function run(argv: string[], timeoutMs = 30_000): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const r = await runner.run(argv, { timeoutMs });
  return { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr };
}

/** Polls until check() is true or the deadline passes; returns the last value of check(). */
export async function eventually(check: () => Promise<boolean> | boolean, timeoutMs: number, everyMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** The names in /run/netns (ip netns list). */
export async function namespaces(): Promise<string[]> {
  const r = await runner.run(["ip", "netns", "list"]);
  return r.stdout
    .split("\n")
    .map((l) => l.split(" ")[0])
    .filter((n) => n !== "");
}
