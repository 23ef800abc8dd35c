/**
 * A stand-in agent for component tests: a real gRPC client speaking
 * AgentService to a real coordinator, with scripted behaviour (what it holds,
 * how it answers commands and verifications). It keeps every message it got so
 * tests wait on observations, never on sleeps.
 */
import { credentials, type ChannelCredentials, type ClientDuplexStream } from "@grpc/grpc-js";
import { nanoid } from "nanoid";
import {
  AgentClient,
  NginxState,
  VerifyVerdict,
  type AgentMessage,
  type Command,
  type CoordinatorMessage,
  type HeldVip,
  type Report,
  type UpstreamConfig,
  type VerifyRequest,
} from "../../shared/gen/keepvip/v1/agent.js";

export interface StandinOptions {
  node: string;
  address: string;
  /** Groups held at hello (VIPs found on the interface). */
  holds?: string[];
  /** How to answer a verification request (default: free). */
  verdict?: VerifyVerdict;
  /** Ack commands automatically (default true). */
  autoAck?: boolean;
  /** Send reports every this many ms (default 50); 0 = only on change. */
  heartbeatMs?: number;
  epochs?: Record<string, number>;
  /** Channel credentials (default: insecure). */
  creds?: ChannelCredentials;
  /** What to do with an upstream push (default: apply). */
  upstreams?: UpstreamHandling;
  /** Count the commands received and report the count, as the agent does (default false: an agent that does not). */
  countsCommands?: boolean;
}

/**
 * apply: take the version and report it (an ack); drop: ignore the push as if
 * it was lost on the way; refuse: keep the old version and report an error (a NACK).
 */
export type UpstreamHandling = "apply" | "drop" | "refuse";

export class StandinAgent {
  readonly received: CoordinatorMessage[] = [];
  readonly commands: Command[] = [];
  readonly verifies: VerifyRequest[] = [];
  readonly instanceId = nanoid(8);
  holds: Set<string>;
  nginx = NginxState.NGINX_STATE_RUNNING;
  tracks: Record<string, boolean> = {};
  fault = "";
  verdict: VerifyVerdict;
  autoAck: boolean;
  upstreams: UpstreamHandling;
  /** The upstream version applied, and the error of the last refused push. */
  upstreamVersion = 0;
  upstreamError = "";
  /** Highest epoch seen per group; older commands are ignored like a real agent. */
  readonly seenEpochs = new Map<string, number>();
  private client: AgentClient;
  private stream?: ClientDuplexStream<AgentMessage, CoordinatorMessage>;
  private timer?: NodeJS.Timeout;
  private seq = 0;
  /** Commands and verifications this session delivered. */
  commandsReceived = 0;
  closedWith?: string;

  constructor(
    private readonly target: string,
    readonly opts: StandinOptions,
  ) {
    this.client = new AgentClient(target, opts.creds ?? credentials.createInsecure());
    this.holds = new Set(opts.holds ?? []);
    this.verdict = opts.verdict ?? VerifyVerdict.VERIFY_VERDICT_FREE;
    this.autoAck = opts.autoAck ?? true;
    this.upstreams = opts.upstreams ?? "apply";
    for (const [g, e] of Object.entries(opts.epochs ?? {})) this.seenEpochs.set(g, e);
  }

  get node(): string {
    return this.opts.node;
  }

  connect(): this {
    this.closedWith = undefined;
    this.commandsReceived = 0;
    const stream = this.client.session();
    this.stream = stream;
    stream.on("data", (m: CoordinatorMessage) => this.onMessage(m));
    stream.on("error", (e: Error) => (this.closedWith = e.message));
    stream.on("end", () => (this.closedWith ??= "end"));
    this.write({
      body: {
        $case: "hello",
        value: {
          nodeId: this.opts.node,
          agentVersion: "standin",
          instanceId: this.instanceId,
          state: this.report(),
          epochs: [...this.seenEpochs].map(([group, epoch]) => ({ group, epoch })),
          term: 0,
          countsCommands: this.opts.countsCommands ?? false,
        },
      },
    });
    const every = this.opts.heartbeatMs ?? 50;
    if (every > 0) this.timer = setInterval(() => this.sendReport(), every);
    return this;
  }

