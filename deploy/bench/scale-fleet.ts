/**
 * A fleet of simulated agents for `npm run bench:scale`: real gRPC sessions to a real
 * coordinator, each agent doing only what the coordinator can see of one: a hello with
 * what it holds, a full report every heartbeat (one timer for the fleet, the agents spread
 * over the interval), an ack for every command, an upstream push applied at once, a
 * verification answered at once,
 * and a reconnect with the agent's back-off when its session ends. Nothing is bound or
 * probed: the fleet is cheap, so the coordinator is what the benchmark measures. A
 * verification says what the LAN would: serving while another member of the group holds the
 * VIP, free once none does (a destroyed holder's host is gone, VIP and all).
 *
 * It counts what the benchmark reads: reports sent, commands received, when every group
 * last came to have exactly one holder with every agent in session, and how long a
 * takeover took (the holder's stream destroyed → the backup's verify → its acquire).
 */
import { type Client, type ClientDuplexStream, type ClientOptions, credentials, makeGenericClientConstructor } from "@grpc/grpc-js";
import { nanoid } from "nanoid";
import { jitter, nextBackoffMs } from "../../shared/backoff.js";
import { AgentMessage, AgentService, NginxState, Report, VerifyVerdict, type CoordinatorMessage } from "../../shared/gen/keepvip/v1/agent.js";

/**
 * The Agent service with session requests sent as bytes the fleet encoded itself: a report
 * only changes when what its agent holds or applied changes, so its encoding is kept and
 * only its sequence number is added per heartbeat. The fleet must be cheap, or at thousands
 * of agents it, not the coordinator, is what runs out of CPU.
 */
interface RawAgentClient extends Client {
  session(): ClientDuplexStream<Buffer, CoordinatorMessage>;
}
const RawAgentClient = makeGenericClientConstructor(
  { session: { ...AgentService.session, requestSerialize: (b: Buffer) => b } },
  "keepvip.v1.Agent",
) as unknown as new (
  address: string,
  creds: ReturnType<typeof credentials.createInsecure>,
  options?: Partial<ClientOptions>,
) => RawAgentClient;

