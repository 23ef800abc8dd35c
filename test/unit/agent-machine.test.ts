/**
 * The agent's state machines, pure: every command in every state of a group,
 * stale epochs, delayed releases and what cancels them, I/O outcomes, FAULT,
 * stop, and verification verdicts. Then the core loop with in-memory ports
 * and a ManualScheduler: time moves only when a case says so.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { AgentCore } from "../../agent/core/agent.js";
import {
  initialGroupState,
  stepGroup,
  type Bindings,
  type CommandAction,
  type CommandRef,
  type DelayedRelease,
  type GroupContext,
  type GroupEffect,
  type GroupEvent,
  type GroupPhase,
  type GroupState,
  type Holding,
} from "../../agent/core/group-machine.js";
import {
  faultReason,
  handoverOutcome,
  initialNodeState,
  judgeVerification,
  linkVerdicts,
  stepNode,
  stopPlan,
  type LinkTrackConfig,
  type NodeEffect,
  type NodeState,
  type VerifyOutcome,
} from "../../agent/core/node-machine.js";
import type { DrillPort, ReachState, VipSpec } from "../../agent/core/ports.js";
import type { AgentMemory } from "../../agent/core/memory.js";
import type { AgentMessage, Welcome } from "../../shared/gen/keepvip/v1/agent.js";
import { agentConfigSchema } from "../../shared/config/agent.js";
import { parseConfigText } from "../../shared/config/load.js";
import { silentLogger } from "../../shared/log.js";
import { SerialQueue } from "../../shared/serial-queue.js";
import { ManualScheduler } from "../support/manual-scheduler.js";
import {
  FakeBackends,
  FakeLan,
  FakeLinks,
  FakeNginx,
  FakeNotify,
  FakeReach,
  FakeTracks,
  FakeUpstreams,
  FakeVerify,
  FakeVips,
} from "../component/helpers/fake-ports.js";

// ------------------------------------------------------------------ fixtures

const VIP: VipSpec = { group: "VI_1", address: "198.18.0.100", prefix: 24, family: 4, interface: "lan0" };
const GARP = { offsetsMs: [0, 100, 300, 700], refreshMs: 0 };
const healthy: GroupContext = { fault: null, garp: GARP };
const faulty: GroupContext = { fault: "tracked interface lan0 is down", garp: GARP };

const ref = (commandId: string, epoch: number): CommandRef => ({ commandId, group: "VI_1", epoch, reason: "test" });
const holding = (epoch: number): Holding => ({ vips: [VIP], epoch });
const bound: Bindings = { ok: true, vips: [VIP] };

const acquire = (id: string, epoch: number, takeover = false): GroupEvent => ({
  type: "command",
  command: ref(id, epoch),
  action: { kind: "acquire", takeover, forwardMs: 0 },
  bindings: bound,
});
const release = (id: string, epoch: number, afterMs = 0): GroupEvent => ({
  type: "command",
  command: ref(id, epoch),
  action: { kind: "release", afterMs, drainMs: 0, members: [] },
  bindings: bound,
});
const command = (id: string, epoch: number, action: CommandAction | null, bindings: Bindings = bound): GroupEvent => ({
  type: "command",
  command: ref(id, epoch),
  action,
  bindings,
});
const delayed = (id: string, epoch: number, afterMs = 300): DelayedRelease => ({ command: ref(id, epoch), vips: [VIP], afterMs, drainMs: 0, members: [] });

/** Group states by name: the newest epoch seen is 3 in each. */
const STATES = {
  released: (): GroupState => ({ ...initialGroupState("VI_1", 3) }),
  held: (): GroupState => ({ ...initialGroupState("VI_1", 3), phase: { kind: "held", holding: holding(3) } }),
  "held, its release waiting out the overlap": (): GroupState => ({
    ...initialGroupState("VI_1", 3),
    phase: { kind: "held", holding: holding(3) },
    delayed: delayed("c0", 3),
  }),
  "released, a delayed release still armed": (): GroupState => ({ ...initialGroupState("VI_1", 3), delayed: delayed("c0", 3) }),
  acquiring: (): GroupState => ({
    ...initialGroupState("VI_1", 3),
    phase: { kind: "acquiring", command: ref("c9", 3), vips: [VIP], takeover: false, prior: null },
  }),
  releasing: (): GroupState => ({
    ...initialGroupState("VI_1", 3),
    phase: { kind: "releasing", command: ref("c9", 3), vips: [VIP], why: "test", prior: holding(3) },
  }),
} satisfies Record<string, () => GroupState>;
type StateName = keyof typeof STATES;

/** Effects in a compact, comparable form. */
function effects(list: GroupEffect[]): string[] {
  return list.map((e) => {
    switch (e.type) {
      case "raise-epoch":
        return `raise-epoch ${e.epoch}`;
      case "ack":
        return e.ok ? `ack ${e.command.commandId} ok` : `ack ${e.command.commandId} refused: ${e.error}`;
      case "bind":
        return `bind${e.takeover ? " takeover" : ""}`;
      case "unbind":
        return "unbind";
      case "arm-release":
        return `arm-release ${e.release.command.commandId} +${e.release.afterMs}ms`;
      case "confirm-takeover":
        return `confirm-takeover e${e.epoch}`;
      case "notify":
        return `notify ${e.state}`;
      case "log":
        return `log ${e.level} ${e.event}`;
      default:
        return e.type;
    }
  });
}

function phase(p: GroupPhase): string {
  const prior = (h: Holding | null) => (h ? `held e${h.epoch}` : "nothing");
  switch (p.kind) {
    case "released":
      return "released";
    case "held":
      return `held e${p.holding.epoch}`;
    case "acquiring":
      return `acquiring ${p.command.commandId} e${p.command.epoch} (else ${prior(p.prior)})`;
    case "releasing":
      return `releasing ${p.command ? `${p.command.commandId} e${p.command.epoch}` : `locally (${p.why})`} (else ${prior(p.prior)})`;
  }
}

interface GroupCase {
  name: string;
  from: StateName;
  event: GroupEvent;
  ctx?: GroupContext;
  effects: string[];
  phase: string;
  /** The newest epoch after the step (3 when left out). */
  newest?: number;
  /** The armed delayed release's command after the step (null: none). */
  delayed: string | null;
}

const STALE = "stale epoch 2 for VI_1 (newest seen 3)";

