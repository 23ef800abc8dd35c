/**
 * The fault matrix (docs/design.md) as benchmark scenarios, for each stack: how a fault is injected,
 * when it is over (the end condition, with a deadline), and how the lab goes back to its
 * steady state. A scenario measures one or more phases: F6 (preempt back) is F1's restore,
 * and F11 measures the partition and the heal.
 */
import { breakNginx, fixNginx, heal, killProcess, partition, setLink, startProcess, stopProcess, type LbHost } from "../lab/api.js";
import { crashKeepalived, isRunning, sleep, waitUntil, type Observation } from "./cluster.js";
import type { PhaseRow, StackName } from "./report.js";

/** When a phase is over; every part must hold. Checked on in-memory observations every 20 ms. */
export interface EndCondition {
  /** The VIP only on this LB (only) or at least on it. */
  vip?: { host: LbHost; only: boolean };
  /** The client is served again: the last 20 finished requests, all sent after the injection, succeeded. */
  service?: boolean;
  /** This process runs again (its pid file names a live process in its namespace). */
  running?: { host: LbHost; name: string };
}

export interface Phase {
  /** Row id in the tables. */
  id: string;
  /** Where the VIP should end up alone; undefined: it should not move. */
  newHolder?: LbHost;
  /** Injects the fault; may take several steps (crash, wait, restart). */
  inject(obs: Observation): Promise<unknown>;
  until: EndCondition;
  /** Deadline for `until`, from the end of `inject`. */
  untilTimeoutMs: number;
  /** Keep observing this long after `until` held (a late move or a second outage shows). */
  afterMs: number;
  /** Plus a uniformly random extra of up to this, so the next phase lands anywhere in keepalived's advert cycle. */
  afterJitterMs?: number;
}

export interface Scenario {
  id: string;
  phases: Phase[];
  /** Undoes what the phases left (unmeasured); runs even when a phase failed. Idempotent. */
  restore(): Promise<void>;
  /** Rough seconds per run (restore and steady state included), for the up-front estimate. */
  estimateSec: number;
}

/** The table rows, in order, with the legend text. */
export const PHASE_ROWS: PhaseRow[] = [
  { id: "F1", label: "the holder's agent / keepalived stopped cleanly (SIGTERM)" },
  { id: "F2", label: "the holder's agent SIGKILLed, restarted 1.5 s later / every keepalived process SIGKILLed, restarted 1 s after lb2 took the VIP" },
  { id: "F3", label: "the holder's LAN link down" },
  { id: "F4", label: "nginx on the holder killed (master and workers), it can restart" },
  { id: "F5", label: "nginx on the holder killed and unable to start (invalid config)" },
  { id: "F6", label: "preempt back: the agent / keepalived of F1 started again" },
  { id: "F7", label: "coordinator killed, restarted 1 s later", keepalivedNa: "no coordinator" },
  { id: "F8", label: "the holder cut off the control network only", keepalivedNa: "no coordinator" },
  { id: "F11 partition", label: "the holder's switch port blocked both ways, its link up" },
  { id: "F11 heal", label: "the switch port of F11 back" },
  { id: "F17", label: "the standby's switch port blocked for 3 s (its link up), the holder healthy" },
  { id: "F18", label: "the standby's LAN link down for 3 s, the holder healthy" },
];

/** Scenario ids a user may name, and the scenario that measures each. */
export const SCENARIO_OF: Record<string, string> = {
  F1: "F1",
  F6: "F1",
  F2: "F2",
  F3: "F3",
  F4: "F4",
  F5: "F5",
  F7: "F7",
  F8: "F8",
  F11: "F11",
  F17: "F17",
  F18: "F18",
};

/** The rows a scenario id stands for (F11 → both of its phases). */
export function rowsFor(id: string): string[] {
  return id === "F11" ? ["F11 partition", "F11 heal"] : [id];
}

const onlyOn = (host: LbHost): EndCondition => ({ vip: { host, only: true }, service: true });

/** Starts P's HOST PROCESS unless it already runs. */
export async function ensureRunning(prefix: string, host: "lb1" | "lb2" | "coord", name: string): Promise<void> {
  if (!isRunning(prefix, host, name)) await startProcess(prefix, host, name);
}

