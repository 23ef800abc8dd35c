/**
 * What the election sees of the cluster: plain data, built by the coordinator
 * from sessions and reports, consumed by pure functions. Nothing here does I/O.
 */
import type { NginxHealth } from "../../shared/protocol.js";

/** A session as the coordinator knows it. */
export type SessionState =
  /** Reports arrive within the dead interval. */
  | "live"
  /** The stream is open but nothing arrived for a dead interval (cut off, hung). */
  | "silent"
  /** The stream ended (agent exited or crashed, connection reset). */
  | "closed"
  /** Never connected since the coordinator started. */
  | "never"
  /**
   * The agent said it restarts and its stream ended: it left its VIPs and nginx for the
   * next process, which reconnects within the restart grace. A holder keeps holding.
   */
  | "restarting";

export type { NginxHealth };

/** Peer reachability of a group's VIP, as one node reports it. */
export interface ReachView {
  /** The service answered through the VIP on the last probe. */
  reachable: boolean;
  /** Consecutive failed probes through the VIP. */
  failures: number;
  /** The node reached at least one LAN reference, so its own LAN works. */
  lanOk: boolean;
  /**
   * lanOk rests on a LAN round that began after this run of failed VIP probes
   * was first seen: the node's LAN is proven on evidence at least as fresh as
   * its VIP verdict. Only then is its "cannot reach the VIP" worth anything.
   */
  lanFresh: boolean;
}

/**
 * The witness rule (docs/design.md, "Moves and safety"): a peer's failure to
 * reach the VIP says something about the holder only while the peer proves
 * its own LAN on evidence at least as fresh as that failure. An isolated node
 * sees nothing, so its silence is no evidence; and because each report carries
 * both verdicts from one agent's clock, the order in which they arrive here
 * does not matter.
 */
export function isProvenWitness(reach: ReachView | undefined): boolean {
  return reach?.lanOk === true && reach.lanFresh;
}

/** A proven witness whose probes through the VIP have failed `reachFall` times in a row. */
export function witnessCannotReach(reach: ReachView | undefined, reachFall: number): boolean {
  return isProvenWitness(reach) && reach !== undefined && !reach.reachable && reach.failures >= reachFall;
}

/** One node's state, as last reported. */
export interface NodeView {
  node: string;
  session: SessionState;
  nginx: NginxHealth;
  /** The agent declared itself FAULT (nginx cannot start, tracked link down). */
  fault: boolean;
  faultReason: string;
  /** Track name → passing (after rise/fall). */
  tracks: Record<string, boolean>;
  /** Admin maintenance pin. */
  maintenance: boolean;
  /** The agent is stopping and asked for a planned handover. */
  leaving: boolean;
  /** Groups whose VIPs the node reports holding. */
  holds: string[];
  /** Group → reachability of its VIP from this node. */
  reach: Record<string, ReachView>;
  /** The node reached at least one LAN reference (undefined: not reported). */
  lanOk?: boolean;
}

/** A member of an election unit with its configured inputs. */
export interface MemberSpec {
  node: string;
  /** Base priority 1..254 (sum over groups for a sync unit). */
  priority: number;
  /** LAN address, the first tie-break (higher wins, as in VRRP). */
  address?: string;
}

export interface TrackSpec {
  name: string;
  /** > 0: added while passing; < 0: added while failing; 0: FAULT while failing. */
  weight: number;
}

/**
 * An election unit: one VIP group, or a sync group whose groups always move
 * together to one holder (keepalived's vrrp_sync_group).
 */
export interface UnitSpec {
  name: string;
  groups: string[];
  members: MemberSpec[];
  /** Tracks per member group: every group's tracks count. */
  tracks: TrackSpec[];
  preempt: boolean;
  preemptDelayMs: number;
}

/**
 * Whether two views of a node say the same to the election. A report that changes nothing
 * here wakes no unit: the planner asks to be woken for what time alone changes (wakeAtMs),
 * so with thousands of agents a steady report costs no election.
 */
export function sameView(a: NodeView, b: NodeView): boolean {
  if (a === b) return true;
  if (
    a.node !== b.node ||
    a.session !== b.session ||
    a.nginx !== b.nginx ||
    a.fault !== b.fault ||
    a.faultReason !== b.faultReason ||
    a.maintenance !== b.maintenance ||
    a.leaving !== b.leaving ||
    a.lanOk !== b.lanOk ||
    a.holds.length !== b.holds.length ||
    a.holds.some((g, i) => b.holds[i] !== g)
  )
    return false;
  const tracks = Object.keys(a.tracks);
  if (tracks.length !== Object.keys(b.tracks).length || tracks.some((t) => b.tracks[t] !== a.tracks[t])) return false;
  const reach = Object.keys(a.reach);
  if (reach.length !== Object.keys(b.reach).length) return false;
  return reach.every((g) => {
    const x = a.reach[g];
    const y = b.reach[g];
    return y !== undefined && x.reachable === y.reachable && x.failures === y.failures && x.lanOk === y.lanOk && x.lanFresh === y.lanFresh;
  });
}
