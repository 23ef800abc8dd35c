/**
 * Commands to agents: what the planner's actions become on the wire, and the
 * tracker of commands awaiting an answer. A tracked command leaves the tracker
 * when its answer arrives, when its lifetime ends, or when the session it went
 * out on closes, so nothing waits forever for an agent that is gone.
 */
import { formatCidr } from "../../shared/config/net.js";
import type { CoordinatorMessage } from "../../shared/gen/keepvip/v1/agent.js";
import type { Scheduler, SchedulerTimer } from "../../shared/scheduler.js";
import type { Action, PlannerTiming, UnitRuntime } from "../election/planner.js";
import type { Unit } from "./units.js";
import { STALL_TOLERANCE_MS } from "./listening-clock.js";

interface Target {
  node: string;
  unit: string;
  group: string;
  epoch: number;
}

/** One command for one group on one node. */
export type OutgoingCommand =
  | (Target & { action: "acquire"; vips: string[]; takeover: boolean; forwardMs: number; reason: string })
  | (Target & { action: "release"; vips: string[]; afterMs: number; drainMs: number; memberAddresses?: string[]; reason: string })
  | (Target & { action: "verify"; vips: string[]; port: number; path: string; timeoutMs: number });

export type CommandAction = OutgoingCommand["action"];

/**
 * The commands a planner action sends: acquire and release go to every group of
 * the unit, verify to its first. Every command carries all of a group's VIPs
 * (IPv4 and IPv6 alike, formatCidr's normalized "ADDR/LEN"): they move as one.
 * A verification probes the service through the group's first VIP as
 * configured (the agent takes `vips[0]`), whatever its family; so does a
 * backup's reach probe. A dual-stack group whose service should be checked
 * over IPv6 lists its IPv6 VIP first.
 */
export function commandsFor(unit: Unit, rt: UnitRuntime, a: Exclude<Action, { type: "note" }>, verifyTimeoutMs: number): OutgoingCommand[] {
  switch (a.type) {
    case "acquire":
      return unit.configs.map((cfg) => ({
        action: "acquire",
        node: a.node,
        unit: unit.name,
        group: cfg.name,
        epoch: a.epoch,
        vips: cfg.vips.map(formatCidr),
        takeover: a.takeover,
        forwardMs: a.forward ? cfg.drain_timeout : 0,
        reason: a.reason,
      }));
    case "release":
      return unit.configs.map((cfg) => ({
        action: "release",
        node: a.node,
        unit: unit.name,
        group: cfg.name,
        epoch: a.epoch,
        vips: cfg.vips.map(formatCidr),
        // A drain replaces the planned overlap: the old holder stops answering ARP
        // at once but keeps serving every flow that still reaches it.
        afterMs: a.drain && cfg.drain_timeout > 0 ? 0 : a.afterMs,
        drainMs: a.drain ? cfg.drain_timeout : 0,
        ...(a.drain && cfg.drain_timeout > 0 ? { memberAddresses: unit.members.flatMap((m) => (m.address ? [m.address] : [])) } : {}),
        reason: a.reason,
      }));
    case "verify": {
      const cfg = unit.configs[0];
      return [
        {
          action: "verify",
          node: a.node,
          unit: unit.name,
          group: cfg.name,
          epoch: rt.epoch,
          vips: cfg.vips.map(formatCidr),
          port: cfg.service.port,
          path: cfg.service.path ?? "",
          timeoutMs: verifyTimeoutMs,
        },
      ];
    }
  }
}

/** The wire message of a command, under the leader's `term` (0: a single coordinator). */
export function commandMessage(c: OutgoingCommand, commandId: string, term = 0): CoordinatorMessage {
  switch (c.action) {
    case "acquire":
      return {
        body: {
          $case: "command",
          value: {
            commandId,
            group: c.group,
            epoch: c.epoch,
            action: { $case: "acquire", value: { vips: c.vips, takeover: c.takeover, forwardMs: c.forwardMs } },
            reason: c.reason,
            term,
          },
        },
      };
    case "release":
      return {
        body: {
          $case: "command",
          value: {
            commandId,
            group: c.group,
            epoch: c.epoch,
            action: { $case: "release", value: { vips: c.vips, afterMs: c.afterMs, drainMs: c.drainMs, memberAddresses: c.memberAddresses ?? [] } },
            reason: c.reason,
            term,
          },
        },
      };
    case "verify":
      return { body: { $case: "verify", value: { commandId, group: c.group, vips: c.vips, port: c.port, path: c.path, timeoutMs: c.timeoutMs } } };
  }
}

/**
 * How long an answer to a command is still worth waiting for: as long as the
 * planner waits for it (an ack timeout after the release delay or the
 * verification), plus one more ack timeout, so a late answer the planner can
 * still use is not dropped.
 */
export function commandLifetimeMs(c: OutgoingCommand, timing: Pick<PlannerTiming, "ackTimeoutMs" | "verifyTimeoutMs">): number {
  const waits = c.action === "release" ? c.afterMs : c.action === "verify" ? timing.verifyTimeoutMs : 0;
  return waits + 2 * timing.ackTimeoutMs;
}

/** A command awaiting its answer. */
export interface TrackedCommand extends Target {
  action: CommandAction;
  /** The session it went out on. */
  sessionId: string;
  sentMs: number;
  /**
   * Its number among the commands sent on its session (1, 2, ...), when the agent counts the
   * commands it receives and reports the count (Hello.counts_commands): a count below it says
   * the command is still on its way.
   */
  seq?: number;
}

