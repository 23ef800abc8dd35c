/**
 * The cluster as the admin client sees it: `keepvip --json status` run inside
 * the coordinator's namespace (the control network is not reachable from the
 * root namespace, by design). Used by the demo and the end-to-end tests.
 */
import { spawn } from "node:child_process";
import type { StatusReply } from "../../shared/gen/keepvip/v1/admin.js";
import { ADDRESSES, hostNs } from "./topology.js";

export function adminStatus(prefix: string, timeoutMs = 5000): Promise<StatusReply | undefined> {
  return new Promise((resolve) => {
    const child = spawn(
      "ip",
      [
        "netns",
        "exec",
        hostNs(prefix, "coord"),
        process.execPath,
        "dist/cli/main.js",
        "--insecure",
        "--coordinator",
        `${ADDRESSES.ctl.coord}:7400`,
        "--timeout",
        String(Math.min(timeoutMs, 2000)),
        "--json",
        "status",
      ],
      { stdio: ["ignore", "pipe", "ignore"] },
    );
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      if (code !== 0) return resolve(undefined);
      try {
        resolve(JSON.parse(out) as StatusReply);
      } catch {
        resolve(undefined);
      }
    });
  });
}

/** Runs any `keepvip` admin command inside the coordinator's namespace. */
export function adminCli(prefix: string, args: string[], timeoutMs = 15_000): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      "ip",
      ["netns", "exec", hostNs(prefix, "coord"), process.execPath, "dist/cli/main.js", "--insecure", "--coordinator", `${ADDRESSES.ctl.coord}:7400`, ...args],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}