const groupCases: GroupCase[] = [
  // ------------------------------------------------------------ acquire in every state
  {
    name: "released: an acquire with a newer epoch raises the epoch and binds",
    from: "released",
    event: acquire("c1", 4),
    effects: ["raise-epoch 4", "bind"],
    phase: "acquiring c1 e4 (else nothing)",
    newest: 4,
    delayed: null,
  },
  {
    name: "released: an acquire with the newest epoch binds without raising it (one move sends one epoch to both nodes)",
    from: "released",
    event: acquire("c1", 3),
    effects: ["bind"],
    phase: "acquiring c1 e3 (else nothing)",
    delayed: null,
  },
  {
    name: "released: an acquire with an older epoch is ignored and acked as stale",
    from: "released",
    event: acquire("c1", 2),
    effects: ["log warn command.stale", `ack c1 refused: ${STALE}`],
    phase: "released",
    delayed: null,
  },
  {
    name: "released: a takeover acquire binds with takeover announcements",
    from: "released",
    event: acquire("c1", 4, true),
    effects: ["raise-epoch 4", "bind takeover"],
    phase: "acquiring c1 e4 (else nothing)",
    newest: 4,
    delayed: null,
  },
  {
    name: "held: an acquire with a newer epoch binds again (idempotent), the old holding stays if the bind fails",
    from: "held",
    event: acquire("c1", 4),
    effects: ["raise-epoch 4", "bind"],
    phase: "acquiring c1 e4 (else held e3)",
    newest: 4,
    delayed: null,
  },
  {
    name: "held: an acquire with an older epoch is stale",
    from: "held",
    event: acquire("c1", 2),
    effects: ["log warn command.stale", `ack c1 refused: ${STALE}`],
    phase: "held e3",
    delayed: null,
  },
  {
    name: "held, release pending: a newer acquire cancels the delayed release before binding",
    from: "held, its release waiting out the overlap",
    event: acquire("c1", 4),
    effects: ["raise-epoch 4", "cancel-release", "bind"],
    phase: "acquiring c1 e4 (else held e3)",
    newest: 4,
    delayed: null,
  },
  {
    name: "held, release pending: an acquire of the same epoch also cancels it (a failed move undone)",
    from: "held, its release waiting out the overlap",
    event: acquire("c1", 3),
    effects: ["cancel-release", "bind"],
    phase: "acquiring c1 e3 (else held e3)",
    delayed: null,
  },
  {
    name: "held, release pending: a stale acquire cancels nothing",
    from: "held, its release waiting out the overlap",
    event: acquire("c1", 2),
    effects: ["log warn command.stale", `ack c1 refused: ${STALE}`],
    phase: "held e3",
    delayed: "c0",
  },
  {
    name: "released, release still armed: an acquire cancels it",
    from: "released, a delayed release still armed",
    event: acquire("c1", 4),
    effects: ["raise-epoch 4", "cancel-release", "bind"],
    phase: "acquiring c1 e4 (else nothing)",
    newest: 4,
    delayed: null,
  },
  {
    name: "acquiring: a command while a bind is in flight is refused (the core never steps one)",
    from: "acquiring",
    event: acquire("c1", 4),
    effects: ["raise-epoch 4", "ack c1 refused: VI_1 is busy: a bind is in flight"],
    phase: "acquiring c9 e3 (else nothing)",
    newest: 4,
    delayed: null,
  },
  {
    name: "releasing: a command while an unbind is in flight is refused (the core never steps one)",
    from: "releasing",
    event: acquire("c1", 3),
    effects: ["ack c1 refused: VI_1 is busy: an unbind is in flight"],
    phase: "releasing c9 e3 (else held e3)",
    delayed: null,
  },
  {
    name: "acquiring: a stale command is still acked as stale",
    from: "acquiring",
    event: release("c1", 2),
    effects: ["log warn command.stale", `ack c1 refused: ${STALE}`],
    phase: "acquiring c9 e3 (else nothing)",
    delayed: null,
  },

  // ------------------------------------------------------------ FAULT
  {
    name: "FAULT, released: an acquire is refused, the newer epoch is still remembered",
    from: "released",
    event: acquire("c1", 4),
    ctx: faulty,
    effects: ["raise-epoch 4", "ack c1 refused: node is FAULT: tracked interface lan0 is down"],
    phase: "released",
    newest: 4,
    delayed: null,
  },
  {
    name: "FAULT, release pending: an acquire is refused but still cancels the delayed release",
    from: "held, its release waiting out the overlap",
    event: acquire("c1", 4),
    ctx: faulty,
    effects: ["raise-epoch 4", "cancel-release", "ack c1 refused: node is FAULT: tracked interface lan0 is down"],
    phase: "held e3",
    newest: 4,
    delayed: null,
  },
  {
    name: "FAULT, held: a release is obeyed",
    from: "held",
    event: release("c1", 4),
    ctx: faulty,
    effects: ["raise-epoch 4", "unbind"],
    phase: "releasing c1 e4 (else held e3)",
    newest: 4,
    delayed: null,
  },

  // ------------------------------------------------------------ release in every state
  { name: "held: a release now unbinds", from: "held", event: release("c1", 3), effects: ["unbind"], phase: "releasing c1 e3 (else held e3)", delayed: null },
  {
    name: "released: a release now unbinds anyway (idempotent: nothing is assumed about the interface)",
    from: "released",
    event: release("c1", 4),
    effects: ["raise-epoch 4", "unbind"],
    phase: "releasing c1 e4 (else nothing)",
    newest: 4,
    delayed: null,
  },
  {
    name: "held: a release with an overlap arms a timer, keeps the VIP and acks nothing yet",
    from: "held",
    event: release("c1", 4, 300),
    effects: ["raise-epoch 4", "arm-release c1 +300ms"],
    phase: "held e3",
    newest: 4,
    delayed: "c1",
  },
  {
    name: "held, release pending: a second delayed release replaces the first",
    from: "held, its release waiting out the overlap",
    event: release("c1", 4, 500),
    effects: ["raise-epoch 4", "arm-release c1 +500ms"],
    phase: "held e3",
    newest: 4,
    delayed: "c1",
  },
  {
    name: "held, release pending: a release now supersedes the delayed one (its timer is cancelled, never orphaned)",
    from: "held, its release waiting out the overlap",
    event: release("c1", 3),
    effects: ["cancel-release", "unbind"],
    phase: "releasing c1 e3 (else held e3)",
    delayed: null,
  },
  {
    name: "held: a stale release is ignored and the VIP stays",
    from: "held",
    event: release("c1", 2),
    effects: ["log warn command.stale", `ack c1 refused: ${STALE}`],
    phase: "held e3",
    delayed: null,
  },
  {
    name: "held, release pending: a stale release leaves the pending one armed",
    from: "held, its release waiting out the overlap",
    event: release("c1", 2, 300),
    effects: ["log warn command.stale", `ack c1 refused: ${STALE}`],
    phase: "held e3",
    delayed: "c0",
  },

  // ------------------------------------------------------------ malformed commands
  {
    name: "held: a command without an action is refused after its newer epoch is remembered",
    from: "held",
    event: command("c1", 4, null),
    effects: ["raise-epoch 4", "ack c1 refused: command without an action"],
    phase: "held e3",
    newest: 4,
    delayed: null,
  },
  {
    name: "held: a stale command without an action is refused as stale first",
    from: "held",
    event: command("c1", 2, null),
    effects: ["log warn command.stale", `ack c1 refused: ${STALE}`],
    phase: "held e3",
    delayed: null,
  },
  {
    name: "released: an acquire whose VIPs cannot be bound on this host is refused with the reason",
    from: "released",
    event: command("c1", 3, { kind: "acquire", takeover: false, forwardMs: 0 }, { ok: false, error: "no interface for group VI_1" }),
    effects: ["ack c1 refused: no interface for group VI_1"],
    phase: "released",
    delayed: null,
  },
  {
    name: "held, release pending: an unbindable acquire cancels nothing",
    from: "held, its release waiting out the overlap",
    event: command("c1", 3, { kind: "acquire", takeover: false, forwardMs: 0 }, { ok: false, error: "bad VIP" }),
    effects: ["ack c1 refused: bad VIP"],
    phase: "held e3",
    delayed: "c0",
  },

  // ------------------------------------------------------------ bind outcomes
  {
    name: "acquiring: the bind succeeded: held at the command's epoch, reach retargeted, acked, MASTER, reported",
    from: "acquiring",
    event: { type: "bound", error: null },
    effects: ["retarget-reach", "log info vip.acquire", "ack c9 ok", "notify MASTER", "report"],
    phase: "held e3",
    delayed: null,
  },
  {
    name: "acquiring: the bind failed: the acquire is refused with the error and nothing is held",
    from: "acquiring",
    event: { type: "bound", error: "RTNETLINK answers: Operation not permitted" },
    effects: ["log error vip.acquire.failed", "ack c9 refused: RTNETLINK answers: Operation not permitted"],
    phase: "released",
    delayed: null,
  },
  {
    name: "released: a stray bind outcome changes nothing",
    from: "released",
    event: { type: "bound", error: null },
    effects: [],
    phase: "released",
    delayed: null,
  },
  {
    name: "releasing: a bind outcome is not an unbind outcome",
    from: "releasing",
    event: { type: "bound", error: null },
    effects: [],
    phase: "releasing c9 e3 (else held e3)",
    delayed: null,
  },

  // ------------------------------------------------------------ unbind outcomes
  {
    name: "releasing: the unbind succeeded: released, reach retargeted, acked, BACKUP, reported",
    from: "releasing",
    event: { type: "unbound", error: null },
    effects: ["retarget-reach", "log info vip.release", "ack c9 ok", "notify BACKUP", "report"],
    phase: "released",
    delayed: null,
  },
  {
    name: "releasing on a FAULT node: the notification says FAULT",
    from: "releasing",
    event: { type: "unbound", error: null },
    ctx: faulty,
    effects: ["retarget-reach", "log info vip.release", "ack c9 ok", "notify FAULT", "report"],
    phase: "released",
    delayed: null,
  },
  {
    name: "releasing: the unbind failed: still held, the release refused with the error",
    from: "releasing",
    event: { type: "unbound", error: "address still present" },
    effects: ["log error vip.release.failed", "ack c9 refused: address still present"],
    phase: "held e3",
    delayed: null,
  },
  { name: "held: a stray unbind outcome changes nothing", from: "held", event: { type: "unbound", error: null }, effects: [], phase: "held e3", delayed: null },

  // ------------------------------------------------------------ delayed release due
  {
    name: "held, release pending: the timer goes off: the release runs for its own command",
    from: "held, its release waiting out the overlap",
    event: { type: "release-due", release: delayed("c0", 3) },
    effects: ["unbind"],
    phase: "releasing c0 e3 (else held e3)",
    delayed: null,
  },
  {
    name: "held: a timer that went off as a newer acquire cancelled it does nothing",
    from: "held",
    event: { type: "release-due", release: delayed("c0", 3) },
    effects: [],
    phase: "held e3",
    delayed: null,
  },
  {
    name: "held, release pending: the timer of a replaced release does nothing",
    from: "held, its release waiting out the overlap",
    event: { type: "release-due", release: delayed("c-old", 3) },
    effects: [],
    phase: "held e3",
    delayed: "c0",
  },

  // ------------------------------------------------------------ local release (FAULT, forced stop)
  {
    name: "held: a local release unbinds at once, answering no command",
    from: "held",
    event: { type: "local-release", why: "FAULT: nginx cannot start" },
    effects: ["unbind"],
    phase: "releasing locally (FAULT: nginx cannot start) (else held e3)",
    delayed: null,
  },
  {
    name: "held, release pending: a local release leaves the delayed one armed (it answers its command later)",
    from: "held, its release waiting out the overlap",
    event: { type: "local-release", why: "FAULT" },
    effects: ["unbind"],
    phase: "releasing locally (FAULT) (else held e3)",
    delayed: "c0",
  },
  {
    name: "released: a local release has nothing to do",
    from: "released",
    event: { type: "local-release", why: "FAULT" },
    effects: [],
    phase: "released",
    delayed: null,
  },
  {
    name: "acquiring: a local release has nothing held to release yet",
    from: "acquiring",
    event: { type: "local-release", why: "FAULT" },
    effects: [],
    phase: "acquiring c9 e3 (else nothing)",
    delayed: null,
  },

  // ------------------------------------------------------------ reconcile at start
  {
    name: "released: VIPs found on the interfaces at start are held at the newest epoch seen",
    from: "released",
    event: { type: "found", vips: [VIP] },
    effects: ["log warn vip.reconciled"],
    phase: "held e3",
    delayed: null,
  },
  {
    name: "released: nothing found at start changes nothing",
    from: "released",
    event: { type: "found", vips: [] },
    effects: [],
    phase: "released",
    delayed: null,
  },
];

