/**
 * The VIPs of this host, level-triggered: the controller keeps the set the
 * agent wants held and makes the interfaces match it (add + announce, del), and
 * watches the addresses so a VIP deleted behind its back is put back and
 * announced at once. Each VIP has its own announcement burst: gratuitous ARP
 * for IPv4, unsolicited neighbour advertisements (na6) for IPv6
 * (docs/design.md, Announcing IPv6 VIPs). It decides nothing about *who* should hold a VIP: that
 * is the coordinator's; this only makes the host say what it was told.
 *
 * All mutations and re-reads run one at a time (a promise queue), so a
 * release can never race a drift repair into re-adding what was just removed.
 */
import { constants } from "node:fs";
import { access } from "node:fs/promises";
import type { CommandRunner, RunningProcess } from "../../shared/exec/runner.js";
import { silentLogger, type Logger } from "../../shared/log.js";
import { GarpBurst } from "./garp.js";
import {
  DEFAULT_GARP_SCHEDULE,
  addOutcome,
  delOutcome,
  ipv6ForwardingKey,
  isPresent,
  neighbourAnswer,
  parseAddresses,
  parseArpingReplies,
  parseLinkMac,
  planAddressAdd,
  planAddressDel,
  planAddressMonitor,
  planAddressShow,
  planDuplicateProbe,
  planLinkShow,
  planNeighbourAdvert,
  planNeighbourSolicit,
  vipAddressProblem,
  vipKey,
  type AddOutcome,
  type DelOutcome,
  type GarpSchedule,
  type InterfaceAddresses,
  type VipBinding,
  type VipTools,
} from "./plan.js";
import { SerialQueue } from "../../shared/serial-queue.js";
import { procSysctl, type SysctlPort } from "./sysctl.js";

export type VipEventKind = "acquired" | "released" | "drift-repaired" | "drift-repair-failed" | "unexpected" | "garp-failed" | "watch-failed";

/** Something that happened to a VIP, for logs, metrics and the coordinator. */
export interface VipEvent {
  kind: VipEventKind;
  group: string;
  address: string;
  interface: string;
  /** A sentence saying what and why. */
  detail: string;
  atMs: number;
}

/** What acquire/release did to one binding. */
export interface VipResult {
  binding: VipBinding;
  /** "unusable": an IPv6 address that is on its interface but tentative or dadfailed (it does not serve). */
  outcome: AddOutcome | DelOutcome | "unusable";
  /** Whether the address is on its interface now (the truth, whatever the outcome). */
  present: boolean;
  detail: string;
}

export interface VipControllerOptions {
  runner: CommandRunner;
  tools: VipTools;
  /** Overrides of DEFAULT_GARP_SCHEDULE (refreshMs: keepalived's garp_master_refresh). */
  schedule?: Partial<GarpSchedule>;
  /** The bindings configured for this host: one appearing while not held is reported "unexpected". */
  configured?: VipBinding[];
  /** Re-read addresses this often even without a monitor line, in case `ip monitor` died quietly (0 = never). Default 2000. */
  pollMs?: number;
  /** See GarpBurstOptions.firstSendSettleMs. */
  firstSendSettleMs?: number;
  /** Bound on each `ip` call. Default 2000. */
  commandTimeoutMs?: number;
  onEvent?: (e: VipEvent) => void;
  log?: Logger;
  /** Where net.ipv6.conf.IF.forwarding is read (the router flag of IPv6 announcements). Default: /proc/sys. */
  sysctl?: SysctlPort;
  /** Whether a tool is installed (tools.na6, tools.ndisc6). Default: executable at that path. */
  toolExists?: (path: string) => Promise<boolean>;
}

/** How long confirmOwnership's ndisc6 waits for an answer (arping -D's whole second, for IPv4). */
const SOLICIT_WAIT_MS = 1000;

export class VipController {
  private readonly known = new Map<string, VipBinding>();
  private readonly desired = new Map<string, VipBinding>();
  private readonly present = new Set<string>();
  private readonly reportedUnexpected = new Set<string>();
  private readonly bursts = new Map<string, GarpBurst>();
  private readonly macs = new Map<string, string>();
  private ndisc6Missing = false;
  private schedule: GarpSchedule;
  private readonly log: Logger;
  private readonly queue = new SerialQueue();
  private monitor: RunningProcess | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private reconcileQueued = false;
  private closed = false;

  constructor(private readonly opts: VipControllerOptions) {
    this.schedule = { ...DEFAULT_GARP_SCHEDULE, ...opts.schedule };
    this.log = opts.log ?? silentLogger;
    for (const b of opts.configured ?? []) this.known.set(vipKey(b), b);
  }

