/**
 * Active backend checks from this LB's vantage point, as the coordinator plans
 * them (ProbePlan): one loop per server, one probe in flight at a time, each
 * bounded by its timeout; rise/fall turn raw results into up/down. A server
 * starts up (as nginx assumes) and goes down after `fall` failures in a row.
 */
import type { ProbeCheck, ProbePlan, ProbeResult as WireResult } from "../../shared/gen/keepvip/v1/agent.js";
import { parseHostPort } from "../../shared/config/net.js";
import type { ProbeResult, ServiceProber } from "../probe/service.js";
import { nextRunDelay, sharedWheel, spreadPhase, type WheelTimer } from "../../shared/timer-wheel.js";

interface Loop {
  check: ProbeCheck;
  server: string;
  up: boolean;
  streak: number;
  detail: string;
  latencyMs: number;
  timer?: WheelTimer;
  /** Where on its interval's grid this check runs (spreadPhase), so checks of one plan do not all fire at once. */
  phaseMs: number;
  abort?: AbortController;
}

/** Pure rise/fall step: returns the new (up, streak). Streak counts results that disagree with the current state. */
export function riseFall(up: boolean, streak: number, ok: boolean, rise: number, fall: number): { up: boolean; streak: number } {
  if (ok === up) return { up, streak: 0 };
  const next = streak + 1;
  if (up && next >= fall) return { up: false, streak: 0 };
  if (!up && next >= rise) return { up: true, streak: 0 };
  return { up, streak: next };
}

export class BackendProber {
  private loops = new Map<string, Loop>();
  private stopped = false;

  constructor(
    private readonly probe: ServiceProber,
    private readonly onChange: () => void,
  ) {}

  /** Replaces the plan: loops for servers still planned keep their state. */
  setPlan(plan: ProbePlan): void {
    const wanted = new Map<string, ProbeCheck>();
    for (const c of plan.checks) for (const s of c.servers) wanted.set(`${c.upstream}/${s}`, c);
    for (const [key, loop] of this.loops) {
      if (!wanted.has(key)) {
        this.halt(loop);
        this.loops.delete(key);
      }
    }
    for (const [key, check] of wanted) {
      const existing = this.loops.get(key);
      if (existing) {
        existing.check = check;
        continue;
      }
      const server = key.slice(check.upstream.length + 1);
      // Spread the checks over the interval so a plan does not fire all at once, on the
      // shared wheel's grid steps so they wake the agent together with its other loops.
      const phaseMs = spreadPhase(check.intervalMs, Math.random());
      const loop: Loop = { check, server, up: true, streak: 0, detail: "not probed yet", latencyMs: 0, phaseMs };
      this.loops.set(key, loop);
      loop.timer = sharedWheel.setTimeout(() => void this.run(loop), sharedWheel.alignedDelay(check.intervalMs, phaseMs));
    }
  }

  /** Current results (after rise/fall) for the report. */
  current(): WireResult[] {
    return [...this.loops.values()].map((l) => ({
      upstream: l.check.upstream,
      server: l.server,
      up: l.up,
      detail: l.detail,
      latencyMs: Math.round(l.latencyMs),
    }));
  }

  stop(): void {
    this.stopped = true;
    for (const l of this.loops.values()) this.halt(l);
    this.loops.clear();
  }

  private halt(loop: Loop): void {
    sharedWheel.clearTimeout(loop.timer);
    loop.abort?.abort();
  }

  private async run(loop: Loop): Promise<void> {
    if (this.stopped || this.loops.get(`${loop.check.upstream}/${loop.server}`) !== loop) return;
    const c = loop.check;
    const hp = parseHostPort(loop.server);
    loop.abort = new AbortController();
    const started = sharedWheel.now();
    const r: Pick<ProbeResult, "ok" | "detail" | "answer" | "latencyMs"> = !hp.ok
      ? { ok: false, detail: hp.error.message, latencyMs: 0 }
      : await this.probe({
          host: hp.value.host,
          port: hp.value.port,
          timeoutMs: c.timeoutMs,
          signal: loop.abort.signal,
          ...(c.type === "http" || c.type === "https"
            ? {
                path: c.path || "/",
                hostHeader: c.host || undefined,
                tls: c.type === "https",
                expectStatus: { min: c.expectStatusMin || 200, max: c.expectStatusMax || 399 },
                expectBody: c.expectBody || undefined,
                expectDigest: c.expectDigest || undefined,
              }
            : {}),
        });
    if (this.stopped) return;
    const next = riseFall(loop.up, loop.streak, r.ok, Math.max(1, c.rise), Math.max(1, c.fall));
    const flipped = next.up !== loop.up;
    loop.up = next.up;
    loop.streak = next.streak;
    // What the report carries: the answer without its timing, so a steady server's report repeats.
    loop.detail = r.answer ?? r.detail;
    loop.latencyMs = r.latencyMs;
    if (flipped) this.onChange();
    loop.timer = sharedWheel.setTimeout(() => void this.run(loop), nextRunDelay(sharedWheel.now(), started, c.intervalMs, loop.phaseMs));
  }
}