for (const c of groupCases) {
  test(`group machine: ${c.name}`, () => {
    const before = STATES[c.from]();
    const frozen = structuredClone(before);
    const r = stepGroup(before, c.event, c.ctx ?? healthy);
    assert.deepEqual(effects(r.effects), c.effects);
    assert.equal(phase(r.state.phase), c.phase);
    assert.equal(r.state.newest, c.newest ?? 3);
    assert.equal(r.state.delayed?.command.commandId ?? null, c.delayed);
    assert.deepEqual(before, frozen, "the step does not mutate its input");
    const io = r.effects.findIndex((e) => e.type === "bind" || e.type === "unbind");
    if (io >= 0) assert.equal(io, r.effects.length - 1, "an I/O effect comes last: its outcome is the next event");
  });
}

/** Steps a group through events, returning every effect and the end state. */
function run(state: GroupState, events: GroupEvent[], ctx: GroupContext = healthy): { state: GroupState; effects: string[] } {
  const out: string[] = [];
  for (const e of events) {
    const r = stepGroup(state, e, ctx);
    state = r.state;
    out.push(...effects(r.effects));
  }
  return { state, effects: out };
}

test("group machine, a planned move away and back: the delayed release is cancelled by the newer acquire and its late timer does nothing", () => {
  const r = run(STATES.held(), [release("c1", 4, 300), acquire("c2", 5), { type: "bound", error: null }, { type: "release-due", release: delayed("c1", 4) }]);
  assert.deepEqual(r.effects, [
    "raise-epoch 4",
    "arm-release c1 +300ms",
    "raise-epoch 5",
    "cancel-release",
    "bind",
    "retarget-reach",
    "log info vip.acquire",
    "ack c2 ok",
    "notify MASTER",
    "report",
  ]);
  assert.equal(phase(r.state.phase), "held e5");
  assert.equal(r.state.delayed, null);
});

test("group machine, a takeover: held at the new epoch, then the LAN is checked for the old holder", () => {
  const r = run(STATES.released(), [acquire("c1", 4, true), { type: "bound", error: null }]);
  assert.deepEqual(r.effects, [
    "raise-epoch 4",
    "bind takeover",
    "retarget-reach",
    "log info vip.acquire",
    "ack c1 ok",
    "notify MASTER",
    "confirm-takeover e4",
    "report",
  ]);
  assert.equal(phase(r.state.phase), "held e4");
});

test("group machine, an acquire's bind announces on the context's GARP schedule", () => {
  const garp = { offsetsMs: [0, 50], refreshMs: 1000 };
  const r = stepGroup(STATES.released(), acquire("c1", 4), { fault: null, garp });
  assert.deepEqual(r.effects.at(-1), { type: "bind", vips: [VIP], takeover: false, garp, forwardMs: 0 });
});

