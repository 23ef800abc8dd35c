/**
 * Adapters from the real host modules to the core's ports. Each is a few
 * lines of translation; the modules and the core stay unaware of each other.
 */
import type { Logger } from "pino";
import type { NginxHealth } from "../shared/protocol.js";
import { parseHostPort } from "../shared/config/net.js";
import type { AgentConfig } from "../shared/config/agent.js";
import type { CommandRunner } from "../shared/exec/runner.js";
import type { LinkPort, NginxPort, ReachPort, ReachState, ReachTarget, TrackPort, UpstreamPort, VerifyPort, VipPort } from "./core/ports.js";
import { LinkWatcher } from "./link/watch.js";
import type { UpstreamApplier } from "./nginx/apply.js";
import type { NginxSupervisor } from "./nginx/supervisor.js";
import { lanProvenFresh, ReachProber, type ReachState as ProbeReachState } from "./probe/reach.js";
import { neighbourProber, verifyVip } from "./probe/verify.js";
import type { TrackScripts } from "./tracks/scripts.js";
import type { VipController } from "./vip/controller.js";
import type { Drainer } from "./vip/drain.js";
import { DRAIN_HOLD_MARGIN_MS } from "./vip/drain-plan.js";
import { vipInterfaces } from "./vip/bindings.js";

/**
 * The VIP port: the controller binds and unbinds; the drainer (planned moves)
 * forwards the old holder's flows before a planned acquire and keeps this
 * host's flows going after a planned release.
 */
export function vipPort(controller: VipController, drainer: Drainer): VipPort {
  return {
    scan: (vips) => controller.scan(vips),
    async acquire(vips, opts) {
      const forwardMs = opts.forwardMs ?? 0;
      // Forwarding goes in before the first GARP moves the clients here. A move back while
      // this host still drains forwards too: its own flows are seeded as known, the old
      // holder's new ones go back to it.
      // One VIP's table does not wait for another's (a dual-stack group has two).
      // An acquire that forwards nothing (a takeover: the old holder is gone) ends any
      // forwarding a planned release of this host's kept: its peer no longer serves.
      if (forwardMs > 0 && !opts.takeover) await Promise.all(vips.map((v) => drainer.forward(v, forwardMs)));
      else await Promise.all(vips.map((v) => drainer.unforward(v)));
      const results = await controller.acquire(vips, { takeover: opts.takeover, beforeChange: opts.moving });
      // Back on the LAN interface: a drain of ours (a move back mid-drain) ends, its flows stay here.
      for (const v of vips) await drainer.endDrain(v.address, "this host holds it again");
      const failed = results.filter((r) => !r.present);
      if (failed.length > 0) throw new Error(failed.map((r) => r.detail).join("; "));
    },
    async release(vips, opts) {
      const drainMs = opts?.drainMs ?? 0;
      // Not one more announcement: the new holder has announced already, and a send left
      // from this host's own burst would turn the clients back here.
      await controller.quiet(vips);
      // Each VIP stays local (on lo, unannounced) before it leaves the LAN interface; the
      // VIPs of a group at once, so a dual-stack group leaves the LAN as soon as a lone VIP would.
      // A planned release keeps this host's forwarding, and the VIP on lo at least as long as a
      // new holder's announcements go on (the coordinator's burst, the same for every member;
      // Drainer.startDrain says why).
      const holdMs = Math.min(drainMs, controller.burstSpanMs() + DRAIN_HOLD_MARGIN_MS);
      await Promise.all(vips.map((v) => (drainMs > 0 ? drainer.startDrain(v, drainMs, opts?.members ?? [], holdMs) : drainer.unforward(v))));
      const results = await controller.release(vips, { beforeChange: opts?.moving });
      const stuck = results.filter((r) => r.present);
      if (stuck.length > 0) throw new Error(stuck.map((r) => r.detail).join("; "));
    },
    draining: () =>
      drainer.status().map((d) => ({
        group: d.group,
        address: d.address,
        connections: d.connections,
        elapsedMs: Math.max(0, Date.now() - d.startedMs),
        timeoutMs: d.timeoutMs,
      })),
    localDrains: () => drainer.localGroups(),
    endDrain: (vip, why) => drainer.endDrain(vip.address, why),
    setGarp(garp) {
      controller.setSchedule({ burstMs: garp.offsetsMs, refreshMs: garp.refreshMs });
    },
    confirm: (vip) => controller.confirmOwnership(vip),
  };
}

