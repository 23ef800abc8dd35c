/**
 * Lossless planned moves on this host (drain-plan.ts has the rules and why):
 * the new holder's forwarding of flows it does not know to the old holder,
 * and the old holder's drain of the flows it still serves. Every program runs
 * through the CommandRunner; every timer is bounded by the drain window; the
 * state is kept per VIP address, so a move back in the middle of a drain (this
 * host draining, then told to hold again) ends the drain and keeps its flows.
 *
 * Failures never block a move: a forwarding table that cannot be installed
 * means today's behaviour (flows of the old holder reset), logged; a drain
 * that cannot be set up lets go at once, as a release without drain does.
 */
import type { CommandRunner } from "../../shared/exec/runner.js";
import { silentLogger, type Logger } from "../../shared/log.js";
import {
  DRAIN_INTERFACE,
  DRAIN_LABEL,
  drainSummary,
  drainTable,
  forwardTable,
  parseConnections,
  parseOurTables,
  planConnections,
  planDrainAdd,
  planDrainDel,
  planDrainRuleset,
  planForwardRuleset,
  planListTables,
  planNftScript,
  planRemoveTable,
  planWhoHas,
  type DrainTools,
} from "./drain-plan.js";
import { parseAddresses, parseArpingReplies, parseNdisc6, planAddressShow, planNeighbourSolicit, type VipBinding } from "./plan.js";

/** A drain in progress, as reports show it. */
export interface DrainStatus {
  group: string;
  address: string;
  connections: number;
  startedMs: number;
  timeoutMs: number;
}

export type DrainEventKind = "drain-started" | "drain-ended" | "forward-started" | "forward-failed";

export interface DrainEvent {
  kind: DrainEventKind;
  group: string;
  address: string;
  detail: string;
}

export interface DrainerOptions {
  runner: CommandRunner;
  tools: DrainTools;
  /** The interface's own MAC (the forwarded frames' source, so the LAN's switches keep learning right). */
  macOf: (iface: string) => Promise<string | undefined>;
  /** The interface's own IPv4 address, the ARP sender while the VIP drains. */
  sourceOf: (iface: string) => Promise<string | undefined>;
  /** How often a drain counts its connections. Default 250 ms. */
  pollMs?: number;
  /** Bound on each program. Default 2000 ms. */
  commandTimeoutMs?: number;
  onEvent?: (e: DrainEvent) => void;
  /** A drain started, changed its count or ended: the report is due. */
  onChange?: () => void;
  log?: Logger;
  now?: () => number;
}

interface Drain {
  binding: VipBinding;
  /** The VIP stays on lo at least this long, connections or not (see startDrain). */
  minHoldMs: number;
  /** Addresses whose flows are not waited for: this host's own (its probes through the VIP are local while it drains) and the group's members'. */
  own: Set<string>;
  startedMs: number;
  timeoutMs: number;
  connections: number;
  timer?: NodeJS.Timeout;
  ended: boolean;
  /** Its first count found connections: it is reported and recorded (a drain of nothing ends quietly). */
  announced: boolean;
}

interface Forward {
  binding: VipBinding;
  timer: NodeJS.Timeout;
}

export class Drainer {
  private readonly drains = new Map<string, Drain>();
  private readonly forwards = new Map<string, Forward>();
  private readonly sources = new Map<string, string>();
  private readonly log: Logger;
  private readonly now: () => number;
  private closed = false;

  constructor(private readonly opts: DrainerOptions) {
    this.log = opts.log ?? silentLogger;
    this.now = opts.now ?? Date.now;
  }

  /** Drains in progress. */
  /**
   * Groups whose VIP is still on lo here: every drain, announced or not (a drain of this
   * host's own probes only is never reported), until its removal begins. The flip comes
   * before the address is deleted, so whatever the deletion cuts (a probe of this host's own
   * through the VIP) is seen as cut by this host's own move.
   */
  localGroups(): string[] {
    return [...new Set([...this.drains.values()].filter((d) => !d.ended).map((d) => d.binding.group))];
  }

  status(): DrainStatus[] {
    return [...this.drains.values()]
      .filter((d) => d.announced)
      .map((d) => ({
        group: d.binding.group,
        address: d.binding.address,
        connections: d.connections,
        startedMs: d.startedMs,
        timeoutMs: d.timeoutMs,
      }));
  }