test("group machine, a planned move's forwarding and drain windows reach the bind and the unbind (at once and after the overlap)", () => {
  const ctx = { fault: null, garp: { offsetsMs: [0], refreshMs: 0 } };
  const acq = stepGroup(STATES.released(), command("c1", 4, { kind: "acquire", takeover: false, forwardMs: 30_000 }), ctx);
  assert.deepEqual(acq.effects.at(-1), { type: "bind", vips: [VIP], takeover: false, garp: ctx.garp, forwardMs: 30_000 });
  const now = stepGroup(STATES.held(), command("c2", 4, { kind: "release", afterMs: 0, drainMs: 20_000, members: ["198.18.0.12"] }), ctx);
  assert.deepEqual(now.effects.at(-1), { type: "unbind", vips: [VIP], drainMs: 20_000, members: ["198.18.0.12"] });
  const later = stepGroup(STATES.held(), command("c3", 4, { kind: "release", afterMs: 300, drainMs: 20_000, members: ["198.18.0.12"] }), ctx);
  const armed = later.effects.find((e) => e.type === "arm-release");
  assert.ok(armed && armed.type === "arm-release");
  const due = stepGroup(later.state, { type: "release-due", release: armed.release }, ctx);
  assert.deepEqual(due.effects.at(-1), { type: "unbind", vips: [VIP], drainMs: 20_000, members: ["198.18.0.12"] });
  // A FAULT lets go at once, whatever a planned move asked before.
  const fault = stepGroup(STATES.held(), { type: "local-release", why: "nginx cannot start" }, ctx);
  assert.deepEqual(fault.effects.at(-1), { type: "unbind", vips: [VIP], drainMs: 0, members: [] });
});

test("group machine, a failed re-acquire keeps the holding it had (epoch unchanged)", () => {
  const r = run(STATES.held(), [acquire("c1", 4), { type: "bound", error: "boom" }]);
  assert.equal(phase(r.state.phase), "held e3");
  assert.equal(r.state.newest, 4, "the newer epoch stays remembered");
});

test("group machine, epochs only grow: after a command of epoch 7, epochs 6 and below are stale, 7 is not", () => {
  let s = run(STATES.released(), [acquire("c1", 7), { type: "bound", error: null }]).state;
  for (const epoch of [1, 3, 6]) {
    const r = stepGroup(s, release(`r${epoch}`, epoch), healthy);
    assert.deepEqual(effects(r.effects), ["log warn command.stale", `ack r${epoch} refused: stale epoch ${epoch} for VI_1 (newest seen 7)`]);
    assert.equal(r.state, s, "a stale command leaves the state as it was");
  }
  s = stepGroup(s, release("r7", 7), healthy).state;
  assert.equal(phase(s.phase), "releasing r7 e7 (else held e7)");
});

test("group machine, FAULT while held: the local release unbinds, then the group is released without acking or reporting (the node reports once)", () => {
  const r = run(
    STATES.held(),
    [
      { type: "local-release", why: "FAULT: nginx cannot start" },
      { type: "unbound", error: null },
    ],
    faulty,
  );
  assert.deepEqual(r.effects, ["unbind", "log warn vip.release.local"]);
  assert.equal(phase(r.state.phase), "released");
});

test("group machine, a local release that fails keeps the VIP held", () => {
  const r = run(
    STATES.held(),
    [
      { type: "local-release", why: "FAULT" },
      { type: "unbound", error: "EPERM" },
    ],
    faulty,
  );
  assert.deepEqual(r.effects, ["unbind", "log error vip.release.failed"]);
  assert.equal(phase(r.state.phase), "held e3");
});

// ------------------------------------------------------------------ node machine

function nodeEffects(list: NodeEffect[]): string[] {
  return list.map((e) =>
    e.type === "notify"
      ? `notify ${e.group} ${e.state}`
      : e.type === "release-all"
        ? `release-all (${e.why})`
        : e.type === "log"
          ? `log ${e.level} ${e.event}`
          : e.type,
  );
}

const FAULTED: NodeState = { fault: { on: true, reason: "nginx cannot start: bind() failed" }, releasingForFault: false, stopping: false };

const nodeCases: Array<{
  name: string;
  from: NodeState;
  event: Parameters<typeof stepNode>[1];
  held?: string[];
  effects: string[];
  after: Partial<NodeState>;
}> = [
  {
    name: "healthy and still healthy: a report",
    from: initialNodeState(),
    event: { type: "health", reason: "" },
    effects: ["report"],
    after: { fault: { on: false, reason: "" } },
  },
  {
    name: "turning FAULT while holding: FAULT notified for every group, everything released at once, no report until the release is done",
    from: initialNodeState(),
    event: { type: "health", reason: "tracked interface lan0 is down" },
    held: ["VI_1"],
    effects: ["log error agent.fault", "notify VI_1 FAULT", "notify VI_2 FAULT", "release-all (FAULT: tracked interface lan0 is down)"],
    after: { fault: { on: true, reason: "tracked interface lan0 is down" }, releasingForFault: true },
  },
  {
    name: "turning FAULT while holding nothing: the same (the release finds nothing and reports)",
    from: initialNodeState(),
    event: { type: "health", reason: "nginx cannot start: x" },
    held: [],
    effects: ["log error agent.fault", "notify VI_1 FAULT", "notify VI_2 FAULT", "release-all (FAULT: nginx cannot start: x)"],
    after: { fault: { on: true, reason: "nginx cannot start: x" }, releasingForFault: true },
  },
  {
    name: "the local release is done: reports resume, with one at once",
    from: { ...FAULTED, releasingForFault: true },
    event: { type: "fault-released" },
    effects: ["report"],
    after: { releasingForFault: false, fault: FAULTED.fault },
  },
  {
    name: "still FAULT for another reason: the reason is updated and reported, nothing released again",
    from: FAULTED,
    event: { type: "health", reason: "tracked interface lan0 is down" },
    effects: ["report"],
    after: { fault: { on: true, reason: "tracked interface lan0 is down" } },
  },
  {
    name: "the fault clears: eligible again, BACKUP for every group not held, a report",
    from: FAULTED,
    event: { type: "health", reason: "" },
    held: ["VI_2"],
    effects: ["log info agent.fault.cleared", "notify VI_1 BACKUP", "report"],
    after: { fault: { on: false, reason: "" } },
  },
  { name: "stopping: marked, nothing else", from: initialNodeState(), event: { type: "stopping" }, effects: [], after: { stopping: true } },
  {
    name: "FAULT while stopping: still released at once",
    from: { ...initialNodeState(), stopping: true },
    event: { type: "health", reason: "x" },
    held: ["VI_1"],
    effects: ["log error agent.fault", "notify VI_1 FAULT", "notify VI_2 FAULT", "release-all (FAULT: x)"],
    after: { stopping: true, releasingForFault: true },
  },
];

for (const c of nodeCases) {
  test(`node machine: ${c.name}`, () => {
    const r = stepNode(c.from, c.event, { groups: ["VI_1", "VI_2"], held: c.held ?? [] });
    assert.deepEqual(nodeEffects(r.effects), c.effects);
    for (const [k, v] of Object.entries(c.after)) assert.deepEqual(r.state[k as keyof NodeState], v, k);
  });
}

const faultCases: Array<[string, Parameters<typeof faultReason>[0], Array<[string, boolean | undefined]>, string]> = [
  ["nginx running, links up: no fault", { state: "running", detail: "" }, [["lan0", true]], ""],
  ["nginx restarting: no fault (a restartable death must not move the VIP)", { state: "starting", detail: "" }, [["lan0", true]], ""],
  ["nginx down: FAULT with its detail", { state: "down", detail: "bind() to 0.0.0.0:80 failed" }, [], "nginx cannot start: bind() to 0.0.0.0:80 failed"],
  ["nginx down without a detail", { state: "down", detail: "" }, [], "nginx cannot start: restart failed"],
  [
    "a tracked link down",
    { state: "running", detail: "" },
    [
      ["lan0", true],
      ["lan1", false],
    ],
    "tracked interface lan1 is down",
  ],
  [
    "two tracked links down: the first is named",
    { state: "running", detail: "" },
    [
      ["lan0", false],
      ["lan1", false],
    ],
    "tracked interface lan0 is down",
  ],
  ["a link not seen yet is not down", { state: "running", detail: "" }, [["lan0", undefined]], ""],
  ["nginx down and a link down: nginx is named", { state: "down", detail: "x" }, [["lan0", false]], "nginx cannot start: x"],
];
for (const [name, nginx, links, reason] of faultCases) {
  test(`fault reason: ${name}`, () => assert.equal(faultReason(nginx, links), reason));
}

