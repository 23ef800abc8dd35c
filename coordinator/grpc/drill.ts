/**
 * The admin API's failover drill (keepvip drill GROUP [--to NODE] [--kill-nginx]): every
 * member of the group probes the service through the VIP every 10 ms while the VIP moves
 * there and back by planned switchovers (or, with --kill-nginx, while the holder's nginx
 * is killed and kept down, so the group fails over as when nginx dies for good). Progress
 * is streamed; the figures (drillTotals) go to the caller and into the event history.
 */
import type { ServerWritableStream } from "@grpc/grpc-js";
import { nanoid } from "nanoid";
import type { Logger } from "pino";
import type { DrillOutcome, DrillProgress, DrillRequest } from "../../shared/gen/keepvip/v1/admin.js";
import type { DrillReport } from "../../shared/gen/keepvip/v1/agent.js";
import { KeepvipError } from "../../shared/result.js";
import { drillTarget, drillTotals, type MemberDrillReport } from "../cluster/drill.js";
import type { Engine } from "../cluster/engine.js";
import { electionOf } from "../cluster/status.js";
import { unitOfGroup } from "../cluster/units.js";
import { grpcStatusOf } from "./status.js";

/** Probes: every 10 ms, each given 500 ms. */
export const DRILL_PROBE = { intervalMs: 10, timeoutMs: 500 } as const;
/** Probing before the first move and after each one, so a late failure is seen. */
const SETTLE_MS = 1000;
/** How long nginx is kept down on the holder with --kill-nginx. */
export const DRILL_KILL_NGINX_MS = 3000;
/** Longest a member's report may take after the stop. */
const REPORT_WAIT_MS = DRILL_PROBE.timeoutMs + 2000;

const running = new Set<string>();

type Authorize = (call: ServerWritableStream<DrillRequest, DrillProgress>, rpc: string) => string;

export function drillHandler(engine: Engine, log: Logger, authorize: Authorize) {
  return (call: ServerWritableStream<DrillRequest, DrillProgress>): void => {
    const say = (step: string, outcome?: DrillOutcome) => {
      if (!call.cancelled && !call.destroyed) call.write({ atMs: Date.now(), step, ...(outcome ? { outcome } : {}) });
    };
    let group = "";
    Promise.resolve()
      .then(async () => {
        const who = authorize(call, "Drill");
        group = call.request.group;
        if (running.has(group)) throw new KeepvipError("failed-precondition", `a drill of ${group} is already running`);
        running.add(group);
        const outcome = await runDrill(engine, call.request, who, say);
        say(summaryLine(outcome), outcome);
        call.end();
      })
      .catch((err: unknown) => {
        const status = grpcStatusOf(err);
        if (status.code === 13) log.error({ event: "drill.error", group, err }, "drill failed");
        call.emit("error", status);
      })
      .finally(() => {
        if (group) running.delete(group);
      });
  };
}

/** One line for the CLI and the event history. */
export function summaryLine(o: DrillOutcome): string {
  const how = o.mode === "kill-nginx" ? `nginx killed on ${o.fromNode}` : `switchover ${o.fromNode} → ${o.toNode} → ${o.backNode}`;
  return `drill of ${o.group} (${how}): ${o.failedProbes} of ${o.probes} probes failed, blackout ${o.blackoutMs} ms, on none ${o.onNoneMs} ms, on both ${o.onBothMs} ms`;
}

