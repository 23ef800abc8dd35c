/**
 * Is this stop a restart? `systemctl restart keepvip-agent` (an upgrade, a
 * config change that needs a restart) sends the same SIGTERM as `systemctl
 * stop`, but a restart must move nothing: the next agent adopts the VIPs and
 * nginx it finds (as after a crash, F2), so this one leaves them in place
 * instead of handing over. systemd knows which it is: while it stops the unit
 * for a restart, the unit's job is of type "restart" (`systemctl list-jobs`).
 * Outside systemd a supervisor says so with SIGUSR2 instead of SIGTERM (the
 * lab's `restart HOST agent`). The parsing is pure; the one command runs with
 * a short timeout, and anything unclear is a stop (the safe side: a handover).
 */
import { readFileSync } from "node:fs";
import type { CommandRunner } from "../shared/exec/runner.js";

/** The service unit a /proc/self/cgroup names ("0::/system.slice/keepvip-agent.service" → keepvip-agent.service). */
export function unitFromCgroup(text: string): string | undefined {
  for (const line of text.split("\n")) {
    const path = line.split(":").slice(2).join(":");
    const unit = path
      .split("/")
      .reverse()
      .find((p) => p.endsWith(".service"));
    if (unit) return unit;
  }
  return undefined;
}

/** Whether `systemctl list-jobs --no-legend` output has a restart job for `unit`. */
export function hasRestartJob(listJobs: string, unit: string): boolean {
  return listJobs.split("\n").some((line) => {
    const [, name, type] = line.trim().split(/\s+/);
    return name === unit && (type === "restart" || type === "try-restart" || type === "reload-or-restart");
  });
}

/** Asks systemd (when it runs this process) whether the SIGTERM just received is a restart. */
export async function stopIsRestart(runner: CommandRunner, env: NodeJS.ProcessEnv = process.env, cgroupFile = "/proc/self/cgroup"): Promise<boolean> {
  if (!env.INVOCATION_ID) return false;
  let unit: string | undefined;
  try {
    unit = unitFromCgroup(readFileSync(cgroupFile, "utf8"));
  } catch {
    return false;
  }
  if (!unit) return false;
  const r = await runner.run(["systemctl", "list-jobs", "--no-legend", "--no-pager", unit], { timeoutMs: 1000 });
  return r.exitCode === 0 && hasRestartJob(r.stdout, unit);
}
