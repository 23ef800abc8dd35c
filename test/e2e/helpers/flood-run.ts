/**
 * Starting the flood client (in an LB's namespace) and the status sampler (in
 * the coordinator's) from the end-to-end test, through the lab's
 * CommandRunner; both are bounded by their own arguments, report JSON lines,
 * and are ended by their pid.
 */
import { labRunner } from "../../../deploy/lab/lab.js";
import { readManifest } from "../../../deploy/lab/manifest.js";
import { REPO_ROOT, hostPrograms, labPaths } from "../../../deploy/lab/paths.js";
import { labPki, type KeyPair } from "../../../deploy/lab/pki.js";
import { ADDRESSES, COORDINATOR_PORT } from "../../../deploy/lab/topology.js";

export const COORDINATOR_TARGET = `${ADDRESSES.ctl.coord}:${COORDINATOR_PORT}`;

/** What flood-client.ts prints when it ends. */
export interface FloodFigures {
  tcp: { attempted: number; connected: number; refused: number; closedByServer: number; errors: number };
  tlsNoCert: { attempted: number; refused: number; completed: number };
  h2: { connections: number; streams: number; reset: number; answered: number; sessionErrors: number };
  oversized: { sent: number; codes: Record<string, number> };
  hellos: { sent: number; codes: Record<string, number> };
  admin: { sent: number; codes: Record<string, number> };
  ms?: number;
  timedOut?: boolean;
}

export interface StatusSample {
  t: number;
  ms: number;
  /** gRPC status code (0 = answered). */
  code: number;
  details?: string;
  holder?: string;
  epoch?: number;
}

export interface Handle<T> {
  pid: number;
  /** Resolves when the process ended by itself, with what it reported and its exit code. */
  done: Promise<{ result: T; exitCode: number; stderr: string }>;
  /** SIGTERM (it winds down and reports). */
  stop(): void;
  /** SIGKILL by pid, for cleanup. */
  kill(): void;
}

function start<T>(ns: string, script: string, args: string[], collect: (line: string) => void, result: () => T): Handle<T> {
  const { ip, node } = hostPrograms();
  const stderr: string[] = [];
  const proc = labRunner().start([ip, "netns", "exec", ns, node, "--import", "tsx", `${REPO_ROOT}/test/e2e/helpers/${script}`, ...args], {
    cwd: REPO_ROOT,
    onStdoutLine: collect,
    onStderrLine: (line) => stderr.push(line),
  });
  return {
    pid: proc.pid,
    done: proc.exited.then((r) => ({ result: result(), exitCode: r.exitCode, stderr: stderr.slice(-20).join("\n") })),
    stop: () => void proc.kill("SIGTERM"),
    kill: () => void proc.kill("SIGKILL"),
  };
}

/** --ca/--cert/--key for a helper in lab `prefix` (none in an `up --insecure` lab). */
function tlsArgs(prefix: string, pair: (pki: ReturnType<typeof labPki>) => KeyPair): string[] {
  const paths = labPaths(prefix);
  if (readManifest(paths.manifest)?.insecure) return [];
  const pki = labPki(paths);
  const p = pair(pki);
  return ["--ca", pki.ca, "--cert", p.cert, "--key", p.key];
}

/** The flood, from `ns` (an LB's namespace), for `durationMs`, with that LB's certificate (what an intruder there holds). */
export function startFlood(prefix: string, host: "lb1" | "lb2", ns: string, durationMs: number): Handle<FloodFigures | undefined> {
  let figures: FloodFigures | undefined;
  return start(
    ns,
    "flood-client.ts",
    ["--target", COORDINATOR_TARGET, "--duration", String(durationMs), ...tlsArgs(prefix, (p) => p.agent(host))],
    (line) => {
      try {
        figures = JSON.parse(line) as FloodFigures;
      } catch {
        // not the figures line
      }
    },
    () => figures,
  );
}

/** GetStatus every `intervalMs` from `ns`, each with `deadlineMs`; `ready` once its channel is connected (false if it ended first). */
export function startStatusSampler(
  prefix: string,
  ns: string,
  durationMs: number,
  intervalMs = 100,
  deadlineMs = 1000,
): Handle<StatusSample[]> & { samples: StatusSample[]; ready: Promise<boolean> } {
  const samples: StatusSample[] = [];
  let markReady: (ok: boolean) => void = () => undefined;
  const ready = new Promise<boolean>((resolve) => (markReady = resolve));
  const h = start(
    ns,
    "flood-status.ts",
    [
      "--target",
      COORDINATOR_TARGET,
      "--duration",
      String(durationMs),
      "--interval",
      String(intervalMs),
      "--deadline",
      String(deadlineMs),
      ...tlsArgs(prefix, (p) => p.admin),
    ],
    (line) => {
      try {
        const parsed = JSON.parse(line) as StatusSample | { ready: true };
        if ("ready" in parsed) markReady(true);
        else samples.push(parsed);
      } catch {
        // not a sample
      }
    },
    () => samples,
  );
  void h.done.then(() => markReady(false));
  return { ...h, samples, ready };
}

/** p-th percentile (0..100) of `values`, nearest rank. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
