/**
 * What an agent's report may make the coordinator remember: only groups it is
 * a member of, only servers the probe plan names, a bounded number of tracks
 * with bounded names and details. A hostile or broken agent cannot grow the
 * coordinator's memory or invent groups and servers. Pure.
 */
import type { GroupEpoch, Report } from "../../shared/gen/keepvip/v1/agent.js";

export const MAX_TRACKS = 64;
const MAX_TEXT = 500;
const TRACK_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;

export interface ReportBounds {
  /** Groups the reporting node is a member of. */
  groups: ReadonlySet<string>;
  /** "upstream/server" keys of the probe plan. */
  servers: ReadonlySet<string>;
}

/** Counts a hostile report cannot make absurd (status sums them into an int32). */
const MAX_CONNECTIONS = 10_000_000;
const MAX_DRAIN_MS = 3_600_000;
const bounded = (n: number, max: number) => (Number.isFinite(n) ? Math.min(max, Math.max(0, Math.round(n))) : 0);

const clip = (s: string) => (s.length > MAX_TEXT ? `${s.slice(0, MAX_TEXT)}…` : s);

export function sanitizeReport(r: Report, b: ReportBounds): Report {
  return {
    ...r,
    nginxDetail: clip(r.nginxDetail),
    faultReason: clip(r.faultReason),
    upstreamError: clip(r.upstreamError),
    tracks: r.tracks
      .filter((t) => TRACK_NAME.test(t.name))
      .slice(0, MAX_TRACKS)
      .map((t) => ({ ...t, detail: clip(t.detail) })),
    held: r.held.filter((h) => b.groups.has(h.group)),
    reach: r.reach.filter((x) => b.groups.has(x.group)),
    // One entry per VIP at most; a drain is bounded by the coordinator's own drain_timeout.
    draining: (r.draining ?? [])
      .filter((d) => b.groups.has(d.group))
      .slice(0, MAX_TRACKS)
      .map((d) => ({
        group: d.group,
        address: d.address.slice(0, 64),
        connections: bounded(d.connections, MAX_CONNECTIONS),
        elapsedMs: bounded(d.elapsedMs, MAX_DRAIN_MS),
        timeoutMs: bounded(d.timeoutMs, MAX_DRAIN_MS),
      })),
    probes: r.probes.filter((p) => b.servers.has(`${p.upstream}/${p.server}`)).map((p) => ({ ...p, detail: clip(p.detail) })),
  };
}

/**
 * Epochs an agent claims to have seen are only believed for its own groups and
 * below 2^48 (a million elections a second for nine years). A hostile hello
 * raised another group's epoch, or pushed one to 2^53 where +1 no longer
 * changes the number (epochs repeat) and `keepvip status` cannot be decoded.
 */
export const MAX_CLAIMED_EPOCH = 2 ** 48;

export function sanitizeEpochs(epochs: GroupEpoch[], b: Pick<ReportBounds, "groups">): GroupEpoch[] {
  return epochs.filter((e) => b.groups.has(e.group) && Number.isSafeInteger(e.epoch) && e.epoch < MAX_CLAIMED_EPOCH);
}