/** F11 for either stack; keepalived's VIP stays on the cut-off holder, so it only has to reach lb2. */
function partitionScenario(prefix: string, stack: StackName): Scenario {
  const slow = stack === "keepalived";
  let partitioned = false;
  return {
    id: "F11",
    estimateSec: slow ? 30 : 7,
    phases: [
      {
        id: "F11 partition",
        newHolder: "lb2",
        inject: async () => {
          partitioned = true;
          await partition(prefix, "lb1", "lan");
        },
        until: slow ? { vip: { host: "lb2", only: false }, service: true } : onlyOn("lb2"),
        // A heal a fixed time after lb2's takeover lands at the same point of the advert cycle
        // every run: just before lb2's next advert, lb1 hears it first and answers with GARPs
        // and the client never notices; just after lb1's own advert, lb2 steps down silently and
        // the client keeps lb2's MAC for the VIP. Two seed adverts of jitter sample both.
        untilTimeoutMs: slow ? 30_000 : 15_000,
        afterMs: 1000,
        afterJitterMs: 2000,
      },
      {
        // keepalived: the client's ARP entry still names lb2 after the heal; up to 50 s (docs/benchmarks.md).
        id: "F11 heal",
        newHolder: "lb1",
        inject: async () => {
          await heal(prefix, "lb1", "lan");
          partitioned = false;
        },
        until: onlyOn("lb1"),
        untilTimeoutMs: slow ? 70_000 : 20_000,
        afterMs: 1000,
      },
    ],
    restore: async () => {
      if (partitioned) await heal(prefix, "lb1", "lan");
      partitioned = false;
    },
  };
}

/**
 * F17 and F18 for either stack: a fault on the standby (lb2) held 3 s, then undone; the VIP
 * must stay on lb1 and no request may fail. The end condition is the restore itself.
 */
function standbyScenarios(prefix: string): Scenario[] {
  const held = (id: string, inject: () => Promise<unknown>, undo: () => Promise<unknown>): Scenario => {
    let faulted = false;
    return {
      id,
      estimateSec: 8,
      phases: [
        {
          id,
          inject: async () => {
            faulted = true;
            await inject();
            await sleep(3000);
            await undo();
            faulted = false;
          },
          until: onlyOn("lb1"),
          untilTimeoutMs: 15_000,
          afterMs: 2000,
        },
      ],
      restore: async () => {
        if (faulted) await undo();
        faulted = false;
      },
    };
  };
  return [
    held(
      "F17",
      () => partition(prefix, "lb2", "lan"),
      () => heal(prefix, "lb2", "lan"),
    ),
    held(
      "F18",
      () => setLink(prefix, "lb2", "lan", "down"),
      () => setLink(prefix, "lb2", "lan", "up"),
    ),
  ];
}

function keepvipScenarios(P: string): Scenario[] {
  return [
    {
      id: "F1",
      estimateSec: 7,
      phases: [
        { id: "F1", newHolder: "lb2", inject: () => stopProcess(P, "lb1", "agent"), until: onlyOn("lb2"), untilTimeoutMs: 15_000, afterMs: 1000 },
        { id: "F6", newHolder: "lb1", inject: () => startProcess(P, "lb1", "agent"), until: onlyOn("lb1"), untilTimeoutMs: 20_000, afterMs: 1000 },
      ],
      restore: () => ensureRunning(P, "lb1", "agent"),
    },
    {
      id: "F2",
      estimateSec: 6,
      phases: [
        {
          id: "F2",
          inject: async () => {
            await killProcess(P, "lb1", "agent");
            await sleep(1500);
            await startProcess(P, "lb1", "agent");
          },
          until: onlyOn("lb1"),
          untilTimeoutMs: 15_000,
          afterMs: 1500,
        },
      ],
      restore: () => ensureRunning(P, "lb1", "agent"),
    },
    {
      id: "F3",
      estimateSec: 5,
      phases: [{ id: "F3", newHolder: "lb2", inject: () => setLink(P, "lb1", "lan", "down"), until: onlyOn("lb2"), untilTimeoutMs: 15_000, afterMs: 1000 }],
      restore: async () => void (await setLink(P, "lb1", "lan", "up")),
    },
    {
      id: "F4",
      estimateSec: 6,
      phases: [
        {
          id: "F4",
          inject: () => killProcess(P, "lb1", "nginx"),
          until: { ...onlyOn("lb1"), running: { host: "lb1", name: "nginx" } },
          untilTimeoutMs: 15_000,
          afterMs: 2500,
        },
      ],
      restore: async () => undefined,
    },
    {
      id: "F5",
      estimateSec: 6,
      phases: [
        {
          id: "F5",
          newHolder: "lb2",
          inject: async () => {
            breakNginx(P, "lb1");
            await killProcess(P, "lb1", "nginx");
          },
          until: onlyOn("lb2"),
          untilTimeoutMs: 15_000,
          afterMs: 1000,
        },
      ],
      // The agent's background restarts bring nginx back; lb1 then preempts.
      restore: async () => fixNginx(P, "lb1"),
    },
    {
      id: "F7",
      estimateSec: 6,
      phases: [
        {
          id: "F7",
          inject: async () => {
            await killProcess(P, "coord", "coordinator");
            await sleep(1000);
            await startProcess(P, "coord", "coordinator");
          },
          until: onlyOn("lb1"),
          untilTimeoutMs: 15_000,
          afterMs: 2000,
        },
      ],
      restore: () => ensureRunning(P, "coord", "coordinator"),
    },
    {
      id: "F8",
      estimateSec: 5,
      phases: [{ id: "F8", inject: () => setLink(P, "lb1", "ctl", "down"), until: {}, untilTimeoutMs: 0, afterMs: 2000 }],
      restore: async () => void (await setLink(P, "lb1", "ctl", "up")),
    },
    partitionScenario(P, "keepvip"),
    ...standbyScenarios(P),
  ];
}

