/**
 * The admin client's connections: credentials made in one place, the leader
 * found among replicated coordinators (a follower's refusal names it), and
 * errors turned into sentences that say what to check (address, certificate)
 * instead of stack traces.
 */
import { readFileSync } from "node:fs";
import { status as Status, type ServiceError } from "@grpc/grpc-js";
import type { AdminClient } from "../shared/gen/keepvip/v1/admin.js";
import { LEADER_TRAILER, REPLICA_TRAILER, TERM_TRAILER } from "../shared/protocol.js";
import { insecureChannel, tlsChannel, type Channel } from "../shared/tls-target.js";

export interface ConnectOptions {
  coordinator: string;
  ca?: string;
  cert?: string;
  key?: string;
  insecure?: boolean;
}

/**
 * Options of every admin channel. A status of thousands of groups is hundreds of KiB: with
 * HTTP/2's default 64 KiB flow-control window it came in as many round trips, each waiting
 * for a turn of a busy coordinator's event loop; this window takes it in one.
 */
export const ADMIN_CHANNEL_OPTIONS = { "grpc-node.flow_control_window": 4 * 1024 * 1024 } as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

/**
 * The channel to each address the options ask for (mutual TLS, or --insecure). Files are read
 * once, up front, so a bad path is an error before any call.
 */
export function channelsOf(o: Omit<ConnectOptions, "coordinator">): (address: string) => Channel {
  if (o.ca || o.cert || o.key) {
    if (!o.ca || !o.cert || !o.key) throw new CliError("--ca, --cert and --key go together (mutual TLS)", 2);
    const read = (p: string, what: string) => {
      try {
        return readFileSync(p);
      } catch (err) {
        throw new CliError(`cannot read the ${what} ${p}: ${(err as NodeJS.ErrnoException).code}`, 2);
      }
    };
    const tls = { ca: read(o.ca, "CA certificate"), key: read(o.key, "key"), cert: read(o.cert, "certificate") };
    return (address) => tlsChannel(address, tls);
  }
  if (o.insecure) return () => insecureChannel();
  throw new CliError("no credentials: pass --ca, --cert and --key (mutual TLS), or --insecure for a coordinator that runs without TLS", 2);
}

export function explain(err: ServiceError, target: string): CliError {
  switch (err.code) {
    case Status.UNAVAILABLE:
      return new CliError(
        `cannot reach the coordinator at ${target}: check the address (--coordinator or KEEPVIP_COORDINATOR), that keepvip-coordinator runs there, and TLS settings (${err.details})`,
        3,
      );
    case Status.DEADLINE_EXCEEDED:
      return new CliError(`no answer from the coordinator at ${target} in time: ${err.details}`, 3);
    case Status.UNAUTHENTICATED:
    case Status.PERMISSION_DENIED:
      return new CliError(`the coordinator refused these credentials: ${err.details} (check --cert/--key and that the certificate has the admin role)`, 4);
    default:
      return new CliError(err.details || err.message, 1);
  }
}

/** `--coordinator`: one address, or every replica of replicated coordinators, comma-separated. */
export function coordinatorList(arg: string): string[] {
  const list = arg
    .split(",")
    .map((a) => a.trim())
    .filter(Boolean);
  if (list.length === 0) throw new CliError(`--coordinator needs host:port (or a comma-separated list of replicas), got "${arg}"`, 2);
  return [...new Set(list)];
}

const trailer = (err: ServiceError, key: string): string | undefined => err.metadata?.get(key)[0]?.toString() || undefined;

/**
 * Makes a call on the leader: tries the addresses in order; a follower's
 * refusal names the leader, which is tried next; a replica that is down or
 * (one of several) gives no answer within the deadline is passed over. Resolves with the answer and
 * the address that gave it; rejects with the last failure, explained.
 */
export async function callLeader<Res>(
  addresses: string[],
  clientFor: (address: string) => AdminClient,
  invoke: (c: AdminClient, cb: (err: ServiceError | null, res?: Res) => void) => void,
): Promise<{ res: Res; address: string }> {
  const queue = [...addresses];
  const tried = new Set<string>();
  let last: { err: ServiceError; address: string } | undefined;
  while (queue.length > 0 && tried.size < addresses.length + 3) {
    const address = queue.shift()!;
    if (tried.has(address)) continue;
    tried.add(address);
    try {
      const res = await new Promise<Res>((resolve, reject) => invoke(clientFor(address), (err, r) => (err ? reject(err) : resolve(r as Res))));
      return { res, address };
    } catch (e) {
      const err = e as ServiceError;
      last = { err, address };
      // A replica that is down, follows, or (one of several) does not answer in time: try the next.
      const silent = err.code === Status.DEADLINE_EXCEEDED && addresses.length > 1;
      if (err.code !== Status.UNAVAILABLE && !silent) throw explain(err, address);
      const leader = trailer(err, LEADER_TRAILER);
      if (leader && !tried.has(leader)) queue.unshift(leader);
    }
  }
  if (!last) throw new CliError("no coordinator address to try", 2);
  if (trailer(last.err, REPLICA_TRAILER))
    throw new CliError(`no replica leads right now (${last.address}: ${last.err.details}); etcd may have lost its quorum, or an election is under way`, 3);
  throw explain(last.err, addresses.length > 1 ? addresses.join(", ") : last.address);
}

/** One replica as `keepvip status --json` lists it. */
export interface ReplicaEntry {
  name: string;
  address: string;
  role: "leader" | "follower" | "unreachable";
  term: number;
}

/** Asks every address who it is: the leader answers status, a follower refuses naming itself, the rest are unreachable. */
export async function replicaRoles(
  addresses: string[],
  clientFor: (address: string) => AdminClient,
  status: (c: AdminClient, cb: (err: ServiceError | null, res?: { replica: string; term: number }) => void) => void,
): Promise<ReplicaEntry[]> {
  return Promise.all(
    addresses.map(
      (address) =>
        new Promise<ReplicaEntry>((resolve) =>
          status(clientFor(address), (err, res) => {
            if (!err && res) return resolve({ name: res.replica, address, role: "leader", term: res.term });
            const name = err ? trailer(err, REPLICA_TRAILER) : undefined;
            if (err && err.code === Status.UNAVAILABLE && name !== undefined)
              return resolve({ name, address, role: "follower", term: Number(trailer(err, TERM_TRAILER) ?? 0) });
            resolve({ name: "", address, role: "unreachable", term: 0 });
          }),
        ),
    ),
  );
}