// ------------------------------------------------------------------ links: track_interfaces (node FAULT) and interface_tracks (per group)

const linkCases: Array<{
  name: string;
  config: LinkTrackConfig;
  up: Record<string, boolean>;
  reason: string;
  tracks: Array<[string, boolean]>;
}> = [
  {
    name: "an interface track down is no FAULT; its track if:eth1 fails",
    config: { track_interfaces: [], interface_tracks: ["eth1"] },
    up: { eth1: false },
    reason: "",
    tracks: [["if:eth1", false]],
  },
  {
    name: "an interface track up: its track passes",
    config: { track_interfaces: [], interface_tracks: ["eth1"] },
    up: { eth1: true },
    reason: "",
    tracks: [["if:eth1", true]],
  },
  {
    name: "both lists: the interface track down is ignored by the fault, the tracked interface is not",
    config: { track_interfaces: ["lan0"], interface_tracks: ["eth1"] },
    up: { lan0: true, eth1: false },
    reason: "",
    tracks: [
      ["if:lan0", true],
      ["if:eth1", false],
    ],
  },
  {
    name: "a tracked interface down is still the node's FAULT",
    config: { track_interfaces: ["lan0"], interface_tracks: ["eth1"] },
    up: { lan0: false, eth1: true },
    reason: "tracked interface lan0 is down",
    tracks: [
      ["if:lan0", false],
      ["if:eth1", true],
    ],
  },
  {
    name: "an interface track not seen yet passes (as a tracked interface does)",
    config: { track_interfaces: [], interface_tracks: ["eth1"] },
    up: {},
    reason: "",
    tracks: [["if:eth1", true]],
  },
  {
    name: "a link listed twice is reported once",
    config: { track_interfaces: [], interface_tracks: ["eth1", "eth1"] },
    up: { eth1: false },
    reason: "",
    tracks: [["if:eth1", false]],
  },
];
for (const c of linkCases) {
  test(`links: ${c.name}`, () => {
    const v = linkVerdicts(c.config, (iface) => c.up[iface]);
    assert.equal(faultReason({ state: "running", detail: "" }, v.fault), c.reason);
    assert.deepEqual(
      v.tracks.map((t) => [t.name, t.passing]),
      c.tracks,
    );
    for (const t of v.tracks) assert.equal(t.detail, t.passing ? "" : "link down");
  });
}

// ------------------------------------------------------------------ verification verdicts

const REACHING: ReachState = { reachable: true, failures: 0, lanOk: true, lanFresh: true, observedMs: 0 };
const verifyCases: Array<{ name: string; outcome: VerifyOutcome; reach?: ReachState; seen: string; answer: string; detail: string | RegExp }> = [
  {
    name: "free, no continuous probes: free",
    outcome: { kind: "observed", verdict: "free", detail: "nobody answered" },
    seen: "free",
    answer: "free",
    detail: "nobody answered",
  },
  {
    name: "free, but the continuous probes still get answers: overruled to serving",
    outcome: { kind: "observed", verdict: "free", detail: "timeout" },
    reach: REACHING,
    seen: "answering-serving",
    answer: "answering-serving",
    detail: "timeout; overruled: continuous probes through the VIP still get answers",
  },
  {
    name: "free, the continuous probes failing once: free (they are going silent)",
    outcome: { kind: "observed", verdict: "free", detail: "timeout" },
    reach: { ...REACHING, failures: 1 },
    seen: "free",
    answer: "free",
    detail: "timeout",
  },
  {
    name: "free, the continuous probes unreachable: free",
    outcome: { kind: "observed", verdict: "free", detail: "timeout" },
    reach: { ...REACHING, reachable: false, failures: 3 },
    seen: "free",
    answer: "free",
    detail: "timeout",
  },
  {
    name: "answering-serving stays serving",
    outcome: { kind: "observed", verdict: "answering-serving", detail: "200" },
    reach: REACHING,
    seen: "answering-serving",
    answer: "answering-serving",
    detail: "200",
  },
  {
    name: "answering-not-serving is not overruled when the continuous probes' last answer is unknown",
    outcome: { kind: "observed", verdict: "answering-not-serving", detail: "502" },
    reach: REACHING,
    seen: "answering-not-serving",
    answer: "answering-not-serving",
    detail: "502",
  },
  {
    name: "answering-not-serving (one slow answer) while the continuous probes' last probe got the service's answer: overruled, serving",
    outcome: { kind: "observed", verdict: "answering-not-serving", detail: "timeout after 63 ms" },
    reach: { ...REACHING, lastOk: true },
    seen: "answering-serving",
    answer: "answering-serving",
    detail: /^timeout after 63 ms; overruled/,
  },
  {
    name: "answering-not-serving while the continuous probes are refused (nginx dead behind a live ARP): not overruled",
    outcome: { kind: "observed", verdict: "answering-not-serving", detail: "refused" },
    reach: { ...REACHING, lastOk: false },
    seen: "answering-not-serving",
    answer: "answering-not-serving",
    detail: "refused",
  },
  {
    name: "answering-not-serving while the continuous probes have started failing: not overruled",
    outcome: { kind: "observed", verdict: "answering-not-serving", detail: "timeout" },
    reach: { ...REACHING, failures: 1, lastOk: false },
    seen: "answering-not-serving",
    answer: "answering-not-serving",
    detail: "timeout",
  },
  {
    name: "no binding on this host: answered serving (when in doubt, no takeover)",
    outcome: { kind: "unbound", detail: "no interface for group VI_1" },
    seen: "free",
    answer: "answering-serving",
    detail: "no interface for group VI_1",
  },
  {
    name: "the verifier failed: answered serving, the failure in the detail",
    outcome: { kind: "failed", error: "arping: EPERM" },
    seen: "free",
    answer: "answering-serving",
    detail: "verification failed: arping: EPERM",
  },
  {
    name: "the verifier failed while the probes still reach: serving, overruled too",
    outcome: { kind: "failed", error: "x" },
    reach: REACHING,
    seen: "answering-serving",
    answer: "answering-serving",
    detail: /^verification failed: x; overruled/,
  },
  {
    name: "a free verdict whose detail reads like a failure stays free: no verdict is read from text",
    outcome: { kind: "observed", verdict: "free", detail: "verification failed to find anyone" },
    seen: "free",
    answer: "free",
    detail: "verification failed to find anyone",
  },
];
for (const c of verifyCases) {
  test(`verification: ${c.name}`, () => {
    const j = judgeVerification(c.outcome, c.reach);
    assert.equal(j.seen, c.seen);
    assert.equal(j.answer, c.answer);
    if (typeof c.detail === "string") assert.equal(j.detail, c.detail);
    else assert.match(j.detail, c.detail);
  });
}

// ------------------------------------------------------------------ stop