  /**
   * At start: what an earlier process left (a drain cut short by a restart)
   * is removed, so no ARP filter outlives the drain it served.
   */
  async clean(knownVips: readonly string[] = []): Promise<void> {
    const listed = await this.run(planListTables(this.opts.tools));
    const tables = listed.exitCode === 0 ? parseOurTables(listed.stdout) : [];
    if (tables.length > 0) {
      await this.nft(tables.map((t) => planRemoveTable(t.family, t.name)).join(""));
      this.log.warn({ event: "drain.cleaned", tables: tables.map((t) => t.name) }, `removed ${tables.length} drain/forward table(s) an earlier agent left`);
    }
    const lo = await this.run(planAddressShow({ ip: this.opts.tools.ip, arping: this.opts.tools.arping }, DRAIN_INTERFACE));
    const parsed = lo.exitCode === 0 ? parseAddresses(lo.stdout) : undefined;
    // IPv4 drains carry a label; IPv6 addresses have none: a /128 on lo that is one of the
    // VIPs this agent last knew is a drain's copy.
    const known = new Set(knownVips);
    const left =
      typeof parsed === "object"
        ? (parsed.get(DRAIN_INTERFACE) ?? []).filter((a) => a.label === DRAIN_LABEL || (a.family === 6 && a.prefix === 128 && known.has(a.address)))
        : [];
    for (const a of left) {
      const r = await this.run(planDrainDel(this.opts.tools, a.address));
      if (r.exitCode === 0) this.log.warn({ event: "drain.cleaned", address: a.address }, `removed ${a.address} from lo: a drain an earlier agent left`);
    }
  }

  /**
   * Before this host announces a VIP in a planned move: forward the packets of
   * flows it does not know to whoever answers for the VIP now, for `forMs`.
   * Returns once installed (or given up: nothing answers, or nft failed).
   */
  async forward(b: VipBinding, forMs: number): Promise<void> {
    if (forMs <= 0 || this.closed) return;
    const own = await this.opts.macOf(b.interface);
    let peer: string | undefined;
    if (b.family === 6) {
      // ndisc6 asks who answers for an IPv6 VIP (arping's role for IPv4).
      if (!this.opts.tools.ndisc6) {
        this.log.info({ event: "forward.skipped", group: b.group, address: b.address }, `${b.address}: no ndisc6 to ask who answers for it; nothing forwarded`);
        return;
      }
      const who = await this.run(planNeighbourSolicit(this.opts.tools.ndisc6, b.interface, b.address, 1000));
      peer = parseNdisc6(who.stdout).find((m) => m !== own?.toLowerCase());
    } else {
      const who = await this.run(planWhoHas(this.opts.tools, b.interface, b.address));
      peer = parseArpingReplies(who.stdout)
        .map((r) => r.mac)
        .find((m) => m !== own);
    }
    if (!own || !peer) {
      this.log.info({ event: "forward.skipped", group: b.group, address: b.address }, `${b.address}: no other host answers for it; nothing to forward`);
      return;
    }
    const mine = await this.connections(b.address);
    let script: string;
    try {
      script = planForwardRuleset(b, { ownMac: own, peerMac: peer, mine, holdMs: forMs + 60_000 });
    } catch (err) {
      this.fail(b, (err as Error).message);
      return;
    }
    const r = await this.nft(script);
    if (r.exitCode !== 0) {
      this.fail(b, `nft: ${oneLine(r.stderr || r.spawnError)}`);
      return;
    }
    this.stopForwardTimer(b.address);
    const timer = setTimeout(() => void this.unforward(b), forMs);
    timer.unref();
    this.forwards.set(b.address, { binding: b, timer });
    this.emit("forward-started", b, `${b.address}: flows this host does not know go to ${peer} (the old holder) for up to ${Math.round(forMs / 1000)} s`);
  }

  /** Stops forwarding (its window ended, or this host lets go of the VIP without a drain). */
  async unforward(b: VipBinding): Promise<void> {
    const had = this.forwards.has(b.address);
    this.stopForwardTimer(b.address);
    this.forwards.delete(b.address);
    if (!had) return;
    const r = await this.nft(planRemoveTable("netdev", forwardTable(b.address)));
    if (r.exitCode !== 0)
      this.log.error({ event: "forward.remove_failed", address: b.address, error: oneLine(r.stderr) }, "could not remove the forwarding table");
    else this.log.info({ event: "forward.ended", group: b.group, address: b.address }, `${b.address}: forwarding ended`);
  }