export function nginxPort(supervisor: NginxSupervisor): NginxPort {
  return {
    state: () => {
      const s = supervisor.state();
      return { state: s.state as NginxHealth, detail: s.detail };
    },
    onState: (listener) => supervisor.onState((state, detail) => listener(state as NginxHealth, detail)),
    holdDown: (forMs) => supervisor.holdDown(forMs),
  };
}

/**
 * `links`: the interfaces this agent reports as tracks "if:<iface>" (track_interfaces and
 * interface_tracks). Their state is the link's own, without a rise/fall of scripts.
 */
export function trackPort(scripts: TrackScripts, log: Logger, links: string[] = []): TrackPort {
  return {
    current: () => scripts.current(),
    onChange: (listener) => scripts.onChange(listener),
    setPolicy(name, rise, fall) {
      if (name.startsWith("if:")) {
        const iface = name.slice(3);
        if (!links.includes(iface)) {
          const error = `track "${name}": ${iface} is in neither track_interfaces nor interface_tracks of this agent, so it is not reported and counts as failing`;
          log.warn({ event: "track.policy", track: name, error }, error);
        }
        return;
      }
      const error = scripts.setPolicy(name, { rise, fall });
      // The coordinator may track a script this host does not run: the track then counts as failing there.
      if (error) log.warn({ event: "track.policy", track: name, error }, error);
    },
  };
}

/**
 * Per group, two probers: one for the LAN references (this node's own lanOk),
 * never restarted when the node acquires or releases, so a node cut off the
 * LAN stays known as cut off (a fresh prober would start out "lanOk" and make
 * it look eligible again); and one probing the service through the VIP, run
 * only while this node does not hold it.
 */
export function reachPort(log: Logger): ReachPort {
  const lan = new Map<string, { key: string; prober: ReachProber }>();
  const vip = new Map<string, { key: string; prober: ReachProber }>();
  const lanLogged = new Map<string, boolean>();
  /** The lanFresh each group's last report carried. */
  const sent = new Map<string, boolean>();
  const swap = (map: typeof lan, group: string, key: string, make: () => ReachProber | undefined) => {
    if (map.get(group)?.key === key) return;
    map.get(group)?.prober.stop();
    map.delete(group);
    const prober = make();
    if (!prober) return;
    map.set(group, { key, prober });
    prober.start();
  };
  return {
    start(target: ReachTarget, onChange: (s: ReachState) => void) {
      const group = target.group;
      const lanReferences = target.lanReferences.map(parseHostPort).flatMap((r) => (r.ok ? [r.value] : []));
      const lanIntervalMs = Math.min(1000, Math.max(50, target.intervalMs * 10));
      // Above the interval, below what a person notices: 5 intervals, 20..200 ms. The LAN
      // references get the same time as the VIP (the witness rule: same evidence, same bar).
      const probeTimeoutMs = Math.min(200, Math.max(20, target.intervalMs * 5));
      // A report goes out when reachable, lanOk or lanFresh changes (or a kicked LAN round ends):
      // lanFresh can change on any probe, the probers' own onChange does not see it.
      const notify = () => {
        const state = merged(group);
        sent.set(group, state.lanFresh);
        onChange(state);
      };
      const onProbe = () => {
        if (merged(group).lanFresh !== sent.get(group)) notify();
      };
      swap(lan, group, JSON.stringify([lanReferences, lanIntervalMs, probeTimeoutMs]), () =>
        lanReferences.length === 0
          ? undefined
          : new ReachProber({
              group,
              target: { host: target.vip, port: target.port },
              probeVip: false,
              lanReferences,
              lanIntervalMs,
              lanTimeoutMs: probeTimeoutMs,
              onChange: (state) => {
                logLanFlip(group, state);
                notify();
              },
              onProbe,
            }),
      );
      swap(vip, group, JSON.stringify(target), () =>
        !target.probeVip
          ? undefined
          : new ReachProber({
              group,
              target: { host: target.vip, port: target.port, path: target.path || undefined },
              intervalMs: target.intervalMs,
              timeoutMs: probeTimeoutMs,
              failThreshold: target.fall,
              // Only silence counts (docs/design.md, F11): a refusal proves the holder is on the LAN.
              countsAsFailure: (outcome) => outcome === "timeout" || outcome === "error",
              // The witness rule: a LAN round that begins now decides whether this run of failures says anything.
              onFailing: () => lan.get(group)?.prober.kick(),
              onChange: notify,
              onProbe,
            }),
      );
      log.debug({ event: "reach.start", group, probeVip: target.probeVip }, "reach probers set");
    },
    stop(group) {
      lan.get(group)?.prober.stop();
      vip.get(group)?.prober.stop();
      lan.delete(group);
      vip.delete(group);
      sent.delete(group);
      lanLogged.delete(group);
    },
    current(group) {
      if (!lan.has(group) && !vip.has(group)) return undefined;
      return merged(group);
    },
  };

  /** The lanOk each group last logged: a flip is worth a line (it costs a holder its VIP). */
  function logLanFlip(group: string, state: ProbeReachState): void {
    const line = lanFlipLine(lanLogged.get(group), state);
    lanLogged.set(group, state.lanOk);
    if (line?.level === "warn") log.warn({ event: line.event, group, detail: state.lanDetail }, line.message);
    else if (line) log.info({ event: line.event, group }, line.message);
  }

  function merged(group: string): ReachState {
    const v = vip.get(group)?.prober.current();
    const l = lan.get(group)?.prober.current();
    return {
      reachable: v?.reachable ?? true,
      failures: v?.consecutiveFailures ?? 0,
      lanOk: l?.lanOk ?? true,
      lanFresh: lanProvenFresh(v, l),
      lastOk: v?.lastOutcome === "ok",
      observedMs: Date.now(),
    };
  }
}