const stopCases: Array<[string, number, boolean, string]> = [
  ["holding nothing: nothing to hand over", 0, true, "nothing held"],
  ["holding nothing, no coordinator: nothing to hand over", 0, false, "nothing held"],
  ["holding, connected: ask for a handover", 1, true, "handover"],
  ["holding, no coordinator: nobody can take over", 2, false, "the coordinator is unreachable, so nobody can take over"],
];
for (const [name, held, connected, expected] of stopCases) {
  test(`stop plan: ${name}`, () => {
    const p = stopPlan(held, connected);
    assert.equal(p.kind === "handover" ? "handover" : p.outcome, expected);
  });
}

test("handover outcome in words: timed out, handed over, partly kept", () => {
  assert.equal(handoverOutcome(undefined, 2000), "handover did not complete within 2000 ms");
  assert.equal(handoverOutcome({ handedOver: ["VI_1"], kept: [], detail: "" }, 2000), "handed over VI_1");
  assert.equal(handoverOutcome({ handedOver: [], kept: [], detail: "" }, 2000), "handed over nothing");
  assert.equal(handoverOutcome({ handedOver: ["VI_1"], kept: ["VI_2"], detail: "no eligible peer" }, 2000), "handed over VI_1; kept VI_2 (no eligible peer)");
});

// ------------------------------------------------------------------ the core loop, time driven by the test

interface Rig {
  core: AgentCore;
  clock: ManualScheduler;
  vips: FakeVips;
  nginx: FakeNginx;
  links: FakeLinks;
  notify: FakeNotify;
  verify: FakeVerify;
  reach: FakeReach;
  sent: AgentMessage[];
  lan: FakeLan;
  /** Every memory the core saved, in order. */
  saved: AgentMemory[];
}

async function rig(
  opts: {
    heartbeatMs?: number;
    force?: boolean;
    lan?: FakeLan;
    term?: number;
    rememberedTerm?: number;
    /** The agent config's `groups` (YAML flow). */
    groups?: string;
    /** More agent config (YAML lines). */
    extra?: string;
    /** The welcome's VIPs of VI_1. */
    vips?: string[];
    /** The drills port (none by default). */
    drills?: DrillPort;
  } = {},
): Promise<Rig> {
  const lan = opts.lan ?? new FakeLan();
  const config = parseConfigText(
    agentConfigSchema,
    `node_id: lb1\ncoordinator: "127.0.0.1:1"\ninsecure: true\nstate_dir: /nonexistent/keepvip-unit\nstop_timeout: 2s\nforce_release_on_stop: ${opts.force ?? false}\ngroups: ${opts.groups ?? "{VI_1: {interface: lan0}}"}\ntrack_interfaces: [lan0]\n${opts.extra ?? ""}`,
    "agent.yaml",
  );
  const clock = new ManualScheduler();
  const r: Omit<Rig, "core"> & { core?: AgentCore } = {
    clock,
    vips: new FakeVips(lan, "lb1"),
    nginx: new FakeNginx(),
    links: new FakeLinks(),
    notify: new FakeNotify(),
    verify: new FakeVerify(lan, "lb1"),
    reach: new FakeReach(),
    sent: [],
    lan,
    saved: [],
  };
  const core = new AgentCore({
    config,
    vips: r.vips,
    nginx: r.nginx,
    tracks: new FakeTracks(),
    reach: r.reach,
    verify: r.verify,
    notify: r.notify,
    link: r.links,
    upstreams: new FakeUpstreams(),
    backends: new FakeBackends(),
    ...(opts.drills ? { drills: opts.drills } : {}),
    log: silentLogger,
    memory: { epochs: {}, term: opts.rememberedTerm ?? 0, groups: [] },
    saveMemory: (m) => void r.saved.push(structuredClone(m)),
    instanceId: "lb1-test",
    scheduler: clock,
  });
  r.core = core;
  await core.init();
  core.attach((m) => (r.sent.push(m), true));
  const welcome = {
    sessionId: "s",
    heartbeatIntervalMs: opts.heartbeatMs ?? 60_000,
    deadIntervalMs: 180_000,
    reachIntervalMs: 100,
    verifyTimeoutMs: 150,
    reachFall: 3,
    term: opts.term ?? 0,
    groups: [{ name: "VI_1", vips: opts.vips ?? ["198.18.0.100/24"], servicePort: 80, servicePath: "/aaa", tracks: [], lanReferences: [] }],
  };
  // As the session does: a welcome counts only once the core accepts it.
  if (core.acceptWelcome(welcome) === "") core.message({ body: { $case: "welcome", value: welcome } });
  return { ...r, core };
}

/** Lets every promise chain the loop started run to its end (no time passes). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Moves the test's clock by `ms`, 10 ms at a time, letting the loop settle after each step. */
async function advance(r: Rig, ms: number): Promise<void> {
  await settle();
  for (let left = ms; left > 0; left -= Math.min(10, left)) {
    await r.clock.advance(Math.min(10, left));
    await settle();
  }
}

const send = (
  r: Rig,
  id: string,
  epoch: number,
  action:
    | { $case: "acquire"; value: { vips: string[]; takeover: boolean; forwardMs: number } }
    | { $case: "release"; value: { vips: string[]; afterMs: number; drainMs: number; memberAddresses: string[] } },
  term = 0,
) => r.core.message({ body: { $case: "command", value: { commandId: id, group: "VI_1", epoch, term, reason: "test", action } } });
const acquireMsg = (takeover = false) => ({ $case: "acquire" as const, value: { vips: ["198.18.0.100/24"], takeover, forwardMs: 0 } });
const releaseMsg = (afterMs = 0) => ({ $case: "release" as const, value: { vips: ["198.18.0.100/24"], afterMs, drainMs: 0, memberAddresses: [] } });
const acks = (r: Rig) =>
  r.sent.flatMap((m) => (m.body?.$case === "ack" ? [`${m.body.value.commandId} ${m.body.value.ok ? "ok" : `refused: ${m.body.value.error}`}`] : []));
const welcomeOf = (_r: Rig): Welcome => ({
  sessionId: "s2",
  heartbeatIntervalMs: 60_000,
  deadIntervalMs: 180_000,
  reachIntervalMs: 100,
  verifyTimeoutMs: 150,
  reachFall: 3,
  term: 0,
  groups: [],
});
const reports = (r: Rig) => r.sent.flatMap((m) => (m.body?.$case === "report" ? [m.body.value] : []));

test("core: the reach probe through the VIP is a TCP connect to the service port, not the HTTP path (a backend's fault is not the holder's)", async () => {
  const r = await rig();
  const t = r.reach.targets.get("VI_1");
  assert.deepEqual([t?.vip, t?.port, t?.path], ["198.18.0.100", 80, ""]);
  r.core.close();
});

test("core: a delayed release waits out its overlap on the scheduler, then releases and acks", async () => {
  const r = await rig();
  send(r, "c1", 1, acquireMsg());
  await advance(r, 0);
  assert.deepEqual(r.lan.holders("198.18.0.100"), ["lb1"]);
  send(r, "c2", 2, releaseMsg(300));
  await advance(r, 299);
  assert.deepEqual(r.lan.holders("198.18.0.100"), ["lb1"], "still held during the overlap");
  assert.deepEqual(acks(r), ["c1 ok"], "the delayed release is acked only when done");
  await advance(r, 1);
  assert.deepEqual(r.lan.holders("198.18.0.100"), []);
  assert.deepEqual(acks(r), ["c1 ok", "c2 ok"]);
  assert.deepEqual(r.notify.calls.at(-1), ["VI_1", "BACKUP"]);
  r.core.close();
});

