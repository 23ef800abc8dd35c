/**
 * LAN verification before a takeover (docs/design.md, Moves and safety): is the VIP
 * still served on the LAN by a holder the coordinator lost? The service probe
 * through the VIP decides; `arping -D` (IPv4) or `ndisc6` (IPv6) runs alongside
 * as supporting evidence. The answer is given the moment it is known: a
 * takeover must not wait for arping's whole second to learn that nobody answered.
 */
import { constants } from "node:fs";
import { access } from "node:fs/promises";
import { isIPv6 } from "node:net";
import type { CommandRunner } from "../../shared/exec/runner.js";
import { silentLogger, type Logger } from "../../shared/log.js";
import { neighbourAnswer, parseArpingReplies, planDuplicateProbe, planNeighbourSolicit } from "../vip/plan.js";
import { probeService, type ProbeResult, type ServiceProber } from "./service.js";

export type VerifyVerdict = "free" | "answering-serving" | "answering-not-serving";

/** How many times a silent service is asked while a host is known to hold the VIP. */
export const ASK_ATTEMPTS = 3;

/** What the ARP probe saw (so far). */
export interface ArpEvidence {
  /** Some host answered ARP for the VIP. */
  answered: boolean;
  /** Its MAC, when one answered. */
  mac?: string;
  detail: string;
}

/** Asks the LAN who has `address`; the signal ends the ask early. */
export type ArpProber = (iface: string, address: string, signal: AbortSignal) => Promise<ArpEvidence>;

export interface VerifyRequest {
  vip: string;
  /** Interface the candidate reaches the VIP's LAN through (for arping). */
  interface: string;
  port: number;
  /** HTTP path; TCP connect when absent. */
  path?: string;
  hostHeader?: string;
  /** Service probe timeout: 100–200 ms (docs/design.md, Moves and safety). */
  timeoutMs: number;
}

export interface VerifyDeps {
  probe?: ServiceProber;
  arp: ArpProber;
}

export interface VerifyResult {
  verdict: VerifyVerdict;
  detail: string;
  tookMs: number;
}

/**
 * The decision, pure: a verdict, or undefined while it is not known yet.
 * - service answered → answering-serving (whatever ARP says);
 * - service refused / reset / wrong status or body → answering-not-serving at
 *   once: a RST or an HTTP answer means a host holds the VIP, even before the
 *   (slower) arping reports it;
 * - service timed out or failed otherwise (unreachable) → answering-not-serving
 *   if ARP already saw an answer or the connection was accepted (a host is
 *   there but its service is silent), else free: waiting for arping's full
 *   second would only delay the takeover.
 */
export function decideVerify(service: ProbeResult | undefined, arp: ArpEvidence | undefined): { verdict: VerifyVerdict; reason: string } | undefined {
  if (service === undefined || service.outcome === "aborted") return undefined;
  switch (service.outcome) {
    case "ok":
      return { verdict: "answering-serving", reason: "the service answered through the VIP" };
    case "refused":
    case "reset":
    case "bad-status":
    case "bad-body":
      return { verdict: "answering-not-serving", reason: `a host answers for the VIP but the service is ${service.outcome}` };
    case "timeout":
    case "error":
      if (service.connected)
        return {
          verdict: "answering-not-serving",
          reason: `a host accepted the connection through the VIP but the service did not answer (${service.outcome})`,
        };
      return arp?.answered
        ? { verdict: "answering-not-serving", reason: `ARP answered${arp.mac ? ` (${arp.mac})` : ""} but the service did not (${service.outcome})` }
        : { verdict: "free", reason: `the service did not answer (${service.outcome}) and no ARP answer yet` };
  }
}

export async function verifyVip(req: VerifyRequest, deps: VerifyDeps): Promise<VerifyResult> {
  const started = performance.now();
  const stop = new AbortController();
  const probe = deps.probe ?? probeService;
  let service: ProbeResult | undefined;
  let arp: ArpEvidence | undefined;
  const decided = new Promise<VerifyResult>((resolve) => {
    const check = (): void => {
      const d = decideVerify(service, arp);
      if (d === undefined) return;
      stop.abort();
      const took = Math.round((performance.now() - started) * 10) / 10;
      const evidence = [service ? `service: ${service.detail}` : "", arp ? `arp: ${arp.detail}` : "arp: no answer yet"].filter(Boolean).join("; ");
      resolve({ verdict: d.verdict, detail: `${d.reason} (${evidence})`, tookMs: took });
    };
    // A silent answer while a host is known to be there (ARP answered, or it accepted the
    // connection) is asked again, with twice the time, before it counts: a busy host
    // answers a 50 ms probe late now and then, and "not serving" means a takeover onto a VIP
    // that is still served. A dead host (no ARP answer, no connection) is not asked again.
    const ask = (attempt: number): void => {
      const timeoutMs = attempt === 1 ? req.timeoutMs : req.timeoutMs * 2;
      void probe({ host: req.vip, port: req.port, path: req.path, hostHeader: req.hostHeader, timeoutMs, signal: stop.signal }).then((r) => {
        const hostThere = arp?.answered === true || r.connected === true;
        if (attempt < ASK_ATTEMPTS && r.outcome === "timeout" && hostThere && !stop.signal.aborted) {
          ask(attempt + 1);
          return;
        }
        service = attempt === 1 ? r : { ...r, detail: `${r.detail}, asked ${attempt} times after timeouts` };
        check();
      });
    };
    ask(1);
    void deps.arp(req.interface, req.vip, stop.signal).then(
      (e) => {
        arp = e;
        check();
      },
      (err: unknown) => {
        arp = { answered: false, detail: `arping failed: ${String(err)}` };
        check();
      },
    );
  });
  return decided;
}