async function runDrill(engine: Engine, req: DrillRequest, who: string, say: (step: string) => void): Promise<DrillOutcome> {
  const started = engine.now();
  const unit = unitOfGroup(engine.units, req.group);
  if (!unit) throw new KeepvipError("not-found", `unknown group "${req.group}" (groups: ${engine.config.groups.map((g) => g.name).join(", ")})`);
  const rt = () => engine.runtimes.get(unit.name)!;
  if (rt().phase.kind !== "steady") throw new KeepvipError("unavailable", `${req.group} is busy (${rt().phase.kind}); try again`);
  const from = rt().holder;
  const election = electionOf(engine.statusInput(), unit);
  const target = drillTarget(req.group, election.ranking, from ?? undefined, req.toNode);
  if (!target.ok) throw new KeepvipError("failed-precondition", target.error);
  const holder = from as string;
  const mode = req.killNginx ? "kill-nginx" : "switchover";
  const members = unit.members.map((m) => m.node);
  const budget = engine.config.timing.ack_timeout * 2 + engine.config.timing.planned_overlap + engine.config.timing.verify_timeout;
  engine.events.add({ kind: "admin", group: req.group, node: holder, message: `drill of ${req.group} (${mode}) started by ${who}` });

  const drillId = nanoid(10);
  const reports = new Map<string, DrillReport>();
  const unsubscribe = engine.onDrillReport((node, r) => {
    if (r.drillId === drillId && members.includes(node)) reports.set(node, r);
  });
  const probing: string[] = [];
  const probe = (node: string, extra: { stop?: boolean; killNginxMs?: number }) =>
    engine.sendTo(node, {
      body: {
        $case: "drill",
        value: {
          drillId,
          group: req.group,
          stop: extra.stop ?? false,
          intervalMs: DRILL_PROBE.intervalMs,
          timeoutMs: DRILL_PROBE.timeoutMs,
          maxMs: 120_000,
          killNginxMs: extra.killNginxMs ?? 0,
        },
      },
    });
  const sleep = (ms: number) => engine.waitFor(() => false, ms);
  const moveTo = async (node: string, what: string): Promise<void> => {
    const t0 = engine.now();
    if (!(await engine.waitFor(() => rt().phase.kind === "steady", budget)))
      throw new KeepvipError("deadline-exceeded", `${req.group} stayed busy (${rt().phase.kind})`);
    engine.requestSwitchover(unit.name, node);
    const ok = await engine.waitFor(() => rt().holder === node && rt().phase.kind === "steady", budget * 2);
    if (!ok) throw new KeepvipError("deadline-exceeded", `${what} did not complete within ${budget * 2} ms (see keepvip events)`);
    say(`${what}: done in ${engine.now() - t0} ms (epoch ${rt().epoch})`);
  };

  let failedOverTo = "";
  try {
    for (const m of members) if (probe(m, {})) probing.push(m);
    const unit0 = engine.config.groups.find((g) => g.name === req.group);
    say(
      `probing ${req.group} through ${unit0?.vips[0] ?? "its VIP"} from ${probing.join(", ") || "no member"} every ${DRILL_PROBE.intervalMs} ms${probing.length < members.length ? ` (no session: ${members.filter((m) => !probing.includes(m)).join(", ")})` : ""}`,
    );
    await sleep(SETTLE_MS);
    if (mode === "switchover") {
      await moveTo(target.node, `switchover ${holder} → ${target.node}`);
      await sleep(SETTLE_MS);
      await moveTo(holder, `switchover back ${target.node} → ${holder}`);
    } else {
      const t0 = engine.now();
      probe(holder, { killNginxMs: DRILL_KILL_NGINX_MS });
      say(`nginx killed on ${holder}, kept down for ${DRILL_KILL_NGINX_MS} ms`);
      const moved = await engine.waitFor(() => rt().holder !== holder && rt().holder !== null, budget * 2);
      if (moved) failedOverTo = rt().holder ?? "";
      say(
        moved
          ? `${req.group} failed over to ${rt().holder} in ${engine.now() - t0} ms (epoch ${rt().epoch})`
          : `${req.group} did not fail over within ${budget * 2} ms`,
      );
      await sleep(Math.max(0, DRILL_KILL_NGINX_MS - (engine.now() - t0)) + SETTLE_MS);
      await engine.waitFor(() => rt().phase.kind === "steady", budget * 2);
    }
    await sleep(SETTLE_MS);
  } finally {
    for (const m of probing) probe(m, { stop: true });
    await engine.waitFor(() => probing.every((m) => reports.has(m)), REPORT_WAIT_MS);
    unsubscribe();
  }

  const memberReports: MemberDrillReport[] = [...reports].map(([node, r]) => ({
    node,
    probes: r.probes,
    failed: r.failed,
    longestBlackoutMs: r.longestBlackoutMs,
    held: r.held.map((h) => ({ fromMs: Number(h.fromMs), toMs: Number(h.toMs) })),
    error: r.error,
    outcomes: r.outcomes,
    crossed: r.crossed,
    startedMs: Number(r.startedMs),
    endedMs: Number(r.endedMs),
  }));
  const t = drillTotals(memberReports);
  const outcome: DrillOutcome = {
    group: req.group,
    mode,
    fromNode: holder,
    toNode: mode === "switchover" ? target.node : failedOverTo,
    backNode: rt().holder ?? "",
    probes: t.probes,
    failedProbes: t.failedProbes,
    blackoutMs: t.blackoutMs,
    onNoneMs: t.onNoneMs,
    onBothMs: t.onBothMs,
    tookMs: engine.now() - started,
    agents: members.map((node) => {
      const r = memberReports.find((x) => x.node === node);
      return r
        ? { nodeId: node, probes: r.probes, failed: r.failed, longestBlackoutMs: r.longestBlackoutMs, error: r.error, outcomes: r.outcomes, crossed: r.crossed }
        : {
            nodeId: node,
            probes: 0,
            failed: 0,
            crossed: 0,
            longestBlackoutMs: 0,
            error: probing.includes(node) ? "no report (session lost?)" : "no session",
            outcomes: {},
          };
    }),
  };
  engine.events.add({
    kind: "drill",
    group: req.group,
    node: holder,
    epoch: rt().epoch,
    message: summaryLine(outcome),
    figures: { mode, blackoutMs: t.blackoutMs, failedProbes: t.failedProbes, probes: t.probes, onNoneMs: t.onNoneMs, onBothMs: t.onBothMs },
  });
  return outcome;
}