test("core: a newer acquire during the overlap cancels the delayed release: the VIP is never dropped", async () => {
  const r = await rig();
  send(r, "c1", 1, acquireMsg());
  send(r, "c2", 2, releaseMsg(300));
  await advance(r, 100);
  send(r, "c3", 3, acquireMsg());
  await advance(r, 1000);
  assert.deepEqual(r.vips.log, ["acquire 198.18.0.100 on lan0", "acquire 198.18.0.100 on lan0"], "never released");
  assert.deepEqual(acks(r), ["c1 ok", "c3 ok"]);
  assert.equal(r.core.held.get("VI_1")?.epoch, 3);
  r.core.close();
});

test("core: a stale command is acked as stale and not obeyed; the epoch guard holds the newest", async () => {
  const r = await rig();
  send(r, "c1", 5, acquireMsg());
  send(r, "c2", 4, releaseMsg());
  await advance(r, 0);
  assert.deepEqual(acks(r), ["c1 ok", "c2 refused: stale epoch 4 for VI_1 (newest seen 5)"]);
  assert.deepEqual(r.lan.holders("198.18.0.100"), ["lb1"]);
  assert.equal(r.core.epochs.newest("VI_1"), 5);
  r.core.close();
});

test("core: a command of a lower leader term is refused and not obeyed, whatever its epoch; the term is kept", async () => {
  const r = await rig({ term: 7 });
  assert.equal(r.core.terms.newest, 7);
  assert.equal(r.saved.at(-1)?.term, 7, "the welcome's higher term was persisted");
  send(r, "c1", 1, acquireMsg(), 7);
  await advance(r, 0);
  // A deposed leader (term 6) replays a release with a newer epoch: refused.
  send(r, "c2", 2, releaseMsg(), 6);
  await advance(r, 0);
  assert.deepEqual(acks(r), ["c1 ok", "c2 refused: leader term 6 is older than term 7 this agent has followed (a deposed leader)"]);
  assert.deepEqual(r.lan.holders("198.18.0.100"), ["lb1"], "the stale release was not obeyed");
  assert.equal(r.core.epochs.newest("VI_1"), 1, "a refused command does not raise the epoch");
  // The next leader (term 8) is followed, and its term persisted before the command runs.
  send(r, "c3", 3, releaseMsg(), 8);
  await advance(r, 0);
  assert.equal(acks(r).at(-1), "c3 ok");
  assert.deepEqual(r.lan.holders("198.18.0.100"), []);
  assert.equal(r.saved.at(-1)?.term, 8);
  r.core.close();
});

test("core: a welcome of a lower term than the one remembered is not followed; the hello says the term", async () => {
  const r = await rig({ rememberedTerm: 9, term: 4 });
  assert.equal(r.core.terms.newest, 9);
  assert.equal(r.core.hello().term, 9);
  assert.match(r.core.acceptWelcome({ ...welcomeOf(r), term: 4 }), /leader term 4 is older than term 9/);
  assert.match(
    r.core.acceptWelcome({ ...welcomeOf(r), term: 0 }),
    /a single coordinator \(term 0\), but this agent has followed replicated coordinators up to term 9/,
  );
  assert.equal(r.core.acceptWelcome({ ...welcomeOf(r), term: 9 }), "");
  assert.equal(r.saved.length, 0, "nothing raised, nothing saved");
  r.core.close();
});

test("core: a release arriving while a takeover is being confirmed wins: the re-announce never puts the VIP back", async () => {
  const r = await rig();
  // Another host still answers for the VIP, so the takeover is not confirmed and is announced again.
  r.lan.owners.set("198.18.0.100", new Set(["lb9"]));
  // Like the real controller: acquire and release run one at a time, in order. The LAN is
  // asked (confirm) and the release's `ip addr del` runs (release) only when the test says.
  const queue = new SerialQueue();
  let answerConfirm: () => void = () => undefined;
  let finishRelease: () => void = () => undefined;
  const fake = { acquire: r.vips.acquire.bind(r.vips), release: r.vips.release.bind(r.vips), confirm: r.vips.confirm.bind(r.vips) };
  r.vips.acquire = (vips, opts) => queue.run(() => fake.acquire(vips, opts));
  r.vips.release = (vips) =>
    queue.run(async () => {
      await new Promise<void>((resolve) => (finishRelease = resolve));
      await fake.release(vips);
    });
  r.vips.confirm = async (vip) => {
    await new Promise<void>((resolve) => (answerConfirm = resolve));
    return fake.confirm(vip);
  };
  send(r, "c1", 2, acquireMsg(true));
  await advance(r, 0);
  assert.deepEqual(r.lan.holders("198.18.0.100").sort(), ["lb1", "lb9"], "taken over; the LAN is being asked");
  // The old holder preempts back (epoch 3): lb1's release starts while the LAN is still being asked.
  send(r, "c2", 3, releaseMsg(0));
  await advance(r, 0);
  answerConfirm(); // "lb9 also answers": not confirmed
  await advance(r, 0);
  finishRelease();
  await advance(r, 100);
  answerConfirm();
  await advance(r, 100);
  assert.deepEqual(r.lan.holders("198.18.0.100"), ["lb9"], "released and never put back");
  assert.deepEqual(acks(r), ["c1 ok", "c2 ok"]);
  assert.equal(r.core.held.get("VI_1"), undefined);
  r.core.close();
});

test("core: a drill records this node's own move as the VIP port changes an address, not once the bind or unbind is done", async () => {
  const steps: string[] = [];
  let wallMs = () => 0;
  const drills: DrillPort = {
    start: () => undefined,
    stop: () => undefined,
    running: () => false,
    ownMove: (g) => void steps.push(`${wallMs()} own move ${g}`),
  };
  const r = await rig({ drills });
  const t0 = r.clock.wallMs();
  wallMs = () => r.clock.wallMs() - t0;
  const sleep = (ms: number) => new Promise<void>((resolve) => r.clock.setTimeout(resolve, ms));
  // The VIP port as wiring.ts makes it: 40 ms of work before the address changes (forwarding
  // set up; the drain's copy on lo), 20 ms after it (the first GARP), the hook right before
  // the change (VipController calls it right before `ip addr add/del`).
  const fake = { acquire: r.vips.acquire.bind(r.vips), release: r.vips.release.bind(r.vips) };
  r.vips.acquire = async (vips, opts) => {
    steps.push(`${wallMs()} bind begins`);
    await sleep(40);
    await fake.acquire(vips, { ...opts, moving: () => (opts.moving?.(), steps.push(`${wallMs()} ip addr add`)) });
    await sleep(20);
    steps.push(`${wallMs()} bind done`);
  };
  r.vips.release = async (vips, opts) => {
    steps.push(`${wallMs()} unbind begins`);
    await sleep(40);
    await fake.release(vips, { ...opts, moving: () => (opts?.moving?.(), steps.push(`${wallMs()} ip addr del`)) });
    await sleep(20);
    steps.push(`${wallMs()} unbind done`);
  };
  send(r, "c1", 1, acquireMsg());
  await advance(r, 100);
  send(r, "c2", 2, releaseMsg(0));
  await advance(r, 100);
  assert.deepEqual(steps, [
    "0 bind begins",
    "40 own move VI_1",
    "40 ip addr add",
    "60 bind done",
    "100 unbind begins",
    "140 own move VI_1",
    "140 ip addr del",
    "160 unbind done",
  ]);
  // Nothing moves, nothing is recorded: a release of a VIP not here, an acquire of one held here already.
  steps.length = 0;
  send(r, "c3", 3, releaseMsg(0));
  await advance(r, 100);
  send(r, "c4", 4, acquireMsg());
  await advance(r, 100);
  send(r, "c5", 5, acquireMsg());
  await advance(r, 100);
  assert.deepEqual(
    steps.filter((s) => s.includes("own move")),
    ["340 own move VI_1"],
  );
  assert.deepEqual(acks(r), ["c1 ok", "c2 ok", "c3 ok", "c4 ok", "c5 ok"]);
  r.core.close();
});