export type ExpiryCause = "timeout" | "session-closed";

interface Entry {
  command: TrackedCommand;
  timer: SchedulerTimer;
  lifetimeMs: number;
}

export class CommandTracker {
  private readonly entries = new Map<string, Entry>();
  /** Ids of the commands on their way (tracked, not yet reported received), by unit and by session. */
  private readonly onTheWayByUnit = new Map<string, Set<string>>();
  private readonly onTheWayBySession = new Map<string, Set<string>>();

  /**
   * `live(sessionId)`: whether a session is still heard from. A command on its way over a live
   * session is not given up when its lifetime ends: it waits to be delivered (a busy agent or
   * coordinator reads late, a live stream loses nothing), and its session's end drops it.
   */
  constructor(
    private readonly scheduler: Scheduler,
    private readonly onExpire: (commandId: string, command: TrackedCommand, cause: ExpiryCause) => void = () => {},
    private readonly live: (sessionId: string) => boolean = () => false,
  ) {}

  /**
   * Starts waiting for the answer to `commandId`, for at most `lifetimeMs` of time in which the
   * coordinator could have read it: an expiry that runs late (its loop was stalled, the answer
   * may sit unread in the socket) gives the command the time it ran late again first, so the
   * answer is read before the command is given up (listening-clock.ts).
   */
  track(commandId: string, command: TrackedCommand, lifetimeMs: number): void {
    this.forget(commandId);
    this.entries.set(commandId, { command, timer: this.arm(commandId, lifetimeMs), lifetimeMs });
    // Without a seq nobody will say it arrived: it counts as delivered from the start.
    if (command.seq !== undefined) {
      addTo(this.onTheWayByUnit, command.unit, commandId);
      addTo(this.onTheWayBySession, command.sessionId, commandId);
    }
  }

  private arm(commandId: string, ms: number): SchedulerTimer {
    const dueMs = this.scheduler.now() + ms;
    const timer = this.scheduler.setTimeout(() => {
      const entry = this.entries.get(commandId);
      if (entry?.timer !== timer) return;
      const lateMs = this.scheduler.now() - dueMs;
      if (lateMs > STALL_TOLERANCE_MS) entry.timer = this.arm(commandId, lateMs);
      else if (this.onTheWayBySession.get(entry.command.sessionId)?.has(commandId) && this.live(entry.command.sessionId))
        entry.timer = this.arm(commandId, entry.lifetimeMs);
      else {
        this.forget(commandId);
        this.onExpire(commandId, entry.command, "timeout");
      }
    }, ms);
    return timer;
  }

  /**
   * The agent of `sessionId` reports having received its first `count` commands: those still
   * on their way are delivered, and each waits a whole lifetime more from now for its answer
   * (the answer comes after the delivery). Returns the commands delivered by this report.
   */
  delivered(sessionId: string, count: number): TrackedCommand[] {
    const out: TrackedCommand[] = [];
    for (const id of this.onTheWayBySession.get(sessionId) ?? []) {
      const entry = this.entries.get(id)!;
      if ((entry.command.seq ?? 0) > count) continue;
      deleteFrom(this.onTheWayByUnit, entry.command.unit, id);
      deleteFrom(this.onTheWayBySession, sessionId, id);
      this.scheduler.clearTimeout(entry.timer);
      entry.timer = this.arm(id, entry.lifetimeMs);
      out.push(entry.command);
    }
    return out;
  }

  /** Nodes a command of `unit` is on its way to (sent, not yet reported received). */
  onTheWay(unit: string): ReadonlySet<string> {
    const ids = this.onTheWayByUnit.get(unit);
    if (!ids) return NONE;
    return new Set([...ids].map((id) => this.entries.get(id)!.command.node));
  }

  /** The answer arrived: returns the command it answers (undefined: unknown, answered or expired). */
  settle(commandId: string): TrackedCommand | undefined {
    const entry = this.entries.get(commandId);
    if (!entry) return undefined;
    this.forget(commandId);
    return entry.command;
  }

  /** The session closed: its commands can no longer be answered. Returns them. */
  sessionClosed(sessionId: string): TrackedCommand[] {
    const dropped: TrackedCommand[] = [];
    for (const [id, entry] of [...this.entries]) {
      if (entry.command.sessionId !== sessionId) continue;
      this.forget(id);
      dropped.push(entry.command);
      this.onExpire(id, entry.command, "session-closed");
    }
    return dropped;
  }

  /** Forgets everything (shutdown). */
  clear(): void {
    for (const id of [...this.entries.keys()]) this.forget(id);
  }

  get size(): number {
    return this.entries.size;
  }

  has(commandId: string): boolean {
    return this.entries.has(commandId);
  }

  private forget(commandId: string): void {
    const entry = this.entries.get(commandId);
    if (!entry) return;
    this.scheduler.clearTimeout(entry.timer);
    this.entries.delete(commandId);
    deleteFrom(this.onTheWayByUnit, entry.command.unit, commandId);
    deleteFrom(this.onTheWayBySession, entry.command.sessionId, commandId);
  }
}

const NONE: ReadonlySet<string> = new Set();

function addTo(index: Map<string, Set<string>>, key: string, id: string): void {
  const ids = index.get(key);
  if (ids) ids.add(id);
  else index.set(key, new Set([id]));
}

function deleteFrom(index: Map<string, Set<string>>, key: string, id: string): void {
  const ids = index.get(key);
  if (ids?.delete(id) && ids.size === 0) index.delete(key);
}