/** Bytes of one AgentMessage. */
function encodeMessage(m: AgentMessage): Buffer {
  const u = AgentMessage.encode(m).finish();
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

function varint(n: number, out: number[]): void {
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
}

/**
 * An AgentMessage carrying `report` (its encoding without seq) with `seq` added: field 11 of
 * Report (a varint), the report being field 2 of AgentMessage. Tested against AgentMessage.encode.
 */
export function reportMessage(reportWithoutSeq: Uint8Array, seq: number): Buffer {
  const tail: number[] = [];
  if (seq !== 0) {
    tail.push(0x58);
    varint(seq, tail);
  }
  const head = [0x12];
  varint(reportWithoutSeq.length + tail.length, head);
  const out = Buffer.allocUnsafe(head.length + reportWithoutSeq.length + tail.length);
  out.set(head, 0);
  out.set(reportWithoutSeq, head.length);
  out.set(tail, head.length + reportWithoutSeq.length);
  return out;
}

/** One simulated agent: the node it speaks for and its one group. */
export interface SimAgentSpec {
  node: string;
  group: string;
  /** The group's VIP ("10.0.0.1/32"), as a held VIP is reported. */
  vip: string;
  /** Holds its group's VIP when it first says hello. */
  holds: boolean;
}

export interface FleetOptions {
  /** Coordinator address (host:port). */
  target: string;
  heartbeatMs: number;
  /** Agents per TCP connection (1: one connection each, as real agents). */
  perConnection: number;
}

/** What a fleet has counted since its counters were last reset. */
export interface FleetCounters {
  reportsSent: number;
  acquires: number;
  releases: number;
  verifies: number;
  /** Sessions the coordinator refused (hello answered with Refused). */
  refused: number;
  /** Wall time of the last acquire or release received (0: none). */
  lastCommandAtMs: number;
}

export interface FleetSnapshot extends FleetCounters {
  agents: number;
  /** Agents in session (welcomed), of those not stopped on purpose. */
  welcomed: number;
  alive: number;
  /** Groups without exactly one holder. */
  unsettledGroups: number;
  /** Since when (wall ms) every alive agent is welcomed and every group has one holder; 0: not now. */
  settledSinceMs: number;
  /** The fleet process's own CPU since the last reset (µs, user + system). */
  cpuMicros: number;
  rssBytes: number;
}

/** A takeover as the backup saw it: ms from the holder's stream destroyed to its verify and acquire. */
export interface TakeoverTiming {
  group: string;
  verifyMs: number;
  acquireMs: number;
}

const RECONNECT = { initialMs: 100, maxMs: 1000 };
const TICK_MS = 5;

class SimAgent {
  stream?: ClientDuplexStream<Buffer, CoordinatorMessage>;
  /** The last report's encoding without its seq, and what it was made of. */
  encoded?: { key: string; bytes: Uint8Array };
  welcomed = false;
  /** Stopped on purpose (a destroyed holder): no reconnect until revived. */
  dead = false;
  backoffMs = 0;
  seq = 0;
  /** Commands and verifications this session delivered (reported, as the agent does). */
  commandsReceived = 0;
  epoch = 0;
  /** The upstream config version last pushed (applied at once, as an agent whose nginx takes it). */
  upstreamVersion = 0;
  readonly instanceId = nanoid(8);
  constructor(
    readonly spec: SimAgentSpec,
    readonly client: RawAgentClient,
    public holds: boolean,
  ) {}
}

export class Fleet {
  private readonly agents: SimAgent[];
  private readonly byGroup = new Map<string, SimAgent[]>();
  private readonly clients: RawAgentClient[] = [];
  private counters: FleetCounters = blankCounters();
  private cpuAt = process.cpuUsage();
  private welcomedCount = 0;
  private deadCount = 0;
  private unsettled = 0;
  private settledSinceMs = 0;
  private wheel?: NodeJS.Timeout;
  private slot = 0;
  private stopped = false;
  private readonly watch = new Map<string, { t0: number; verifyMs?: number; done: (t: TakeoverTiming) => void }>();

  constructor(
    specs: SimAgentSpec[],
    private readonly opts: FleetOptions,
  ) {
    this.agents = specs.map((spec, i) => {
      if (i % opts.perConnection === 0)
        // A local subchannel pool: clients would otherwise share one connection per target.
        this.clients.push(new RawAgentClient(opts.target, credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 }));
      return new SimAgent(spec, this.clients[this.clients.length - 1], spec.holds);
    });
    for (const a of this.agents) this.byGroup.set(a.spec.group, [...(this.byGroup.get(a.spec.group) ?? []), a]);
    for (const g of this.byGroup.keys()) if (this.holderCount(g) !== 1) this.unsettled++;
  }

  /** Every agent says hello at once (a startup storm); reports start on the fleet's timer. */
  start(): void {
    for (const a of this.agents) this.connect(a);
    this.wheel = setInterval(() => this.tick(), TICK_MS);
    this.note();
  }

  snapshot(): FleetSnapshot {
    const cpu = process.cpuUsage(this.cpuAt);
    const alive = this.agents.length - this.deadCount;
    return {
      ...this.counters,
      agents: this.agents.length,
      welcomed: this.welcomedCount,
      alive,
      unsettledGroups: this.unsettled,
      settledSinceMs: this.settledSinceMs,
      cpuMicros: cpu.user + cpu.system,
      rssBytes: process.memoryUsage.rss(),
    };
  }

  resetCounters(): void {
    this.counters = blankCounters();
    this.cpuAt = process.cpuUsage();
  }

  /** Destroys the stream of `group`'s holder (it stays away) and resolves when the backup acquired. */
  takeover(group: string, timeoutMs: number): Promise<TakeoverTiming | { group: string; error: string }> {
    const members = this.byGroup.get(group) ?? [];
    const holder = members.find((a) => a.holds && a.welcomed);
    if (!holder) return Promise.resolve({ group, error: "no holder in session" });
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.watch.delete(group);
        resolve({ group, error: `no acquire by the backup within ${timeoutMs} ms` });
      }, timeoutMs);
      this.watch.set(group, {
        t0: performance.now(),
        done: (t) => {
          clearTimeout(timer);
          resolve(t);
        },
      });
      holder.dead = true;
      this.deadCount++;
      this.setHolds(holder, false);
      this.drop(holder);
      holder.stream?.cancel();
    });
  }

  /** A destroyed holder's host comes back empty-handed: it reconnects holding nothing. */
  revive(group: string): void {
    for (const a of this.byGroup.get(group) ?? []) {
      if (!a.dead) continue;
      a.dead = false;
      this.deadCount--;
      a.backoffMs = 0;
      this.connect(a);
    }
    this.note();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.wheel);
    for (const a of this.agents) a.stream?.cancel();
    for (const c of this.clients) c.close();
  }

  // ------------------------------------------------------------------ internals

  private connect(a: SimAgent): void {
    if (this.stopped || a.dead) return;
    const stream = a.client.session();
    a.stream = stream;
    a.commandsReceived = 0;
    stream.on("data", (m: CoordinatorMessage) => this.onMessage(a, m));
    const lost = () => {
      if (a.stream !== stream) return;
      this.drop(a);
      a.stream = undefined;
      if (this.stopped || a.dead) return;
      a.backoffMs = Math.round(jitter(nextBackoffMs(a.backoffMs, RECONNECT), 0.2));
      setTimeout(() => this.connect(a), a.backoffMs);
    };
    stream.on("error", lost);
    stream.on("end", lost);
    stream.write(
      encodeMessage({
        body: {
          $case: "hello",
          value: {
            nodeId: a.spec.node,
            agentVersion: "bench-sim",
            instanceId: a.instanceId,
            state: this.report(a),
            epochs: a.epoch > 0 ? [{ group: a.spec.group, epoch: a.epoch }] : [],
            term: 0,
            countsCommands: true,
          },
        },
      }),
    );
  }

  private drop(a: SimAgent): void {
    if (!a.welcomed) return;
    a.welcomed = false;
    this.welcomedCount--;
    this.note();
  }

  /** A report message, its encoding kept while the agent's state stays the same. */
  private reportBytes(a: SimAgent): Buffer {
    const key = `${a.holds}/${a.epoch}/${a.upstreamVersion}/${a.commandsReceived}`;
    if (a.encoded?.key !== key) a.encoded = { key, bytes: Report.encode({ ...this.report(a), seq: 0 }).finish() };
    return reportMessage(a.encoded.bytes, ++a.seq);
  }

  private report(a: SimAgent): Report {
    return {
      nginx: NginxState.NGINX_STATE_RUNNING,
      nginxDetail: "",
      tracks: [],
      held: a.holds ? [{ group: a.spec.group, address: a.spec.vip, interface: "lan0", epoch: a.epoch }] : [],
      upstreamVersion: a.upstreamVersion,
      upstreamError: "",
      probes: [],
      reach: [],
      fault: false,
      faultReason: "",
      seq: a.seq,
      commandsReceived: a.commandsReceived,
      draining: [],
    };
  }

  private tick(): void {
    const slots = Math.max(1, Math.round(this.opts.heartbeatMs / TICK_MS));
    this.slot = (this.slot + 1) % slots;
    for (let i = this.slot; i < this.agents.length; i += slots) {
      const a = this.agents[i];
      if (!a.welcomed || !a.stream) continue;
      a.stream.write(this.reportBytes(a));
      this.counters.reportsSent++;
    }
  }

  private onMessage(a: SimAgent, m: CoordinatorMessage): void {
    const body = m.body;
    if (!body) return;
    switch (body.$case) {
      case "welcome":
        if (!a.welcomed) {
          a.welcomed = true;
          a.backoffMs = 0;
          this.welcomedCount++;
          this.note();
        }
        return;
      case "refused":
        this.counters.refused++;
        return;
      case "upstreams":
        if (body.value.version === a.upstreamVersion) return;
        a.upstreamVersion = body.value.version;
        a.stream?.write(this.reportBytes(a));
        return;
      case "verify": {
        a.commandsReceived++;
        this.counters.verifies++;
        const w = this.watch.get(body.value.group);
        if (w && w.verifyMs === undefined) w.verifyMs = performance.now() - w.t0;
        // What the LAN would say: the service answers through the VIP while another member still holds it.
        const serving = (this.byGroup.get(body.value.group) ?? []).some((o) => o !== a && o.holds);
        const verdict = serving ? VerifyVerdict.VERIFY_VERDICT_ANSWERING_SERVING : VerifyVerdict.VERIFY_VERDICT_FREE;
        a.stream?.write(
          encodeMessage({
            body: { $case: "verifyResult", value: { commandId: body.value.commandId, group: body.value.group, verdict, detail: "bench", tookMs: 0 } },
          }),
        );
        return;
      }
      case "command": {
        a.commandsReceived++;
        const c = body.value;
        if (c.epoch < a.epoch) return; // stale, as a real agent ignores it
        a.epoch = c.epoch;
        const action = c.action?.$case;
        if (action === "acquire") this.counters.acquires++;
        if (action === "release") this.counters.releases++;
        this.counters.lastCommandAtMs = Date.now();
        this.setHolds(a, action === "acquire" ? true : action === "release" ? false : a.holds);
        a.stream?.write(encodeMessage({ body: { $case: "ack", value: { commandId: c.commandId, ok: true, error: "", held: this.report(a).held } } }));
        a.stream?.write(this.reportBytes(a));
        const w = this.watch.get(c.group);
        if (w && action === "acquire") {
          this.watch.delete(c.group);
          const acquireMs = performance.now() - w.t0;
          w.done({ group: c.group, verifyMs: w.verifyMs ?? acquireMs, acquireMs });
        }
        return;
      }
      default:
        return;
    }
  }

  private holderCount(group: string): number {
    return (this.byGroup.get(group) ?? []).filter((a) => a.holds).length;
  }

  private setHolds(a: SimAgent, holds: boolean): void {
    if (a.holds === holds) return;
    const before = this.holderCount(a.spec.group) === 1;
    a.holds = holds;
    const after = this.holderCount(a.spec.group) === 1;
    if (before && !after) this.unsettled++;
    if (!before && after) this.unsettled--;
    this.note();
  }

  /** Keeps settledSinceMs: when every alive agent last came to be in session with every group held once. */
  private note(): void {
    const settled = this.welcomedCount === this.agents.length - this.deadCount && this.unsettled === 0;
    if (!settled) this.settledSinceMs = 0;
    else if (this.settledSinceMs === 0) this.settledSinceMs = Date.now();
  }
}

function blankCounters(): FleetCounters {
  return { reportsSent: 0, acquires: 0, releases: 0, verifies: 0, refused: 0, lastCommandAtMs: 0 };
}