  /**
   * This host lets go of a VIP in a planned move: before `release` removes it
   * from the LAN interface, the VIP is put on `lo` behind an ARP filter, so
   * established flows go on while the LAN asks the new holder. Returns whether
   * a drain started (false: release as before).
   *
   * The copy on lo stays at least `minHoldMs`, even with nothing to drain: an announcement
   * of this host's that crossed the new holder's first one (sent before this release came)
   * turns the clients back here until the new holder's next send, and what they open here
   * meanwhile is served and drained rather than lost.
   */
  async startDrain(b: VipBinding, timeoutMs: number, members: readonly string[] = [], minHoldMs = 0): Promise<boolean> {
    if (timeoutMs <= 0 || this.closed) return false;
    // This host's forwarding (if it took the VIP in a planned move) stays for its window: a
    // client the LAN has not turned yet (an announcement of ours crossed the new holder's)
    // still sends the flows this host does not know here, and they go on to their owner
    // instead of meeting a reset from the VIP's copy on lo. Frames from that owner are never
    // sent back, and its own forwarding sends this host's flows here: nothing loops.
    if (this.drains.has(b.address)) return true;
    if (b.family === 6) {
      // No filter: the kernel answers neighbour solicitations only for the receiving
      // interface's addresses, so the VIP on lo is local here and silent on the LAN.
      const add6 = await this.run(planDrainAdd(this.opts.tools, b.address));
      if (add6.exitCode !== 0 && !/File exists/i.test(add6.stderr)) {
        this.log.error({ event: "drain.failed", address: b.address, error: oneLine(add6.stderr) }, "could not keep the VIP on lo: releasing without a drain");
        return false;
      }
      return this.begin(b, new Set([b.address, ...members]), timeoutMs, minHoldMs);
    }
    // Every step here delays the old holder's leaving the LAN (the overlap of a planned
    // move): two programs, and the connections are counted only once it has left.
    const source = await this.sourceOf(b.interface);
    // Not waited for: this host's own probes, and the group's members' (an agent probes the
    // service through the VIP; once a member holds the VIP it routes it to itself, so a probe
    // of its that was open here never ends: only the server's idle timeout would close it).
    const own = new Set([b.address, ...(source ? [source] : []), ...members]);
    if (!source) {
      this.log.warn(
        { event: "drain.skipped", address: b.address },
        `${b.interface} has no IPv4 address of its own to answer ARP with: releasing without a drain`,
      );
      return false;
    }
    const filter = await this.nft(planDrainRuleset(b.address, source));
    if (filter.exitCode !== 0) {
      this.log.error({ event: "drain.failed", address: b.address, error: oneLine(filter.stderr) }, "ARP filter refused: releasing without a drain");
      return false;
    }
    const add = await this.run(planDrainAdd(this.opts.tools, b.address));
    if (add.exitCode !== 0 && !/File exists/i.test(add.stderr)) {
      await this.nft(planRemoveTable("arp", drainTable(b.address)));
      this.log.error({ event: "drain.failed", address: b.address, error: oneLine(add.stderr) }, "could not keep the VIP on lo: releasing without a drain");
      return false;
    }
    return this.begin(b, own, timeoutMs, minHoldMs);
  }

  /** The VIP is on lo: the drain is recorded and counts its connections at once. */
  private begin(b: VipBinding, own: Set<string>, timeoutMs: number, minHoldMs: number): true {
    const d: Drain = { binding: b, minHoldMs, own, startedMs: this.now(), timeoutMs, connections: 0, ended: false, announced: false };
    this.drains.set(b.address, d);
    this.schedulePoll(d, 0);
    return true;
  }

  /** The interface's own address, asked once (the ARP sender while a VIP drains). */
  private async sourceOf(iface: string): Promise<string | undefined> {
    const known = this.sources.get(iface);
    if (known) return known;
    const found = await this.opts.sourceOf(iface);
    if (found) this.sources.set(iface, found);
    return found;
  }

  /**
   * This host holds the VIP again (a move back mid-drain): its flows are
   * local already; the VIP is on the LAN interface by now (the caller adds it
   * first), so the drain's own copy and filter go without a gap.
   */
  async endDrain(address: string, why: string): Promise<void> {
    const d = this.drains.get(address);
    if (!d) return;
    await this.finish(d, why, false);
  }

