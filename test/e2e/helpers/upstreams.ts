/**
 * Upstream drills for the end-to-end tests: what each LB's nginx include file
 * says (parsed from the file the agent renders), a watcher recording every
 * change of those files with timestamps, and the admin CLI's server overrides
 * run inside the coordinator's namespace (the control network is not reachable
 * from the root namespace, by design).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { adminCli, adminStatus } from "../../../deploy/lab/admin.js";
import { ADDRESSES, LB_HOSTS, labPaths, type LbHost } from "../../../deploy/lab/api.js";
import type { UpstreamStatus } from "../../../shared/gen/keepvip/v1/admin.js";
import { waitFor } from "./drill.js";

/** One `server` line of a rendered upstream file. */
export interface RenderedServer {
  address: string;
  /** 1 when the line has no weight= (nginx's default). */
  weight: number;
  down: boolean;
}

/** What an LB's include file holds right now. */
export interface Rendered {
  /** From the header "# upstream config version N" (0: the lab's own file from `up`). */
  version: number;
  servers: RenderedServer[];
}

export const B1 = `${ADDRESSES.lan.b1}:10016`;
export const B2 = `${ADDRESSES.lan.b2}:10016`;
export const UPSTREAM = "my10016";

/** Parses the agent's rendered file (pure; the header and server lines as render.ts writes them). */
export function parseRendered(text: string): Rendered {
  const version = Number(/^# upstream config version (\d+)$/m.exec(text)?.[1] ?? 0);
  const servers = [...text.matchAll(/^\s*server (\S+)([^;]*);/gm)].map((m) => ({
    address: m[1],
    weight: Number(/\bweight=(\d+)/.exec(m[2])?.[1] ?? 1),
    down: /\bdown\b/.test(m[2]),
  }));
  return { version, servers };
}

export function rendered(prefix: string, host: LbHost): Rendered {
  return parseRendered(readFileSync(labPaths(prefix).upstreamFile(host), "utf8"));
}

export function renderedText(prefix: string, host: LbHost): string {
  return readFileSync(labPaths(prefix).upstreamFile(host), "utf8");
}

export const serverIn = (r: Rendered, address: string): RenderedServer | undefined => r.servers.find((s) => s.address === address);

/** One observed state of one LB's file. */
export interface RenderedChange {
  t: number;
  host: LbHost;
  r: Rendered;
}

export interface RenderedWatch {
  /** Changes so far (the first entry per host is its state at start). */
  changes: RenderedChange[];
  stop(): RenderedChange[];
}

/**
 * Reads both LBs' files every `everyMs` (in this process: plain files) and
 * records each change. Bounded by `maxMs`; stop() ends it earlier.
 */
export function watchRendered(prefix: string, everyMs = 10, maxMs = 120_000): RenderedWatch {
  const changes: RenderedChange[] = [];
  const last = new Map<LbHost, string>();
  const started = Date.now();
  const sample = () => {
    for (const host of LB_HOSTS) {
      let text: string;
      try {
        text = renderedText(prefix, host);
      } catch {
        continue; // mid-rename: the next sample sees it
      }
      if (last.get(host) === text) continue;
      last.set(host, text);
      changes.push({ t: Date.now(), host, r: parseRendered(text) });
    }
  };
  sample();
  const timer = setInterval(() => (Date.now() - started > maxMs ? clearInterval(timer) : sample()), everyMs);
  return { changes, stop: () => (clearInterval(timer), changes) };
}

/** When `host`'s file first satisfied `pred` at or after `sinceT` (undefined: never). */
export function firstTime(changes: RenderedChange[], host: LbHost, sinceT: number, pred: (r: Rendered) => boolean): number | undefined {
  // The state in force at sinceT counts too: it is the last change before it.
  const mine = changes.filter((c) => c.host === host);
  const before = mine.filter((c) => c.t < sinceT).at(-1);
  if (before && pred(before.r)) return sinceT;
  return mine.find((c) => c.t >= sinceT && pred(c.r))?.t;
}

export const isDown = (address: string) => (r: Rendered) => serverIn(r, address)?.down === true;
export const isUp = (address: string) => (r: Rendered) => serverIn(r, address)?.down === false;

/** Waits (bounded, every 10 ms) until both LBs' files satisfy `pred`; resolves to when that was seen. */
export function bothRendered(prefix: string, what: string, pred: (r: Rendered) => boolean, timeoutMs = 5000): Promise<number> {
  return waitFor(what, timeoutMs, () => (LB_HOSTS.every((h) => pred(rendered(prefix, h))) ? Date.now() : undefined), 10);
}

/** Per LB: when its file first satisfied `pred` at or after `sinceT`, in ms after sinceT; throws if one never did. */
export function delays(changes: RenderedChange[], sinceT: number, pred: (r: Rendered) => boolean): Record<LbHost, number> {
  const out = {} as Record<LbHost, number>;
  for (const h of LB_HOSTS) {
    const t = firstTime(changes, h, sinceT, pred);
    assert.ok(t !== undefined, `${h}'s file never got there: ${JSON.stringify(changes.filter((c) => c.host === h))}`);
    out[h] = t - sinceT;
  }
  return out;
}

/** The version of HOST's first file that satisfied `pred` at or after sinceT; throws if none did. */
export function versionWhen(changes: RenderedChange[], host: LbHost, sinceT: number, pred: (r: Rendered) => boolean): number {
  const c = changes.find((x) => x.host === host && x.t >= sinceT && pred(x.r));
  assert.ok(c, `${host}'s file never got there`);
  return c.r.version;
}

/** Runs the admin CLI inside P-coord; resolves to its exit code and output (stdout, then stderr). */
export async function admin(prefix: string, args: string[], timeoutMs = 10_000): Promise<{ code: number | null; out: string }> {
  const r = await adminCli(prefix, ["--timeout", "3000", ...args], timeoutMs);
  return { code: r.code, out: `${r.out}${r.err}` };
}

/** `keepvip server my10016 ADDRESS ACTION [WEIGHT]`; throws with the CLI's words when it fails. */
export async function setServer(prefix: string, address: string, action: "drain" | "down" | "up" | "weight", weight?: number): Promise<string> {
  const r = await admin(prefix, ["server", UPSTREAM, address, action, ...(weight !== undefined ? [String(weight)] : [])]);
  if (r.code !== 0) throw new Error(`keepvip server ${address} ${action}: exit ${r.code}: ${r.out}`);
  return r.out.trim();
}

/** The upstream as `keepvip --json status` shows it. */
export async function upstreamStatus(prefix: string): Promise<UpstreamStatus | undefined> {
  return (await adminStatus(prefix))?.upstreams.find((u) => u.name === UPSTREAM);
}

/** Every agent has applied `version` or later per status, with no error; undefined while not. */
export function allApplied(u: UpstreamStatus | undefined, version: number): UpstreamStatus | undefined {
  if (!u) return undefined;
  const nodes = new Map(u.applied.map((a) => [a.nodeId, a]));
  return LB_HOSTS.every((h) => (nodes.get(h)?.applied ?? 0) >= version && nodes.get(h)?.error === "") ? u : undefined;
}
