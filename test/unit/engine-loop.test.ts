/**
 * The engine as an event loop, with time driven by a ManualScheduler and
 * sessions as in-memory sinks (no network): the startup grace, acks,
 * unanswered commands, silent sessions and a handover, without sleeping.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { pino } from "pino";
import { Engine, type SessionSink } from "../../coordinator/cluster/engine.js";
import { createMemoryStore, emptyState } from "../../coordinator/state/store.js";
import { coordinatorConfigSchema } from "../../shared/config/coordinator.js";
import { parseConfigText } from "../../shared/config/load.js";
import { NginxState, VerifyVerdict, type AgentMessage, type CoordinatorMessage, type Report } from "../../shared/gen/keepvip/v1/agent.js";
import { silentLogger } from "../../shared/log.js";
import { ManualScheduler } from "../support/manual-scheduler.js";
import { SLICED_FROM_SESSIONS } from "../../shared/session-timing.js";

const config = parseConfigText(
  coordinatorConfigSchema,
  `
insecure: true
timing:
  heartbeat_interval: 20ms
  dead_interval: 120ms
  startup_grace: 300ms
  verify_timeout: 50ms
  planned_overlap: 20ms
  ack_timeout: 500ms
groups:
  - name: VI_1
    vips: ["198.18.0.100/24"]
    service: { port: 10016, path: /aaa }
    members:
      - { node: lb1, priority: 100, address: 198.18.0.11 }
      - { node: lb2, priority: 90, address: 198.18.0.12 }
`,
  "test.yaml",
);

/** Lets the engine's queue (and the memory store's saves) run: no time passes. */
async function drain(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

class FakeAgent implements SessionSink {
  readonly received: CoordinatorMessage[] = [];
  ended?: string;
  sessionId = "";
  holds = new Set<string>();
  /** Counts the commands it receives and reports the count, as the agent does. */
  counts = false;
  /** Messages on their way: sent by the engine, not yet read by this agent (a busy agent reads late). */
  holdingBack = false;
  private readonly inbox: CoordinatorMessage[] = [];
  private commandsReceived = 0;

  constructor(
    private readonly engine: Engine,
    readonly node: string,
  ) {}

  send(message: CoordinatorMessage): void {
    if (this.holdingBack) this.inbox.push(message);
    else this.arrive(message);
  }

  /** What was on its way arrives. */
  deliverHeld(): void {
    this.holdingBack = false;
    for (const m of this.inbox.splice(0)) this.arrive(m);
  }

  private arrive(message: CoordinatorMessage): void {
    this.received.push(message);
    if (message.body?.$case === "command" || message.body?.$case === "verify") this.commandsReceived++;
  }

  end(reason: string): void {
    this.ended = reason;
  }

  report(): Report {
    return {
      nginx: NginxState.NGINX_STATE_RUNNING,
      nginxDetail: "",
      draining: [],
      upstreamVersion: 0,
      upstreamError: "",
      probes: [],
      reach: [],
      seq: 1,
      commandsReceived: this.counts ? this.commandsReceived : 0,
      tracks: [],
      held: [...this.holds].map((group) => ({ group, address: "198.18.0.100/24", interface: "lan0", epoch: 1 })),
      fault: false,
      faultReason: "",
    };
  }

  hello(): this {
    const outcome = this.engine.hello(
      { nodeId: this.node, agentVersion: "test", instanceId: `${this.node}-1`, state: this.report(), epochs: [], term: 0, countsCommands: this.counts },
      "test",
      this,
    );
    assert.ok(outcome.ok);
    this.sessionId = outcome.value.sessionId;
    return this;
  }

  say(body: AgentMessage["body"]): void {
    this.engine.message(this.sessionId, { body });
  }

  commands(action: "acquire" | "release") {
    return this.received.flatMap((m) => (m.body?.$case === "command" && m.body.value.action?.$case === action ? [m.body.value] : []));
  }

  /** Acks every acquire/release not yet acked, holding what it acquired. */
  ackAll(acked = new Set<string>()): void {
    for (const m of this.received) {
      if (m.body?.$case !== "command" || acked.has(m.body.value.commandId)) continue;
      const c = m.body.value;
      acked.add(c.commandId);
      if (c.action?.$case === "acquire") this.holds.add(c.group);
      else this.holds.delete(c.group);
      this.say({ $case: "ack", value: { commandId: c.commandId, ok: true, error: "", held: this.report().held } });
    }
  }
}

async function started(): Promise<{ engine: Engine; scheduler: ManualScheduler }> {
  const scheduler = new ManualScheduler(1_000);
  const engine = new Engine(config, createMemoryStore(), silentLogger, scheduler);
  await engine.start();
  return { engine, scheduler };
}

/** Started, both agents reporting for 500 ms, lb1 holding VI_1 (its acquire acked). */
async function lb1HoldingLive(t: TestContext): Promise<{ engine: Engine; scheduler: ManualScheduler; lb1: FakeAgent; lb2: FakeAgent }> {
  const { engine, scheduler } = await started();
  t.after(() => engine.stop());
  const lb1 = new FakeAgent(engine, "lb1").hello();
  const lb2 = new FakeAgent(engine, "lb2").hello();
  await live(scheduler, 400, [lb1, lb2]);
  lb1.ackAll();
  await live(scheduler, 100, [lb1, lb2]);
  assert.equal(engine.runtimes.get("VI_1")!.holder, "lb1");
  return { engine, scheduler, lb1, lb2 };
}

/** Moves time on by `ms` while the agents report every heartbeat interval (20 ms), as live agents do. */
async function live(scheduler: ManualScheduler, ms: number, agents: FakeAgent[]): Promise<void> {
  for (let t = 0; t < ms; t += 20) {
    await scheduler.advance(Math.min(20, ms - t));
    for (const a of agents) a.say({ $case: "report", value: a.report() });
    await drain();
  }
}

test("engine loop: the startup grace holds the election until it elapses, then the connected node is told to acquire", async (t) => {
  const { engine, scheduler } = await started();
  t.after(() => engine.stop());
  const lb1 = new FakeAgent(engine, "lb1").hello();
  await drain();
  assert.ok(engine.inGrace());
  await live(scheduler, 280, [lb1]);
  assert.ok(engine.inGrace());
  assert.equal(lb1.commands("acquire").length, 0, "nothing decided inside the grace");
  await live(scheduler, 20, [lb1]);
  assert.equal(engine.inGrace(), false);
  assert.equal(lb1.commands("acquire").length, 1, "told to acquire once the grace elapsed");
  assert.equal(engine.commandsInFlight, 1);
  lb1.ackAll();
  await drain();
  assert.equal(engine.runtimes.get("VI_1")!.holder, "lb1");
  assert.equal(engine.commandsInFlight, 0, "the ack settled the command");
});

test("engine loop: a closed session takes its unanswered commands along", async (t) => {
  const { engine } = await started();
  t.after(() => engine.stop());
  const lb1 = new FakeAgent(engine, "lb1").hello();
  new FakeAgent(engine, "lb2").hello();
  await drain();
  assert.equal(engine.inGrace(), false, "every node connected: no need to wait");
  assert.equal(lb1.commands("acquire").length, 1);
  assert.equal(engine.commandsInFlight, 1);
  engine.closed(lb1.sessionId, "test closed it");
  assert.equal(engine.commandsInFlight, 0, "the acquire went with its session");
});

test("engine loop: an unanswered command expires after its lifetime; a session that stops reporting turns silent after the dead interval", async (t) => {
  const { engine, scheduler } = await started();
  t.after(() => engine.stop());
  const lb1 = new FakeAgent(engine, "lb1").hello();
  await live(scheduler, 300, [lb1]);
  assert.equal(lb1.commands("acquire").length, 1);
  assert.equal(engine.commandsInFlight, 1);
  // lb1 goes quiet from here.
  await scheduler.advance(110);
  assert.equal(engine.nodes.views.get("lb1")!.session, "live", "within the dead interval");
  await scheduler.advance(30);
  assert.equal(engine.nodes.views.get("lb1")!.session, "silent", "silent once the dead interval passed (swept every 10 ms)");
  await scheduler.advance(859);
  await drain();
  // 999 ms after the acquire: it is still awaited (lifetime: the ack timeout, twice), and so is
  // the release the planner sent lb1 when the acquire went unacked for 500 ms.
  assert.equal(engine.commandsInFlight, 2);
  await scheduler.advance(1);
  await drain();
  assert.equal(engine.commandsInFlight, 1, "the acquire expired");
  await scheduler.advance(500);
  await drain();
  assert.equal(engine.commandsInFlight, 0, "and then the release");
});

test("engine loop: a stopping holder is told it may go once its VIP is handed over", async (t) => {
  const { engine, scheduler } = await started();
  t.after(() => engine.stop());
  const lb1 = new FakeAgent(engine, "lb1").hello();
  const lb2 = new FakeAgent(engine, "lb2").hello();
  await drain();
  lb1.ackAll();
  await drain();
  assert.equal(engine.runtimes.get("VI_1")!.holder, "lb1");
  lb1.say({ $case: "leaving", value: { handover: true, reason: "test", restartMs: 0 } });
  await drain();
  assert.equal(lb2.commands("acquire").length, 1, "lb2 is told to take over");
  assert.equal(
    lb1.received.some((m) => m.body?.$case === "leaveReady"),
    false,
    "not yet: the move is under way",
  );
  lb2.ackAll();
  await drain();
  await scheduler.advance(20); // the planned overlap, then lb1's release
  await drain();
  lb1.ackAll();
  await drain();
  const ready = lb1.received.find((m) => m.body?.$case === "leaveReady");
  assert.ok(ready?.body?.$case === "leaveReady");
  assert.deepEqual(ready.body.value, { handedOver: ["VI_1"], kept: [], detail: "handover complete" });
});

test("engine loop: status is read at the engine's time", async (t) => {
  const { engine, scheduler } = await started();
  t.after(() => engine.stop());
  await scheduler.advance(250);
  const s = engine.statusInput();
  assert.equal(s.nowMs, 1_250);
  assert.equal(s.nowMs - s.startedMs, 250);
});

test("engine loop: a reload that removes the held group tells the holder to release it, and one that changes nothing sends nothing", async (t) => {
  const { engine } = await started();
  t.after(() => engine.stop());
  const lb1 = new FakeAgent(engine, "lb1").hello();
  new FakeAgent(engine, "lb2").hello();
  await drain();
  lb1.ackAll();
  await drain();
  assert.equal(engine.runtimes.get("VI_1")!.holder, "lb1");
  const before = lb1.received.length;
  assert.deepEqual(await engine.reconfigure(config), { ok: true, lines: ["no change"] });
  await drain();
  assert.deepEqual(
    lb1.received
      .slice(before)
      .map((m) => m.body?.$case)
      .filter((c) => c !== "beat"),
    ["welcome", "probePlan"],
    "only the new welcome and probe plan (beside the beats)",
  );
  const withoutVI1 = { ...config, groups: [{ ...config.groups[0], name: "VI_9", vips: config.groups[0].vips }] };
  const r = await engine.reconfigure(withoutVI1);
  assert.equal(r.ok, true);
  const release = lb1.commands("release").at(-1);
  assert.equal(release?.group, "VI_1");
  assert.equal(release?.reason, "VI_1 was removed from the config");
  assert.equal(engine.runtimes.has("VI_1"), false, "the removed unit is forgotten");
  assert.ok(engine.runtimes.has("VI_9"));
});

test("engine loop: a beat on every session every 250 ms (a quarter of the 1 s an agent waits at least), together while the sessions are few, carrying the term; none while fenced", async (t) => {
  const { engine, scheduler } = await started();
  t.after(() => engine.stop());
  engine.term = 7;
  let mayCommand = true;
  engine.fence = () => mayCommand;
  const lb1 = new FakeAgent(engine, "lb1").hello();
  const lb2 = new FakeAgent(engine, "lb2").hello();
  const beatTimes = (a: FakeAgent, at: number[]) => {
    const send = a.send.bind(a);
    a.send = (m) => {
      if (m.body?.$case === "beat") at.push(scheduler.now());
      send(m);
    };
  };
  const at1: number[] = [];
  const at2: number[] = [];
  beatTimes(lb1, at1);
  beatTimes(lb2, at2);
  const beats = (a: FakeAgent) => a.received.flatMap((m) => (m.body?.$case === "beat" ? [m.body.value.term] : []));
  await live(scheduler, 1000, [lb1, lb2]);
  // Heartbeat 20 ms, dead interval 120 ms: an agent leaves a coordinator silent for 1 s at the
  // earliest, so four beats a second do; every 20 ms was 50 messages a second per agent.
  assert.deepEqual(beats(lb1), [7, 7, 7, 7], "one beat per 250 ms");
  assert.deepEqual(beats(lb2), [7, 7, 7, 7]);
  for (const at of [at1, at2]) for (let i = 1; i < at.length; i++) assert.equal(at[i] - at[i - 1], 250, "evenly 250 ms apart");
  assert.equal(at1[0], at2[0], "two sessions are beaten in one wake-up, not in slices of the interval");
  // The lease may have ended: no more beats (the agents leave a leader that cannot command).
  mayCommand = false;
  await live(scheduler, 500, [lb1, lb2]);
  assert.equal(beats(lb1).length, 4, "no beat while fenced");
  mayCommand = true;
  await live(scheduler, 500, [lb1, lb2]);
  assert.equal(beats(lb1).length, 6, "beats again once it may command");
});

test("engine loop: a replica taking over a running cluster waits the takeover grace (1 s), a fresh cluster the startup grace", async () => {
  const cases: Array<[Record<string, string>, Record<string, number>, number]> = [
    [{ VI_1: "lb1" }, { VI_1: 3 }, 1000],
    [{}, {}, 300],
  ];
  for (const [holders, epochs, graceMs] of cases) {
    const scheduler = new ManualScheduler(1_000);
    const state = { ...emptyState(), holders, epochs };
    const engine = new Engine(config, createMemoryStore(state), silentLogger, scheduler);
    engine.takeover = true;
    await engine.start();
    try {
      const lb2 = new FakeAgent(engine, "lb2").hello();
      const acted = () => lb2.received.some((m) => m.body?.$case === "verify" || m.body?.$case === "command");
      await live(scheduler, graceMs - 40, [lb2]);
      assert.equal(acted(), false, `nothing asked of lb2 before ${graceMs} ms (holders ${JSON.stringify(holders)})`);
      await live(scheduler, 100, [lb2]);
      assert.equal(acted(), true, `lb2 asked to verify or acquire once ${graceMs} ms passed (holders ${JSON.stringify(holders)})`);
    } finally {
      await engine.stop();
    }
  }
});

test("engine loop: the release a lost holder cannot get is said once, at info, not as a warning; the lost session is the warning", async (t) => {
  const lines: Array<{ level: number; event?: string; action?: string; node?: string }> = [];
  const log = pino({ level: "debug" }, { write: (s: string) => void lines.push(JSON.parse(s) as (typeof lines)[number]) });
  const scheduler = new ManualScheduler(1_000);
  const engine = new Engine(config, createMemoryStore(), log, scheduler);
  await engine.start();
  t.after(() => engine.stop());
  const lb1 = new FakeAgent(engine, "lb1").hello();
  const lb2 = new FakeAgent(engine, "lb2").hello();
  await drain();
  lb1.ackAll();
  await drain();
  assert.equal(engine.runtimes.get("VI_1")!.holder, "lb1");
  // lb1's stream is reset (its host is gone): lb2 verifies the VIP free and takes over.
  engine.closed(lb1.sessionId, "stream reset", true);
  await drain();
  const verify = lb2.received.find((m) => m.body?.$case === "verify");
  assert.ok(verify?.body?.$case === "verify");
  lb2.say({
    $case: "verifyResult",
    value: { commandId: verify.body.value.commandId, group: "VI_1", verdict: VerifyVerdict.VERIFY_VERDICT_FREE, detail: "", tookMs: 1 },
  });
  await drain();
  lb2.ackAll();
  await live(scheduler, 3000, [lb2]);
  assert.equal(engine.runtimes.get("VI_1")!.holder, "lb2");
  const undeliverable = lines.filter((l) => l.event === "command.undeliverable");
  assert.ok(undeliverable.length > 0, "the release to lb1 could not be delivered");
  assert.deepEqual(
    undeliverable.map((l) => [l.action, l.node, l.level]),
    [["release", "lb1", 30]],
    "one line, at info (30), for the release lb1 could not get",
  );
  const lost = lines.find((l) => l.event === "session.closed");
  assert.equal(lost?.level, 40, "a lost session is a warning");
});

test("engine loop: the coordinator's own stall is nobody's silence; a session quiet for a dead interval of listening time after it still turns silent", async (t) => {
  const { engine, scheduler, lb1, lb2 } = await lb1HoldingLive(t);
  // The coordinator's loop is blocked for 2 s (dead interval: 120 ms). The agents reported all
  // along; their reports sit unread. The late timers run first, then the sockets are read.
  scheduler.stall(2000);
  await scheduler.advance(0);
  await drain();
  assert.ok(engine.stalledMs >= 1990, `the stall was seen (${engine.stalledMs} ms)`);
  assert.equal(engine.nodes.views.get("lb1")!.session, "live", "the holder is not silent: the coordinator was");
  assert.equal(engine.nodes.views.get("lb2")!.session, "live");
  await live(scheduler, 500, [lb1, lb2]);
  assert.equal(lb1.commands("release").length, 0, "nothing released");
  assert.equal(lb2.commands("acquire").length + lb2.received.filter((m) => m.body?.$case === "verify").length, 0, "nothing moved");
  // lb1 really goes quiet now: found silent after the dead interval, as ever.
  await live(scheduler, 140, [lb2]);
  assert.equal(engine.nodes.views.get("lb1")!.session, "silent");
});

for (const stallMs of [600, 1500])
  test(`engine loop: an ack left unread by a ${stallMs} ms stall (ack timeout 500 ms, command kept 1 s) does not lose to the timeouts`, async (t) => {
    const { engine, scheduler } = await started();
    t.after(() => engine.stop());
    const lb1 = new FakeAgent(engine, "lb1").hello();
    const lb2 = new FakeAgent(engine, "lb2").hello();
    await live(scheduler, 300, [lb1, lb2]);
    assert.equal(lb1.commands("acquire").length, 1);
    // lb1 acquires and acks at once, but the coordinator is stalled before it reads the ack:
    // the acquire's timeout (and, past 1 s, the command's lifetime) falls due first, then the ack is read.
    scheduler.stall(stallMs);
    await scheduler.advance(0);
    lb1.ackAll();
    await drain();
    assert.equal(engine.runtimes.get("VI_1")!.holder, "lb1", "the ack counted");
    assert.equal(lb1.commands("release").length, 0, "no release to the node that holds the VIP");
    await live(scheduler, 1000, [lb1, lb2]);
    assert.equal(lb1.commands("release").length, 0);
    assert.equal(engine.runtimes.get("VI_1")!.holder, "lb1");
  });

test("engine loop: a report that repeats the last one wakes no unit; one that changes what the election sees does", async (t) => {
  const { engine, scheduler, lb1, lb2 } = await lb1HoldingLive(t);
  // Every step of the planner leaves a new runtime object: the same object means no step ran.
  const before = engine.runtimes.get("VI_1")!;
  for (let i = 0; i < 5; i++) {
    await scheduler.advance(20);
    lb1.say({ $case: "report", value: { ...lb1.report(), seq: 100 + i } });
    lb2.say({ $case: "report", value: { ...lb2.report(), seq: 100 + i } });
    await drain();
  }
  assert.equal(engine.runtimes.get("VI_1"), before, "steady reports (only their seq differs) woke nothing");
  assert.equal(engine.nodes.views.get("lb1")!.session, "live", "and kept the sessions live");
  const lastAt = engine.statusInput().lastReportMs.get("lb1");
  assert.equal(lastAt, engine.now(), "a repeated report still counts as the node's latest");
  // A report the election sees differently (nginx down on the backup) wakes the unit.
  lb2.say({ $case: "report", value: { ...lb2.report(), nginx: NginxState.NGINX_STATE_DOWN } });
  await drain();
  assert.notEqual(engine.runtimes.get("VI_1"), before, "a changed view woke the unit");
  assert.equal(engine.nodes.views.get("lb2")!.nginx, "down");
  // A report that changes what the election does not read (an upstream error) is folded in but wakes nothing.
  const after = engine.runtimes.get("VI_1")!;
  lb1.say({ $case: "report", value: { ...lb1.report(), upstreamError: "nginx -t failed" } });
  await drain();
  assert.equal(engine.runtimes.get("VI_1"), after);
  assert.equal(engine.nodes.lastReport.get("lb1")!.report.upstreamError, "nginx -t failed");
});

test("engine loop: a silent session's next report, even one repeating its last, brings it back and wakes its units", async (t) => {
  const { engine, scheduler, lb1, lb2 } = await lb1HoldingLive(t);
  await live(scheduler, 140, [lb1]);
  assert.equal(engine.nodes.views.get("lb2")!.session, "silent");
  const before = engine.runtimes.get("VI_1")!;
  lb2.say({ $case: "report", value: lb2.report() });
  await drain();
  assert.equal(engine.nodes.views.get("lb2")!.session, "live");
  assert.notEqual(engine.runtimes.get("VI_1"), before, "the unit was woken");
});

test("engine loop: a restarting holder's new hello, left unread by a stall past its restart grace, is read before the grace is called over", async (t) => {
  const { engine, scheduler, lb1, lb2 } = await lb1HoldingLive(t);
  // lb1's agent restarts: it asks to be kept as it is for 500 ms, and its stream ends.
  lb1.say({ $case: "leaving", value: { handover: false, reason: "upgrade", restartMs: 500 } });
  engine.closed(lb1.sessionId, "closed");
  await live(scheduler, 300, [lb2]);
  assert.equal(engine.nodes.views.get("lb1")!.session, "restarting");
  // The new agent says hello at 450 ms, but the coordinator is stalled until 900 ms: the
  // grace's timer runs late, then the hello is read.
  scheduler.stall(600);
  await scheduler.advance(0);
  const next = new FakeAgent(engine, "lb1");
  next.holds.add("VI_1");
  next.hello();
  await drain();
  assert.equal(engine.nodes.views.get("lb1")!.session, "live", "the new agent is lb1's session");
  await live(scheduler, 1000, [next, lb2]);
  assert.equal(engine.runtimes.get("VI_1")!.holder, "lb1", "still the holder");
  assert.equal(lb2.commands("acquire").length + lb2.received.filter((m) => m.body?.$case === "verify").length, 0, "nothing moved");
  assert.equal(next.commands("release").length, 0);
});

test("engine loop: from SLICED_FROM_SESSIONS sessions on, the beats are spread over the slices of the interval, each session still every 250 ms", async (t) => {
  const nodes = SLICED_FROM_SESSIONS;
  const groups = Array.from({ length: nodes / 2 }, (_, i) =>
    [
      `  - name: G${i}`,
      `    vips: ["198.18.1.${i + 1}/24"]`,
      "    service: { port: 10016, path: /aaa }",
      "    members:",
      `      - { node: n${2 * i}, priority: 100, address: 198.19.0.${2 * i + 1} }`,
      `      - { node: n${2 * i + 1}, priority: 90, address: 198.19.0.${2 * i + 2} }`,
    ].join("\n"),
  );
  const many = parseConfigText(
    coordinatorConfigSchema,
    `insecure: true\ntiming:\n  heartbeat_interval: 20ms\n  dead_interval: 120ms\n  startup_grace: 300ms\n  verify_timeout: 50ms\ngroups:\n${groups.join("\n")}\n`,
    "many.yaml",
  );
  const scheduler = new ManualScheduler(1_000);
  const engine = new Engine(many, createMemoryStore(), silentLogger, scheduler);
  await engine.start();
  t.after(() => engine.stop());
  const agents = Array.from({ length: nodes }, (_, i) => new FakeAgent(engine, `n${i}`).hello());
  const at = new Map<FakeAgent, number[]>(agents.map((a) => [a, []]));
  for (const a of agents) {
    const send = a.send.bind(a);
    a.send = (m) => {
      if (m.body?.$case === "beat") at.get(a)!.push(scheduler.now());
      send(m);
    };
  }
  await live(scheduler, 1000, agents);
  for (const [a, times] of at) {
    assert.equal(times.length, 4, `${a.node}: one beat per 250 ms`);
    for (let i = 1; i < times.length; i++) assert.equal(times[i] - times[i - 1], 250, `${a.node}: evenly 250 ms apart`);
  }
  const firstBeats = new Set([...at.values()].map((times) => times[0]));
  assert.ok(firstBeats.size > 1, `the sessions are beaten in several slices (${firstBeats.size})`);
});

/**
 * lb1 and lb2 connected to an engine whose store holds its writes until `release()` (a disk
 * behind thousands of other units' epochs); lb1 is elected and its acquire waits for the epoch
 * on disk. The agents do not count what they receive: only the unit's gate says "not sent yet".
 */
async function acquireBehindSlowWrite(
  t: TestContext,
): Promise<{ engine: Engine; scheduler: ManualScheduler; lb1: FakeAgent; lb2: FakeAgent; release: () => Promise<void> }> {
  let holding = false;
  const waiting: Array<() => void> = [];
  const store = createMemoryStore();
  const save = store.save.bind(store);
  store.save = async (state) => {
    if (holding) await new Promise<void>((resolve) => waiting.push(resolve));
    return save(state);
  };
  const scheduler = new ManualScheduler(1_000);
  const engine = new Engine(config, store, silentLogger, scheduler);
  await engine.start();
  t.after(() => engine.stop());
  holding = true;
  const lb1 = new FakeAgent(engine, "lb1").hello();
  const lb2 = new FakeAgent(engine, "lb2").hello();
  for (let i = 0; i < 50 && engine.runtimes.get("VI_1")!.phase.kind !== "acquiring"; i++) await live(scheduler, 20, [lb1, lb2]);
  const phase = engine.runtimes.get("VI_1")!.phase;
  assert.ok(phase.kind === "acquiring" && phase.to === "lb1", "lb1 is elected");
  const release = async () => {
    holding = false;
    for (const r of waiting.splice(0)) r();
    await drain();
  };
  return { engine, scheduler, lb1, lb2, release };
}

test("engine loop: an acquire whose epoch write took most of the ack timeout gets the whole timeout from its send; the holder is not released while its ack is on the way", async (t) => {
  const { engine, scheduler, lb1, lb2, release } = await acquireBehindSlowWrite(t);
  // The write takes 400 ms of the 500 ms ack timeout.
  await live(scheduler, 400, [lb1, lb2]);
  assert.deepEqual(lb1.commands("acquire"), [], "not sent before its epoch is durable");
  await release();
  assert.equal(lb1.commands("acquire").length, 1, "sent once the epoch is on disk");
  // 300 ms after the send (700 ms after the decision): the ack arrives.
  await live(scheduler, 300, [lb1, lb2]);
  lb1.ackAll();
  await live(scheduler, 100, [lb1, lb2]);
  assert.equal(engine.runtimes.get("VI_1")!.holder, "lb1");
  assert.deepEqual(lb1.commands("release"), [], "lb1 was never told to let go");
  assert.deepEqual(lb2.commands("acquire"), [], "nothing went to the backup");
});

/** lb1 and lb2 connected, both counting the commands they receive, lb1's messages held back; lb1 is told to acquire. */
async function acquireOnItsWay(t: TestContext, counts: boolean): Promise<{ engine: Engine; scheduler: ManualScheduler; lb1: FakeAgent; lb2: FakeAgent }> {
  const { engine, scheduler } = await started();
  t.after(() => engine.stop());
  const lb1 = new FakeAgent(engine, "lb1");
  const lb2 = new FakeAgent(engine, "lb2");
  lb1.counts = lb2.counts = counts;
  lb1.holdingBack = true;
  lb1.hello();
  lb2.hello();
  await drain();
  const phase = engine.runtimes.get("VI_1")!.phase;
  assert.ok(phase.kind === "acquiring" && phase.to === "lb1", "lb1 is elected");
  return { engine, scheduler, lb1, lb2 };
}

test("engine loop: an acquire that reaches a busy agent late is not given up while the agent reports: no release, nothing to the backup", async (t) => {
  const { engine, scheduler, lb1, lb2 } = await acquireOnItsWay(t, true);
  // Three ack timeouts (500 ms) with the acquire on its way, lb1 reporting all along.
  await live(scheduler, 1500, [lb1, lb2]);
  assert.deepEqual(lb2.commands("acquire"), [], "nothing went to the backup");
  assert.equal(engine.runtimes.get("VI_1")!.phase.kind, "acquiring");
  assert.equal(engine.commandsInFlight, 1, "the acquire is still awaited, past its lifetime");
  // It arrives; lb1 reports it and acks 400 ms later (within the ack timeout counted from the report).
  lb1.deliverHeld();
  await live(scheduler, 400, [lb1, lb2]);
  lb1.ackAll();
  await live(scheduler, 100, [lb1, lb2]);
  assert.equal(engine.runtimes.get("VI_1")!.holder, "lb1");
  assert.deepEqual(lb1.commands("release"), [], "lb1 was never told to let go");
  assert.deepEqual(lb2.commands("acquire"), []);
});

test("engine loop: an acquire the agent reports received and never acks is given up an ack timeout after the report; from an agent that does not count, at its ack timeout", async (t) => {
  const counted = await acquireOnItsWay(t, true);
  counted.lb1.deliverHeld();
  await live(counted.scheduler, 480, [counted.lb1, counted.lb2]);
  assert.deepEqual(counted.lb2.commands("acquire"), [], "480 ms after the send: within the ack timeout");
  await live(counted.scheduler, 100, [counted.lb1, counted.lb2]);
  assert.equal(counted.lb1.commands("release").length, 1, "received, never acked: told to let go");
  assert.equal(counted.lb2.commands("acquire").length, 1, "and the backup takes over");
  // An older agent: nothing says whether the acquire arrived, so its ack timeout runs from the send.
  const uncounted = await acquireOnItsWay(t, false);
  await live(uncounted.scheduler, 520, [uncounted.lb1, uncounted.lb2]);
  assert.equal(uncounted.lb2.commands("acquire").length, 1, "an agent that does not count: given up at the ack timeout");
});

test("engine loop: an acquire on its way to an agent that goes silent is given up once the session is", async (t) => {
  const { engine, scheduler, lb1, lb2 } = await acquireOnItsWay(t, true);
  await live(scheduler, 600, [lb1, lb2]);
  assert.deepEqual(lb2.commands("acquire"), []);
  // lb1 stops reporting: silent after the dead interval (120 ms), and the acquire with it.
  await live(scheduler, 200, [lb2]);
  assert.equal(engine.nodes.views.get("lb1")!.session, "silent");
  assert.equal(lb2.commands("acquire").length, 1, "the backup takes over");
});

test("engine loop: an acquire whose epoch write outlasts the ack timeout is not given up before it is even sent; sent, it has the whole timeout", async (t) => {
  const { engine, scheduler, lb1, lb2, release } = await acquireBehindSlowWrite(t);
  // The write takes three ack timeouts (500 ms each).
  await live(scheduler, 1500, [lb1, lb2]);
  assert.equal(engine.runtimes.get("VI_1")!.phase.kind, "acquiring", "still waiting for its own write");
  await release();
  assert.equal(lb1.commands("acquire").length, 1, "sent once the epoch is on disk");
  assert.deepEqual(lb1.commands("release"), [], "and not followed by a release");
  // Never acked: given up an ack timeout after the send, not before.
  await live(scheduler, 480, [lb1, lb2]);
  assert.deepEqual(lb2.commands("acquire"), [], "480 ms after the send");
  await live(scheduler, 60, [lb1, lb2]);
  assert.equal(lb1.commands("release").length, 1, "500 ms after the send: told to let go");
  assert.equal(lb2.commands("acquire").length, 1, "and the backup is elected");
});