  /**
   * The coordinator's GARP timing (welcome): the normal burst and the refresh;
   * a takeover keeps its denser burst, never sparser than the normal one.
   */
  setSchedule(s: Partial<GarpSchedule>): void {
    this.schedule = { ...this.schedule, ...s };
  }

  /** How long a planned acquire's announcements go on: the normal burst's last send. */
  burstSpanMs(): number {
    return Math.max(0, ...this.schedule.burstMs);
  }

  /** Which of these bindings are on their interfaces now. Reports only: nothing is added or removed. */
  scan(bindings: VipBinding[]): Promise<VipBinding[]> {
    return this.serial(async () => {
      const addrs = await this.readAddresses();
      const found: VipBinding[] = [];
      for (const b of bindings) {
        const key = vipKey(b);
        this.known.set(key, b);
        this.setPresent(key, isPresent(addrs, b));
        // Reported to the caller here, so the watcher does not call it unexpected too.
        if (isPresent(addrs, b)) {
          found.push(b);
          this.reportedUnexpected.add(key);
        }
      }
      return found;
    });
  }

  /**
   * Makes each binding present and announces it. Resolves once every address
   * is added and its first announcement is out; the rest of the burst runs on
   * in the background. Already held = no-op (no GARP unless `takeover`).
   * An IPv6 address must serve once added: one that is tentative or dadfailed
   * (found there, added by someone else without `nodad`) is a failure, outcome
   * "unusable"; one found already there is announced once that is checked.
   * `beforeChange` is called right before each `ip addr add`, the instant the kernel's
   * routes for that address change (never for one found already there).
   */
  acquire(bindings: VipBinding[], options: { takeover?: boolean; garp?: boolean; beforeChange?: (b: VipBinding) => void } = {}): Promise<VipResult[]> {
    const { takeover = false, garp = true } = options;
    return this.serial(async () => {
      const addrs = await this.readAddresses();
      const results: VipResult[] = [];
      const firstSends: Promise<void>[] = [];
      /** IPv6 bindings found already there, checked for tentative/dadfailed once all are added (`at`: their place in results). */
      const v6: Array<{ b: VipBinding; at: number; wasHeld: boolean; outcome: AddOutcome; detail: string }> = [];
      for (const b of bindings) {
        const key = vipKey(b);
        this.known.set(key, b);
        const wasHeld = this.desired.has(key) && isPresent(addrs, b);
        let outcome: AddOutcome = "already-present";
        let detail = `${b.address}/${b.prefix} already on ${b.interface}`;
        if (!isPresent(addrs, b)) {
          options.beforeChange?.(b);
          const r = await this.opts.runner.run(planAddressAdd(this.opts.tools, b), { timeoutMs: this.timeout() });
          outcome = addOutcome(r);
          detail = outcome === "failed" ? `${r.argv.join(" ")}: ${oneLine(r.stderr || r.spawnError)}` : `${b.address}/${b.prefix} on ${b.interface}`;
        }
        if (outcome === "failed") {
          results.push({ binding: b, outcome, present: false, detail });
          continue;
        }
        if (b.family === 6 && outcome !== "added") {
          // Found already there (someone else's add, or ours before a restart): it may be
          // tentative or dadfailed, checked below. One this call added has `nodad`: it serves
          // at once, and is announced without waiting for the check.
          v6.push({ b, at: results.length, wasHeld, outcome, detail });
          results.push({ binding: b, outcome, present: true, detail });
          continue;
        }
        this.hold(b, wasHeld, `${detail}${takeover ? " (takeover)" : ""}`);
        // Every acquire announces, held or not: the coordinator asks a node to
        // acquire when it must become the holder, and neighbours may still point
        // at another node's MAC (a preempt back to a node that never released).
        if (garp) firstSends.push(this.announce(b, takeover));
        results.push({ binding: b, outcome, present: true, detail });
      }
      if (v6.length > 0) {
        const now = await this.readAddresses();
        for (const { b, at, wasHeld, outcome, detail } of v6) {
          const problem = vipAddressProblem(now, b);
          if (problem !== undefined) {
            this.log.warn({ event: "vip.unusable", group: b.group, vip: b.address, interface: b.interface, detail: problem }, problem);
            results[at] = { binding: b, outcome: "unusable", present: false, detail: problem };
            // Reported here, as this acquire's failure: the watcher does not call it unexpected too.
            this.reportedUnexpected.add(vipKey(b));
            continue;
          }
          this.hold(b, wasHeld, `${detail}${takeover ? " (takeover)" : ""}`);
          results[at] = { binding: b, outcome, present: true, detail };
          if (garp) firstSends.push(this.announce(b, takeover));
        }
      }
      await Promise.all(firstSends);
      return results;
    });
  }