  report(): Report {
    return {
      nginx: this.nginx,
      nginxDetail: "",
      draining: [],
      upstreamVersion: this.upstreamVersion,
      upstreamError: this.upstreamError,
      probes: [],
      reach: [],
      seq: ++this.seq,
      commandsReceived: this.opts.countsCommands ? this.commandsReceived : 0,
      tracks: Object.entries(this.tracks).map(([name, passing]) => ({ name, passing, detail: "" })),
      held: this.held(),
      fault: this.fault !== "",
      faultReason: this.fault,
    };
  }

  held(): HeldVip[] {
    return [...this.holds].map((group) => ({ group, address: "198.18.0.100/24", interface: "lan0", epoch: this.seenEpochs.get(group) ?? 0 }));
  }

  sendReport(): void {
    this.write({ body: { $case: "report", value: this.report() } });
  }

  /** Stops heartbeats but keeps the stream open: the coordinator sees it go silent. */
  goSilent(): void {
    clearInterval(this.timer);
  }

  /** Half-closes cleanly. */
  close(): void {
    clearInterval(this.timer);
    this.stream?.end();
  }

  /** Drops the connection as a crash would. */
  crash(): void {
    clearInterval(this.timer);
    this.stream?.cancel();
    this.client.close();
    this.client = new AgentClient(this.target, this.opts.creds ?? credentials.createInsecure());
  }

  leave(handover = true): void {
    this.write({ body: { $case: "leaving", value: { handover, reason: "test", restartMs: 0 } } });
  }

  /** Says it restarts (keep me as I am for `graceMs`), as the agent does before exiting for a restart. */
  announceRestart(graceMs: number): void {
    this.write({ body: { $case: "leaving", value: { handover: false, reason: "test restart", restartMs: graceMs } } });
  }

  write(m: AgentMessage): void {
    this.stream?.write(m);
  }

  private onMessage(m: CoordinatorMessage): void {
    this.received.push(m);
    const body = m.body;
    if (!body) return;
    if (body.$case === "command" || body.$case === "verify") this.commandsReceived++;
    if (body.$case === "command") this.onCommand(body.value);
    if (body.$case === "upstreams") this.onUpstreams(body.value);
    if (body.$case === "verify") {
      this.verifies.push(body.value);
      this.write({
        body: {
          $case: "verifyResult",
          value: { commandId: body.value.commandId, group: body.value.group, verdict: this.verdict, detail: "standin", tookMs: 1 },
        },
      });
    }
  }

  /** Upstream versions received, in order (resends included). */
  pushes(): number[] {
    return this.received.flatMap((m) => (m.body?.$case === "upstreams" ? [m.body.value.version] : []));
  }

  private onUpstreams(config: UpstreamConfig): void {
    if (this.upstreams === "drop" || config.version === this.upstreamVersion) return;
    if (this.upstreams === "apply") [this.upstreamVersion, this.upstreamError] = [config.version, ""];
    else this.upstreamError = `standin refuses version ${config.version}`;
    this.sendReport();
  }

  private onCommand(c: Command): void {
    this.commands.push(c);
    if ((this.seenEpochs.get(c.group) ?? 0) > c.epoch) return; // stale: ignored
    this.seenEpochs.set(c.group, c.epoch);
    if (!this.autoAck) return;
    const finish = () => {
      if (c.action?.$case === "acquire") this.holds.add(c.group);
      if (c.action?.$case === "release") this.holds.delete(c.group);
      this.write({ body: { $case: "ack", value: { commandId: c.commandId, ok: true, error: "", held: this.held() } } });
      this.sendReport();
    };
    const delay = c.action?.$case === "release" ? c.action.value.afterMs : 0;
    if (delay > 0) setTimeout(finish, delay);
    else finish();
  }

  destroy(): void {
    clearInterval(this.timer);
    this.stream?.cancel();
    this.client.close();
  }
}