test("core: FAULT while held releases at once, and no report shows the fault while the VIP is still held", async () => {
  const r = await rig();
  send(r, "c1", 1, acquireMsg());
  await advance(r, 0);
  r.sent.length = 0;
  r.links.set("lan0", false);
  await advance(r, 0);
  assert.deepEqual(r.vips.log.at(-1), "release 198.18.0.100");
  assert.deepEqual(r.lan.holders("198.18.0.100"), []);
  assert.ok(r.notify.calls.some(([g, s]) => g === "VI_1" && s === "FAULT"));
  const faultReports = reports(r).filter((p) => p.fault);
  assert.ok(faultReports.length > 0, "the fault is reported");
  for (const p of faultReports) assert.deepEqual(p.held, [], "a FAULT report never shows a held VIP");
  // An acquire while FAULT is refused.
  send(r, "c2", 2, acquireMsg());
  await advance(r, 0);
  assert.deepEqual(acks(r), ["c2 refused: node is FAULT: tracked interface lan0 is down"]);
  r.core.close();
});

test("core: the heartbeat report runs on the scheduler", async () => {
  const r = await rig({ heartbeatMs: 1000 });
  const before = reports(r).length;
  await advance(r, 999);
  assert.equal(reports(r).length, before);
  await advance(r, 2001);
  assert.equal(reports(r).length, before + 3);
  r.core.close();
  await advance(r, 5000);
  assert.equal(reports(r).length, before + 3, "closed: no more heartbeats");
});

test("core: stop while held with no answer to the leave request gives up after stop_timeout, keeps the VIP and says why", async () => {
  const r = await rig();
  send(r, "c1", 1, acquireMsg());
  await advance(r, 0);
  let outcome: string | undefined;
  void r.core.stop(true).then((o) => (outcome = o));
  await advance(r, 1999);
  assert.equal(outcome, undefined, "still waiting for the handover");
  assert.ok(
    r.sent.some((m) => m.body?.$case === "leaving"),
    "asked for a handover",
  );
  await advance(r, 1);
  assert.equal(outcome, "handover did not complete within 2000 ms");
  assert.deepEqual(r.lan.holders("198.18.0.100"), ["lb1"], "kept without force_release_on_stop");
  assert.deepEqual(r.notify.calls.at(-1), ["VI_1", "STOP"]);
});

test("core: stop hands over: once the coordinator says ready, the release in its overlap finishes before stop returns", async () => {
  const r = await rig();
  send(r, "c1", 1, acquireMsg());
  await advance(r, 0);
  let outcome: string | undefined;
  void r.core.stop(true).then((o) => (outcome = o));
  await advance(r, 0);
  send(r, "c2", 2, releaseMsg(300));
  r.core.message({ body: { $case: "leaveReady", value: { handedOver: ["VI_1"], kept: [], detail: "" } } });
  await advance(r, 200);
  assert.equal(outcome, undefined, "waits for the pending release");
  await advance(r, 200);
  assert.equal(outcome, "handed over VI_1");
  assert.deepEqual(r.lan.holders("198.18.0.100"), []);
  assert.deepEqual(acks(r), ["c1 ok", "c2 ok"]);
});

test("core: stop with force_release_on_stop and no coordinator releases", async () => {
  const r = await rig({ force: true });
  send(r, "c1", 1, acquireMsg());
  await advance(r, 0);
  const outcome = await r.core.stop(false);
  assert.equal(outcome, "the coordinator is unreachable, so nobody can take over; released anyway (force_release_on_stop)");
  assert.deepEqual(r.lan.holders("198.18.0.100"), []);
});

test("core: a verification answer carries the typed verdict; a failing verifier answers serving", async () => {
  const r = await rig();
  r.core.message({ body: { $case: "verify", value: { commandId: "v1", group: "VI_1", vips: ["198.18.0.100/24"], port: 80, path: "", timeoutMs: 150 } } });
  await advance(r, 0);
  r.verify.verify = async () => {
    throw new Error("arping: EPERM");
  };
  r.core.message({ body: { $case: "verify", value: { commandId: "v2", group: "VI_1", vips: ["198.18.0.100/24"], port: 80, path: "", timeoutMs: 150 } } });
  await advance(r, 0);
  const results = r.sent.flatMap((m) => (m.body?.$case === "verifyResult" ? [m.body.value] : []));
  assert.deepEqual(
    results.map((v) => [v.commandId, v.verdict, v.detail]),
    [
      ["v1", 1, "fake LAN: held by nobody"],
      ["v2", 2, "verification failed: arping: EPERM"],
    ],
  );
  r.core.close();
});

test("core: an interface track going down is no FAULT: the VIP stays, the report carries if:eth1 failing, then passing", async () => {
  const r = await rig({ extra: "interface_tracks: [eth1]\n" });
  r.links.set("lan0", true);
  r.links.set("eth1", true);
  send(r, "c1", 1, acquireMsg());
  await advance(r, 0);
  r.sent.length = 0;
  r.links.set("eth1", false);
  await advance(r, 0);
  const down = reports(r).at(-1);
  assert.ok(down, "a report goes out when the link changes");
  assert.equal(down.fault, false);
  assert.deepEqual(
    down.tracks.filter((t) => t.name.startsWith("if:")).map((t) => [t.name, t.passing, t.detail]),
    [
      ["if:lan0", true, ""],
      ["if:eth1", false, "link down"],
    ],
  );
  assert.deepEqual(r.lan.holders("198.18.0.100"), ["lb1"], "nothing released");
  assert.ok(!r.notify.calls.some(([, s]) => s === "FAULT"), "no FAULT notification");
  r.links.set("eth1", true);
  await advance(r, 0);
  assert.deepEqual(
    reports(r)
      .at(-1)
      ?.tracks.filter((t) => t.name === "if:eth1")
      .map((t) => t.passing),
    [true],
  );
  r.core.close();
});

test("core: per-address bindings reach the VIP port: an override on its interface, the rest on the group's; the held list says where", async () => {
  const r = await rig({
    groups: "{VI_1: {interface: lan0, addresses: {198.18.0.101: {interface: eth1, label: 'eth1:vip'}}}}",
    vips: ["198.18.0.100/24", "198.18.0.101/24"],
  });
  send(r, "c1", 1, {
    $case: "acquire",
    value: { vips: ["198.18.0.100/24", "198.18.0.101/24"], takeover: false, forwardMs: 0 },
  });
  await advance(r, 0);
  assert.deepEqual(r.vips.log.slice(-2), ["acquire 198.18.0.100 on lan0", "acquire 198.18.0.101 on eth1"]);
  assert.deepEqual(
    r.core.held.get("VI_1")?.vips.map((v) => [v.address, v.interface, v.label]),
    [
      ["198.18.0.100", "lan0", undefined],
      ["198.18.0.101", "eth1", "eth1:vip"],
    ],
  );
  assert.deepEqual(
    r.core.hello().state?.held.map((h) => [h.address, h.interface]),
    [
      ["198.18.0.100/24", "lan0"],
      ["198.18.0.101/24", "eth1"],
    ],
  );
  r.core.close();
});