  /** Records a binding as held (desired and present), reporting "acquired" unless it already was. */
  private hold(b: VipBinding, wasHeld: boolean, detail: string): void {
    const key = vipKey(b);
    this.desired.set(key, b);
    this.setPresent(key, true);
    this.reportedUnexpected.delete(key);
    if (!wasHeld) this.emit("acquired", b, detail);
  }

  /**
   * Makes each binding absent and stops its announcements. Already absent = no-op.
   * `beforeChange` is called right before each `ip addr del`, the instant the kernel's
   * routes for that address change.
   */
  release(bindings: VipBinding[], options: { beforeChange?: (b: VipBinding) => void } = {}): Promise<VipResult[]> {
    return this.serial(async () => {
      const results: VipResult[] = [];
      for (const b of bindings) {
        const key = vipKey(b);
        this.known.set(key, b);
        const wasDesired = this.desired.delete(key);
        await this.stopAnnouncing(key);
        options.beforeChange?.(b);
        const r = await this.opts.runner.run(planAddressDel(this.opts.tools, b), { timeoutMs: this.timeout() });
        const outcome = delOutcome(r);
        const detail = outcome === "failed" ? `${r.argv.join(" ")}: ${oneLine(r.stderr || r.spawnError)}` : `${b.address}/${b.prefix} off ${b.interface}`;
        if (outcome !== "failed") this.setPresent(key, false);
        // Our own removal is not "unexpected" when the monitor sees it.
        this.reportedUnexpected.delete(key);
        if (outcome === "removed" || (wasDesired && outcome === "already-absent")) this.emit("released", b, detail);
        results.push({ binding: b, outcome, present: outcome === "failed", detail });
      }
      return results;
    });
  }

  /**
   * Stops announcing these bindings now, ahead of whatever is queued (the addresses stay).
   * A planned release calls it first: from the moment another node holds the VIP, one more
   * gratuitous ARP of ours (a burst still running from an earlier acquire) would turn the
   * clients back to this host while it sets up its drain.
   */
  async quiet(bindings: VipBinding[]): Promise<void> {
    await Promise.all(bindings.map((b) => this.stopAnnouncing(vipKey(b))));
  }

  /** Bindings desired and present (as last observed). */
  held(): VipBinding[] {
    return [...this.desired.entries()].filter(([key]) => this.present.has(key)).map(([, b]) => b);
  }

  /**
   * After a takeover: does any *other* host still answer ARP for the VIP?
   * `arping -D` asks from 0.0.0.0, so our own copy never replies (verified);
   * exit 0 after the full second = nobody else. Takes ~1 s when confirmed,
   * ~20 ms when not; the caller re-announces and asks again when not.
   * IPv6: `ndisc6` solicits the VIP from our link-local address (our own copy
   * does not answer that either, verified), 1 s; without ndisc6 installed
   * nobody can be asked and the takeover counts as confirmed, saying so.
   */
  async confirmOwnership(b: VipBinding): Promise<{ confirmed: boolean; detail: string }> {
    const addrs = await this.readAddresses();
    if (!isPresent(addrs, b)) return { confirmed: false, detail: `${b.address}/${b.prefix} is not on ${b.interface}` };
    if (b.family === 6) return this.confirmNeighbours(b);
    const own = await this.ownMac(b.interface);
    const r = await this.opts.runner.run(planDuplicateProbe(this.opts.tools, b.interface, b.address), { timeoutMs: 3000 });
    const others = parseArpingReplies(r.stdout).filter((rep) => rep.mac !== own);
    if (others.length > 0) return { confirmed: false, detail: `${b.address} also answered by ${[...new Set(others.map((o) => o.mac))].join(", ")}` };
    if (r.exitCode === 0) return { confirmed: true, detail: `no other host answered ARP for ${b.address} on ${b.interface} within 1 s` };
    return { confirmed: false, detail: `${r.argv.join(" ")} exited ${r.exitCode}: ${oneLine(r.stderr || r.stdout || r.spawnError)}` };
  }