/**
 * The log line for a group's LAN signal, given the lanOk last logged (undefined: none yet):
 * a warning when it is lost, a line when it is back, nothing when it did not flip (a kicked
 * round reports without a flip) or when the first state is the healthy one.
 */
export function lanFlipLine(
  logged: boolean | undefined,
  state: Pick<ProbeReachState, "group" | "lanOk" | "lanDetail">,
): { level: "warn" | "info"; event: "reach.lan_lost" | "reach.lan_ok"; message: string } | undefined {
  if (logged === state.lanOk || (logged === undefined && state.lanOk)) return undefined;
  return state.lanOk
    ? { level: "info", event: "reach.lan_ok", message: `a LAN reference of ${state.group} answers again` }
    : { level: "warn", event: "reach.lan_lost", message: `no LAN reference of ${state.group} answered: ${state.lanDetail}` };
}

/** LAN verification: the service probe through the VIP, with arping (IPv4) or ndisc6 (IPv6, when installed) alongside. */
export function verifyPort(runner: CommandRunner, config: AgentConfig, log?: Logger): VerifyPort {
  const arp = neighbourProber({ runner, arping: config.arping, ndisc6: config.ndisc6, log });
  return {
    verify: (req) => verifyVip({ vip: req.vip, interface: req.interface, port: req.port, path: req.path || undefined, timeoutMs: req.timeoutMs }, { arp }),
  };
}

/**
 * The full re-read of the links behind `ip monitor link`, which reports every change at once: a
 * safety net for a lost netlink message, each an `ip` process forked from the agent, so 30 s.
 */
const LINK_RESYNC_MS = 30_000;

export function linkPort(runner: CommandRunner, config: AgentConfig, log: Logger): { port: LinkPort; watcher: LinkWatcher } {
  const listeners = new Set<(iface: string, up: boolean) => void>();
  // Both kinds of tracked link (track_interfaces, interface_tracks) and every VIP interface.
  const interfaces = [...new Set([...config.track_interfaces, ...config.interface_tracks, ...vipInterfaces(config)])];
  const watcher = new LinkWatcher({
    runner,
    ip: config.ip,
    resyncMs: LINK_RESYNC_MS,
    interfaces,
    onChange: (state) => {
      log.info(
        { event: state.up ? "link.up" : "link.down", interface: state.interface, detail: state.detail },
        `${state.interface} ${state.up ? "up" : "down"}`,
      );
      for (const l of listeners) l(state.interface, state.up);
    },
  });
  return {
    watcher,
    port: {
      isUp: (iface) => watcher.current(iface),
      onChange(listener) {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
    },
  };
}

export function upstreamPort(applier: UpstreamApplier): UpstreamPort {
  return {
    async apply(config) {
      const r = await applier.apply(config);
      return { version: r.version, ok: r.ok, error: r.error };
    },
  };
}