  /** Waits for every drain to end (agent stop), at most `maxMs`; `onWait` once if there is one to wait for. */
  async settle(maxMs: number, onWait?: () => void): Promise<void> {
    if (this.drains.size > 0) onWait?.();
    const until = this.now() + maxMs;
    while (this.drains.size > 0 && this.now() < until) await new Promise((r) => setTimeout(r, Math.min(100, this.opts.pollMs ?? 250)));
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const f of [...this.forwards.values()]) await this.unforward(f.binding);
    for (const d of [...this.drains.values()]) await this.finish(d, "the agent stops", true);
  }

  private schedulePoll(d: Drain, afterMs = this.opts.pollMs ?? 250): void {
    d.timer = setTimeout(() => void this.poll(d), afterMs);
    d.timer.unref();
  }

  private async poll(d: Drain): Promise<void> {
    if (d.ended) return;
    const left = (await this.connections(d.binding.address, d.own)).length;
    if (d.ended) return;
    const held = this.now() - d.startedMs;
    if (left === 0 && held < d.minHoldMs) {
      if (d.announced && d.connections !== 0) {
        d.connections = 0;
        this.opts.onChange?.();
      }
      return this.schedulePoll(d, Math.min(this.opts.pollMs ?? 250, d.minHoldMs - held));
    }
    if (!d.announced) {
      if (left === 0) return this.finish(d, "", false);
      d.announced = true;
      d.connections = left;
      const b = d.binding;
      this.emit("drain-started", b, `${b.group}: ${b.address} drains ${left} connection${left === 1 ? "" : "s"} (at most ${Math.round(d.timeoutMs / 1000)} s)`);
      this.opts.onChange?.();
    } else if (left !== d.connections) {
      d.connections = left;
      this.opts.onChange?.();
    }
    if (left === 0) return this.finish(d, "", false);
    if (this.now() - d.startedMs >= d.timeoutMs) return this.finish(d, "", true);
    this.schedulePoll(d);
  }

  private async finish(d: Drain, why: string, cut: boolean): Promise<void> {
    if (d.ended) return;
    d.ended = true;
    if (d.timer) clearTimeout(d.timer);
    const address = d.binding.address;
    await this.run(planDrainDel(this.opts.tools, address));
    if (d.binding.family === 4) await this.nft(planRemoveTable("arp", drainTable(address)));
    this.drains.delete(address);
    if (!d.announced) {
      this.log.info({ event: "drain.none", group: d.binding.group, address }, `${address}: no connection to drain`);
      return;
    }
    const summary = why
      ? `${d.binding.group}: ${address} drain ended after ${((this.now() - d.startedMs) / 1000).toFixed(1)} s: ${why}`
      : drainSummary(d.binding.group, address, { elapsedMs: this.now() - d.startedMs, left: d.connections, timedOut: cut });
    this.emit("drain-ended", d.binding, summary);
    this.opts.onChange?.();
  }

  /** Live client flows on the VIP: none from this host itself, nor from loopback. */
  private async connections(address: string, own: ReadonlySet<string> = new Set()) {
    const r = await this.run(planConnections(this.opts.tools, address));
    return r.exitCode === 0 ? parseConnections(r.stdout).filter((f) => !own.has(f.address) && !f.address.startsWith("127.")) : [];
  }

  private stopForwardTimer(address: string): void {
    const f = this.forwards.get(address);
    if (f) clearTimeout(f.timer);
  }

  private fail(b: VipBinding, error: string): void {
    this.emit("forward-failed", b, `${b.address}: cannot forward the old holder's flows (${error}); they will be reset`);
  }

  private emit(kind: DrainEventKind, b: VipBinding, detail: string): void {
    const level = kind === "forward-failed" ? "error" : "info";
    this.log[level]({ event: `vip.${kind}`, group: b.group, address: b.address }, detail);
    this.opts.onEvent?.({ kind, group: b.group, address: b.address, detail });
  }

  private nft(script: string) {
    return this.opts.runner.run(planNftScript(this.opts.tools), { timeoutMs: this.opts.commandTimeoutMs ?? 2000, input: script });
  }

  private run(argv: string[]) {
    return this.opts.runner.run(argv, { timeoutMs: this.opts.commandTimeoutMs ?? 2000 });
  }
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, " ").trim().slice(0, 300);
}