  private async confirmNeighbours(b: VipBinding): Promise<{ confirmed: boolean; detail: string }> {
    const ndisc6 = this.opts.tools.ndisc6;
    if (ndisc6 === undefined || !(await this.toolExists(ndisc6))) {
      const why = `${ndisc6 ?? "ndisc6"} is not installed (Debian package ndisc6)`;
      if (!this.ndisc6Missing) {
        this.ndisc6Missing = true;
        this.log.warn({ event: "vip.ndisc6_missing", path: ndisc6 }, `${why}: IPv6 takeovers are not confirmed on the LAN`);
      }
      return { confirmed: true, detail: `could not ask who answers for ${b.address} on ${b.interface}: ${why}` };
    }
    const own = await this.ownMac(b.interface);
    const r = await this.opts.runner.run(planNeighbourSolicit(ndisc6, b.interface, b.address, SOLICIT_WAIT_MS), { timeoutMs: SOLICIT_WAIT_MS + 2000 });
    const answer = neighbourAnswer(r, own);
    switch (answer.kind) {
      case "others":
        return { confirmed: false, detail: `${b.address} also answered by ${answer.macs.join(", ")}` };
      case "own":
      case "nobody":
        return { confirmed: true, detail: `no other host answered neighbour solicitations for ${b.address} on ${b.interface} within 1 s` };
      case "error":
        return { confirmed: false, detail: `${r.argv.join(" ")}: ${answer.detail}` };
    }
  }

  /** Starts watching addresses (`ip monitor address` + a slow poll) so drift is repaired. */
  async start(): Promise<void> {
    this.startMonitor();
    if (this.opts.pollMs !== 0) this.pollTimer = setInterval(() => this.nudge(), this.opts.pollMs ?? 2000);
    await this.reconcile();
  }

  /** Re-reads addresses now: repairs held VIPs that vanished, reports configured ones that appeared. */
  reconcile(): Promise<void> {
    return this.serial(() => this.repair());
  }

  /** Stops watchers, timers and every process this controller started. Addresses stay as they are. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.pollTimer);
    clearTimeout(this.restartTimer);
    const monitor = this.monitor;
    monitor?.kill("SIGTERM");
    // Let a running acquire/repair finish first (bounded by command timeouts), then end its bursts.
    await this.queue.idle();
    await Promise.all([...this.bursts.keys()].map((key) => this.stopAnnouncing(key)));
    await monitor?.exited;
  }

  private async repair(): Promise<void> {
    if (this.closed) return;
    let addrs: InterfaceAddresses;
    try {
      addrs = await this.readAddresses();
    } catch (err) {
      this.log.warn({ event: "vip.watch", err: String(err) }, "cannot read addresses");
      return;
    }
    for (const [key, b] of this.known) {
      const here = isPresent(addrs, b);
      this.setPresent(key, here);
      if (this.desired.has(key)) {
        if (here) continue;
        const started = Date.now();
        const r = await this.opts.runner.run(planAddressAdd(this.opts.tools, b), { timeoutMs: this.timeout() });
        if (addOutcome(r) === "failed") {
          this.emit(
            "drift-repair-failed",
            b,
            `${b.address}/${b.prefix} vanished from ${b.interface} and could not be re-added: ${oneLine(r.stderr || r.spawnError)}`,
          );
          continue;
        }
        this.setPresent(key, true);
        await this.announce(b, false);
        this.emit("drift-repaired", b, `${b.address}/${b.prefix} vanished from ${b.interface}; re-added and announced in ${Date.now() - started} ms`);
      } else if (here && !this.reportedUnexpected.has(key)) {
        this.reportedUnexpected.add(key);
        this.emit("unexpected", b, `${b.address}/${b.prefix} appeared on ${b.interface} while this host does not hold group ${b.group}`);
      } else if (!here) {
        this.reportedUnexpected.delete(key);
      }
    }
  }

  private startMonitor(): void {
    if (this.closed) return;
    const argv = planAddressMonitor(this.opts.tools);
    const proc = this.opts.runner.start(argv, { onStdoutLine: () => this.nudge() });
    this.monitor = proc;
    void proc.exited.then((r) => {
      if (this.closed) return;
      const why = `${argv.join(" ")} ended (exit ${r.exitCode}${r.signal ? `, ${r.signal}` : ""}): ${oneLine(r.stderr || r.spawnError)}; restarting in 500 ms`;
      this.log.warn({ event: "vip.watch", detail: why }, "address monitor ended");
      this.opts.onEvent?.({ kind: "watch-failed", group: "", address: "", interface: "", detail: why, atMs: Date.now() });
      this.restartTimer = setTimeout(() => {
        this.startMonitor();
        this.nudge();
      }, 500);
    });
  }

  /** Coalesces bursts of monitor lines into one re-read queued behind whatever runs now. */
  private nudge(): void {
    if (this.reconcileQueued || this.closed) return;
    this.reconcileQueued = true;
    void this.serial(async () => {
      this.reconcileQueued = false;
      await this.repair();
    });
  }

