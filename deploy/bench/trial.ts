/**
 * One run of one scenario: a VIP sampler and a prober (a request to VIP:10016/aaa every 10 ms,
 * new connection each, 200 ms timeout) run across all its phases; each phase injects its fault
 * once the client is served, waits for its end condition (bounded), keeps observing, and is
 * measured on its own window of the observations.
 */
import { LB_HOSTS } from "../lab/api.js";
import { isRunning, observe, sleep, waitUntil, withDeadline, type Observation } from "./cluster.js";
import type { EndCondition, Phase, Scenario } from "./scenarios.js";
import { phaseMetrics, type PhaseMetrics, type PhaseWindow } from "./window.js";

/** The observers run at least this long before a fault, so the window shows service before it. */
export const SETTLE_MS = 500;
/** How long the client must be served before a fault is injected (a stale ARP entry after a keepalived heal can take ~50 s). */
const SERVED_BEFORE_MS = 75_000;
/** Allowance per phase for its own steps (F2 on keepalived waits up to 30 s inside inject). */
const INJECT_ALLOWANCE_MS = 45_000;

export interface PhaseOutcome {
  phase: Phase;
  metrics: PhaseMetrics;
}

/** The end condition holds now (`sinceT`: the injection; the service must be good since then). */
export function meets(prefix: string, obs: Observation, c: EndCondition, sinceT: number): boolean {
  if (c.vip) {
    const h = obs.holders();
    if (c.vip.only ? !(h.length === 1 && h[0] === c.vip.host) : !h.includes(c.vip.host)) return false;
  }
  if (c.running && !isRunning(prefix, c.running.host, c.running.name)) return false;
  return !c.service || obs.serviceOk(sinceT);
}

/** Bounded observers for the whole scenario: every phase's settle, inject, deadline and tail. */
function observerBudgetMs(s: Scenario): number {
  const sum = s.phases.reduce((t, p) => t + SETTLE_MS + SERVED_BEFORE_MS + INJECT_ALLOWANCE_MS + p.untilTimeoutMs + p.afterMs, 0);
  // The prober caps a run at 10 minutes.
  return Math.min(590_000, sum + 10_000);
}

/** Runs the scenario's phases once; throws (observers stopped) when a step fails. The caller restores. */
export async function runTrial(prefix: string, scenario: Scenario, family: 4 | 6 = 4): Promise<PhaseOutcome[]> {
  const obs = observe(prefix, observerBudgetMs(scenario), family);
  const done: Array<{ phase: Phase; w: PhaseWindow; reached: boolean; settledAt: number }> = [];
  try {
    await withDeadline(Promise.all([obs.sampler.ready, obs.prober.ready]), 30_000, "the VIP sampler and the prober to start");
    for (const phase of scenario.phases) {
      await sleep(SETTLE_MS);
      const servedSince = Date.now() - SETTLE_MS;
      if (!(await waitUntil(() => obs.serviceOk(servedSince), SERVED_BEFORE_MS))) {
        throw new Error(`${phase.id}: the client was not served through the VIP for ${SERVED_BEFORE_MS} ms before the fault`);
      }
      const injectT = Date.now();
      await phase.inject(obs);
      const reached = await waitUntil(() => meets(prefix, obs, phase.until, injectT), phase.untilTimeoutMs);
      const settledAt = Date.now();
      await sleep(phase.afterMs + Math.random() * (phase.afterJitterMs ?? 0));
      done.push({ phase, w: { from: injectT - SETTLE_MS, injectT, to: Date.now() }, reached, settledAt });
    }
  } finally {
    // Stop both even when a phase failed, so nothing outlives the trial.
    await Promise.all([obs.prober.stop(), obs.sampler.stop()]);
  }
  return done.map(({ phase, w, reached, settledAt }) => ({
    phase,
    metrics: phaseMetrics(obs.prober.records, obs.sampler.events, LB_HOSTS, w, { newHolder: phase.newHolder, reached, settledAt }),
  }));
}