/** The real ArpProber: `arping -D -c 1 -w 1 -I IF VIP`, killed by the signal once the verdict is in. */
export function arpingProber(runner: CommandRunner, arping: string): ArpProber {
  return async (iface, address, signal) => {
    const r = await runner.run(planDuplicateProbe({ ip: "", arping }, iface, address), { timeoutMs: 3000, signal });
    const replies = parseArpingReplies(r.stdout);
    if (replies.length > 0) return { answered: true, mac: replies[0].mac, detail: `${replies[0].mac} answered for ${address}` };
    if (r.exitCode === 0) return { answered: false, detail: `nobody answered ARP for ${address} within 1 s` };
    if (signal.aborted) return { answered: false, detail: "stopped once the verdict was known" };
    return { answered: false, detail: `${r.argv.join(" ")} exited ${r.exitCode}: ${(r.stderr || r.spawnError).trim()}` };
  };
}

/** How long ndisc6 waits for an answer before a takeover (arping -D's whole second, for IPv4). */
export const NDISC6_WAIT_MS = 1000;

/** The IPv6 twin of arpingProber: `ndisc6 -1 -r 1 -w 1000 VIP IF`, killed by the signal once the verdict is in. */
export function ndisc6Prober(runner: CommandRunner, ndisc6: string): ArpProber {
  return async (iface, address, signal) => {
    const r = await runner.run(planNeighbourSolicit(ndisc6, iface, address, NDISC6_WAIT_MS), { timeoutMs: NDISC6_WAIT_MS + 2000, signal });
    const answer = neighbourAnswer(r);
    if (answer.kind === "others") return { answered: true, mac: answer.macs[0], detail: `${answer.macs[0]} answered neighbour solicitation for ${address}` };
    if (answer.kind === "nobody") return { answered: false, detail: `nobody answered neighbour solicitation for ${address} within 1 s` };
    if (signal.aborted) return { answered: false, detail: "stopped once the verdict was known" };
    return { answered: false, detail: answer.kind === "error" ? `${r.argv.join(" ")}: ${answer.detail}` : "no answer" };
  };
}

export interface NeighbourProberOptions {
  runner: CommandRunner;
  /** Agent config `arping`: IPv4 VIPs. */
  arping: string;
  /** Agent config `ndisc6`: IPv6 VIPs, when installed. */
  ndisc6: string;
  /** Whether a tool is installed; default: executable at that path. */
  toolExists?: (path: string) => Promise<boolean>;
  log?: Logger;
}

/**
 * The ArpProber the agent verifies with: arping for an IPv4 VIP, ndisc6 for an
 * IPv6 one. Without ndisc6 an IPv6 VIP gets no neighbour evidence at all (an
 * immediate "no answer", logged once): the service probe through the VIP alone
 * decides, as decideVerify does whenever ARP has not answered yet.
 */
export function neighbourProber(opts: NeighbourProberOptions): ArpProber {
  const arp = arpingProber(opts.runner, opts.arping);
  const nd = ndisc6Prober(opts.runner, opts.ndisc6);
  const exists = opts.toolExists ?? executable;
  const log = opts.log ?? silentLogger;
  let warned = false;
  return async (iface, address, signal) => {
    if (!isIPv6(address)) return arp(iface, address, signal);
    if (await exists(opts.ndisc6)) return nd(iface, address, signal);
    if (!warned) {
      warned = true;
      log.warn(
        { event: "verify.ndisc6_missing", path: opts.ndisc6 },
        `${opts.ndisc6} is not installed (Debian package ndisc6): IPv6 VIPs are verified by the service probe through the VIP alone`,
      );
    }
    return { answered: false, detail: `not asked: ${opts.ndisc6} is not installed, the service probe alone decides` };
  };
}

async function executable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