  /**
   * (Re)starts a VIP's burst; resolves once its first send is out (or failed).
   * An IPv6 VIP without na6 installed is reported once here, and not announced.
   */
  private async announce(b: VipBinding, takeover: boolean): Promise<void> {
    if (this.closed) return;
    const key = vipKey(b);
    void this.bursts.get(key)?.cancel();
    this.bursts.delete(key);
    let v6: { plan: () => Promise<{ argv: string[] } | { error: string }>; firstSentAtExit: true; sendTimeoutMs: number } | undefined;
    if (b.family === 6) {
      const na6 = this.opts.tools.na6;
      if (na6 === undefined || !(await this.toolExists(na6))) {
        this.emit("garp-failed", b, `${na6 ?? "na6"} is not installed (Debian package ipv6toolkit): ${b.address} on ${b.interface} is held but not announced`);
        return;
      }
      if (this.closed) return;
      v6 = { plan: () => this.neighbourAdvert(na6, b), firstSentAtExit: true, sendTimeoutMs: this.timeout() };
    }
    const burst = new GarpBurst(b, takeover, {
      runner: this.opts.runner,
      tools: this.opts.tools,
      schedule: this.schedule,
      firstSendSettleMs: this.opts.firstSendSettleMs,
      ...v6,
      onFailure: (f) => this.emit("garp-failed", f.binding, f.detail),
    });
    this.bursts.set(key, burst);
    await burst.firstSent;
  }

  private async stopAnnouncing(key: string): Promise<void> {
    const burst = this.bursts.get(key);
    this.bursts.delete(key);
    await burst?.cancel();
  }

  /**
   * One unsolicited neighbour advertisement for an IPv6 VIP (planNeighbourAdvert),
   * its router flag as the interface's IPv6 forwarding is now (as keepalived
   * reads it at every send): a host turned router is announced as one.
   */
  private async neighbourAdvert(na6: string, b: VipBinding): Promise<{ argv: string[] } | { error: string }> {
    const key = ipv6ForwardingKey(b.interface);
    const forwarding = await (this.opts.sysctl ?? procSysctl).read(key);
    if ("error" in forwarding)
      return { error: `cannot read ${key.replaceAll("/", ".")} (${forwarding.error}) for the router flag of ${b.address}'s neighbour advertisement` };
    return { argv: planNeighbourAdvert(na6, b, forwarding.value !== "0") };
  }

  private async toolExists(path: string): Promise<boolean> {
    if (this.opts.toolExists) return this.opts.toolExists(path);
    try {
      await access(path, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  }

  private async readAddresses(): Promise<InterfaceAddresses> {
    const r = await this.opts.runner.run(planAddressShow(this.opts.tools), { timeoutMs: this.timeout() });
    if (r.exitCode !== 0) throw new Error(`${r.argv.join(" ")} exited ${r.exitCode}: ${oneLine(r.stderr || r.spawnError)}`);
    const parsed = parseAddresses(r.stdout);
    if (typeof parsed === "string") throw new Error(parsed);
    return parsed;
  }

  /** The interface's own MAC. */
  interfaceMac(iface: string): Promise<string | undefined> {
    return this.ownMac(iface);
  }

  /** The interface's own IPv4 address: its first one that is not a VIP. */
  async interfaceAddress(iface: string): Promise<string | undefined> {
    const addrs = await this.readAddresses();
    const vips = new Set([...this.known.values()].map((b) => b.address));
    return addrs.get(iface)?.find((a) => a.family === 4 && !vips.has(a.address))?.address;
  }

  private async ownMac(iface: string): Promise<string | undefined> {
    if (!this.macs.has(iface)) {
      const r = await this.opts.runner.run(planLinkShow(this.opts.tools, iface), { timeoutMs: this.timeout() });
      const mac = parseLinkMac(r.stdout);
      if (mac !== undefined) this.macs.set(iface, mac);
    }
    return this.macs.get(iface);
  }

  private setPresent(key: string, here: boolean): void {
    if (here) this.present.add(key);
    else this.present.delete(key);
  }

  private emit(kind: VipEventKind, b: VipBinding, detail: string): void {
    const e: VipEvent = { kind, group: b.group, address: b.address, interface: b.interface, detail, atMs: Date.now() };
    this.log.info({ event: `vip.${kind}`, group: b.group, vip: b.address, interface: b.interface, detail }, detail);
    this.opts.onEvent?.(e);
  }

  private timeout(): number {
    return this.opts.commandTimeoutMs ?? 2000;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    return this.queue.run(fn);
  }
}

function oneLine(text: string): string {
  return text.trim().split("\n").filter(Boolean).slice(-1)[0] ?? "";
}