/** keepalived: the seed's config (or --advert 0.1); nginx_check.sh restarts nginx. No coordinator: no F7, F8. */
function keepalivedScenarios(P: string): Scenario[] {
  const lbKeepalived = () => ensureRunning(P, "lb1", "keepalived");
  return [
    {
      id: "F1",
      estimateSec: 15,
      phases: [
        { id: "F1", newHolder: "lb2", inject: () => stopProcess(P, "lb1", "keepalived"), until: onlyOn("lb2"), untilTimeoutMs: 30_000, afterMs: 1000 },
        { id: "F6", newHolder: "lb1", inject: () => startProcess(P, "lb1", "keepalived"), until: onlyOn("lb1"), untilTimeoutMs: 30_000, afterMs: 1000 },
      ],
      restore: lbKeepalived,
    },
    {
      id: "F2",
      estimateSec: 13,
      phases: [
        {
          id: "F2",
          inject: async (obs) => {
            await crashKeepalived(P, "lb1");
            // Nothing removes the VIP from lb1 now; lb2 takes it after 3 adverts + skew. It stays
            // on both until lb1's keepalived is back, so the bench restarts it 1 s after that.
            await waitUntil(() => obs.holders().includes("lb2"), 30_000);
            await sleep(1000);
            await startProcess(P, "lb1", "keepalived");
          },
          until: onlyOn("lb1"),
          untilTimeoutMs: 30_000,
          afterMs: 1000,
        },
      ],
      restore: lbKeepalived,
    },
    {
      id: "F3",
      estimateSec: 10,
      phases: [{ id: "F3", newHolder: "lb2", inject: () => setLink(P, "lb1", "lan", "down"), until: onlyOn("lb2"), untilTimeoutMs: 30_000, afterMs: 1000 }],
      restore: async () => void (await setLink(P, "lb1", "lan", "up")),
    },
    {
      // nginx_check.sh (every 2 s) notices and starts nginx again.
      id: "F4",
      estimateSec: 12,
      phases: [
        {
          id: "F4",
          inject: () => killProcess(P, "lb1", "nginx"),
          until: { ...onlyOn("lb1"), running: { host: "lb1", name: "nginx" } },
          untilTimeoutMs: 30_000,
          afterMs: 2500,
        },
      ],
      restore: async () => undefined,
    },
    {
      id: "F5",
      estimateSec: 13,
      phases: [
        {
          id: "F5",
          newHolder: "lb2",
          inject: async () => {
            breakNginx(P, "lb1");
            await killProcess(P, "lb1", "nginx");
          },
          until: onlyOn("lb2"),
          untilTimeoutMs: 30_000,
          afterMs: 1000,
        },
      ],
      // nginx_check.sh starts nginx once it can; if it did stop keepalived, start it again.
      restore: async () => {
        fixNginx(P, "lb1");
        await lbKeepalived();
      },
    },
    partitionScenario(P, "keepalived"),
    ...standbyScenarios(P),
  ];
}

export function scenariosFor(stack: StackName, prefix: string): Scenario[] {
  return stack === "keepvip" ? keepvipScenarios(prefix) : keepalivedScenarios(prefix);
}
