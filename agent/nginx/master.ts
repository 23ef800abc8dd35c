/**
 * Process-level operations on a child-mode nginx master: start one in the
 * foreground and decide quickly whether it came up, stop one in steps, and
 * clear the workers a SIGKILLed master leaves behind. The supervisor decides
 * when; this file knows how.
 */
import type { Logger } from "../../shared/log.js";
import type { CommandRunner, RunningProcess } from "../../shared/exec/runner.js";
import { nginxFailureReason } from "./commands.js";
import { isLive, liveGroupMembers, processTitle, readPidFile, sendSignal } from "./process.js";

const POLL_MS = 5;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export type MasterStart =
  | { ok: true; child: RunningProcess }
  /** `cleanup` resolves once the failed process is gone; report the failure before awaiting it. */
  | { ok: false; detail: string; cleanup?: Promise<unknown> };

/**
 * Starts `argv` (nginx -g 'daemon off; ...') detached, so it leads its own
 * process group and outlives the agent. Up when `pidFile` holds its pid (nginx
 * writes it after binding its listeners). Failed as soon as it exits, prints an
 * [emerg] line (no waiting through nginx's own 5 × 500 ms bind retries), or
 * stays silent past `timeoutMs`.
 */
export async function startMaster(runner: CommandRunner, argv: string[], pidFile: string, timeoutMs: number, log: Logger): Promise<MasterStart> {
  let failure: string | undefined;
  let failed: () => void = () => undefined;
  const failedNow = new Promise<void>((r) => (failed = r));
  const stderr: string[] = [];
  const child = runner.start(argv, {
    detached: true,
    onStderrLine: (line) => {
      stderr.push(line);
      if (stderr.length > 20) stderr.shift();
      log.warn({ event: "nginx.stderr", line }, line);
      if (failure === undefined && /\[emerg\]/.test(line)) {
        failure = nginxFailureReason(line);
        failed();
      }
    },
  });
  if (child.pid <= 0) {
    const r = await child.exited;
    return { ok: false, detail: `cannot run ${argv[0]}: ${r.spawnError || r.stderr}` };
  }
  let exited = false;
  void child.exited.then(() => {
    exited = true;
    failed();
  });
  const deadline = Date.now() + timeoutMs;
  while (failure === undefined && !exited && Date.now() < deadline) {
    if ((await readPidFile(pidFile)) === child.pid && (await isLive(child.pid))) return { ok: true, child };
    await Promise.race([sleep(POLL_MS), failedNow]);
  }
  if (exited) {
    const r = await child.exited;
    const why = failure ?? (nginxFailureReason(stderr.join("\n")) || `exited (${r.signal || `exit code ${r.exitCode}`})`);
    return { ok: false, detail: `nginx failed to start: ${why}` };
  }
  const why = failure ?? `no pid in ${pidFile} after ${timeoutMs}ms`;
  child.kill("SIGKILL");
  // Workers, if it got that far, are in its group: they go with it.
  const cleanup = child.exited.then(() => sendSignal(-child.pid, "SIGKILL"));
  return { ok: false, detail: `nginx failed to start: ${why}`, cleanup };
}

/**
 * Workers of a master that died by SIGKILL keep serving and keep the listening
 * sockets, so no new master could bind. SIGQUIT them (the dead master's own
 * group only): each closes its listeners at once, retitles itself "worker
 * process is shutting down" just before, and finishes its in-flight requests.
 * Returns when every one says so or is gone, or after `waitMs`.
 */
export async function releaseOrphans(pgrp: number, waitMs: number, log: Logger): Promise<void> {
  const members = liveGroupMembers(pgrp);
  if (members.length === 0) return;
  log.warn({ event: "nginx.orphans", pgrp, pids: members.map((m) => m.pid) }, "stopping workers left by the dead master");
  sendSignal(-pgrp, "SIGQUIT");
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline) {
    const titles = await Promise.all(liveGroupMembers(pgrp).map((m) => processTitle(m.pid)));
    if (titles.every((t) => t === "" || t.includes("shutting down"))) return;
    await sleep(POLL_MS);
  }
  log.warn({ event: "nginx.orphans_slow", pgrp }, `workers of group ${pgrp} still not shutting down after ${waitMs}ms; starting anyway`);
}

/**
 * Stops a master: QUIT (graceful: workers finish their requests), then TERM,
 * then KILL, each after `stepMs` — that pid only; after a KILL its orphaned
 * workers (group `pgrp`, when it led one) get TERM.
 */
export async function stopMaster(pid: number, pgrp: number | undefined, stepMs: number, log: Logger): Promise<void> {
  const gone = async (ms: number) => {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      if (!(await isLive(pid))) return true;
      await sleep(POLL_MS * 4);
    }
    return !(await isLive(pid));
  };
  for (const signal of ["SIGQUIT", "SIGTERM", "SIGKILL"] as const) {
    if (!(await isLive(pid))) break;
    sendSignal(pid, signal);
    log.info({ event: "nginx.stop", pid, signal }, `stopping nginx master ${pid} with ${signal}`);
    if (await gone(stepMs)) break;
  }
  if (pgrp !== undefined && liveGroupMembers(pgrp).length > 0) sendSignal(-pgrp, "SIGTERM");
}
