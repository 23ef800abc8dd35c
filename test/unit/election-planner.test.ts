import { test } from "node:test";
import assert from "node:assert/strict";
import { lanProvenFresh } from "../../agent/probe/reach.js";
import {
  commandDelivered,
  commandsSent,
  initialRuntime,
  step,
  type Action,
  type PlannerEvent,
  type PlannerTiming,
  type StepResult,
  type UnitRuntime,
} from "../../coordinator/election/planner.js";
import { isProvenWitness, type NodeView, type UnitSpec } from "../../coordinator/election/view.js";
import { prng, reach, timing, unit, view, type UnitOptions } from "./election-fixtures.js";

/**
 * A unit under the planner, driven one event at a time. The clock only moves
 * when a case says so; views change only when a case says so (the agents are
 * played by the case, so every report is deliberate).
 */
class Cluster {
  nowMs = 10_000;
  /** The planner's timing; a case may try another profile. */
  timing: PlannerTiming = timing;
  rt: UnitRuntime;
  readonly views = new Map<string, NodeView>();
  /** Nodes the engine says a command of the unit is still on its way to. */
  onTheWay?: Set<string>;
  last!: StepResult;

  constructor(
    readonly unit: UnitSpec,
    opts: { epoch?: number; lastHolder?: string | null; views?: Record<string, Partial<NodeView>> } = {},
  ) {
    this.rt = initialRuntime(opts.epoch ?? 0, opts.lastHolder ?? null);
    for (const m of unit.members) this.views.set(m.node, view(m.node, unit, opts.views?.[m.node]));
  }

  set(node: string, over: Partial<NodeView>): this {
    this.views.set(node, { ...this.views.get(node)!, ...over });
    return this;
  }

  holds(node: string, held = true): this {
    return this.set(node, { holds: held ? [...this.unit.groups] : [] });
  }

  after(ms: number): this {
    this.nowMs += ms;
    return this;
  }

  step(event: PlannerEvent = { type: "tick" }): Action[] {
    this.last = step(this.rt, { unit: this.unit, views: this.views, nowMs: this.nowMs, timing: this.timing, onTheWay: this.onTheWay }, event);
    this.rt = this.last.runtime;
    return this.last.actions;
  }

  /** `node` acks its acquire for every group (or the ones given) at `epoch`. */
  ackAcquire(node: string, epoch: number, groups = this.unit.groups, ok = true, error?: string): Action[] {
    const out: Action[] = [];
    for (const group of groups) out.push(...this.step({ type: "ack", node, group, epoch, action: "acquire", ok, error }));
    return out;
  }

  /** Acks the acquire in flight and updates the new holder's view, as its agent would. */
  completeMove(): Action[] {
    const phase = this.rt.phase;
    assert.equal(phase.kind, "acquiring", "a move must be in flight");
    if (phase.kind !== "acquiring") return [];
    this.holds(phase.to);
    return this.ackAcquire(phase.to, phase.epoch);
  }

  verified(node: string, verdict: "free" | "answering-serving" | "answering-not-serving"): Action[] {
    return this.step({ type: "verified", node, verdict });
  }

  /** A steady unit held by `holder` at `epoch` (the state after a completed move). */
  static holding(u: UnitSpec, holder: string, epoch: number, views: Record<string, Partial<NodeView>> = {}): Cluster {
    const c = new Cluster(u, { epoch, lastHolder: holder, views });
    c.holds(holder);
    c.rt = { ...c.rt, holder };
    return c;
  }
}

/** Commands in a compact, comparable form; notes left out. */
function commands(actions: Action[]): string[] {
  return actions.flatMap((a) => {
    if (a.type === "acquire") return [`acquire ${a.node} e${a.epoch}${a.takeover ? " takeover" : ""}`];
    if (a.type === "release") return [`release ${a.node} e${a.epoch}${a.afterMs ? ` +${a.afterMs}ms` : ""}`];
    if (a.type === "verify") return [`verify ${a.node}`];
    return [];
  });
}

const notes = (actions: Action[], kind?: string) =>
  actions.filter((a): a is Extract<Action, { type: "note" }> => a.type === "note" && (kind === undefined || a.kind === kind));

const seed = (o: UnitOptions = {}) => unit(o);
const three = (o: UnitOptions = {}) => unit({ members: ["lb1:100", "lb2:90", "lb3:80"], tracks: [], ...o });

interface PlannerCase {
  name: string;
  run: () => void;
}

const cases: PlannerCase[] = [
  // ------------------------------------------------------------ from empty
  {
    name: "from empty, the best node acquires with epoch 1, without verification (there was no last holder) and without takeover announcements (nobody to take over from)",
    run: () => {
      const c = new Cluster(seed());
      assert.deepEqual(commands(c.step()), ["acquire lb1 e1"]);
      assert.equal(c.rt.phase.kind, "acquiring");
      assert.equal(c.rt.holder, null, "not the holder before it acks");
      assert.equal(c.last.wakeAtMs, c.nowMs + timing.ackTimeoutMs, "wakes for the ack timeout");
    },
  },
  {
    name: "the acquire completes on the ack: holder and lastHolder set, nothing to release, a move note with its duration",
    run: () => {
      const c = new Cluster(seed());
      c.step();
      c.after(30);
      const a = c.completeMove();
      assert.deepEqual(commands(a), []);
      assert.equal(c.rt.holder, "lb1");
      assert.equal(c.rt.lastHolder, "lb1");
      assert.equal(c.rt.epoch, 1);
      assert.deepEqual(c.rt.phase, { kind: "steady" });
      const move = notes(a, "move")[0];
      assert.equal(move.durationMs, 30);
      assert.match(move.message, /lb1 holds VI_1 \(epoch 1\)/);
      assert.deepEqual(commands(c.step()), [], "a tick afterwards changes nothing");
    },
  },
  {
    name: "from empty with a persisted epoch 7 and no last holder, the first acquire carries epoch 8",
    run: () => {
      const c = new Cluster(seed(), { epoch: 7 });
      assert.deepEqual(commands(c.step()), ["acquire lb1 e8"]);
    },
  },
  {
    name: "nobody eligible: nothing is sent and the election says why",
    run: () => {
      const c = new Cluster(seed(), { views: { lb1: { fault: true }, lb2: { nginx: "down" } } });
      const a = c.step();
      assert.deepEqual(commands(a), []);
      assert.equal(c.rt.last?.rule, "no-eligible");
      assert.equal(notes(a, "election").length, 1);
      assert.equal(notes(c.step(), "election").length, 0, "the same decision is not noted twice");
    },
  },
  {
    name: "a node that never connected gets nothing; the connected one acquires",
    run: () => {
      const c = new Cluster(seed(), { views: { lb1: { session: "never" } } });
      assert.deepEqual(commands(c.step()), ["acquire lb2 e1"]);
    },
  },

  // ------------------------------------------------------------ coordinator restart (docs/design.md, Invariants, 3)
  {
    name: "restart with epoch 7 and lastHolder lb1: lb1's hello claiming the VIP is adopted with no command and no new epoch",
    run: () => {
      const c = new Cluster(seed(), { epoch: 7, lastHolder: "lb1" });
      c.holds("lb1");
      const a = c.step();
      assert.deepEqual(commands(a), []);
      assert.equal(c.rt.holder, "lb1");
      assert.equal(c.rt.epoch, 7);
      assert.match(notes(a, "election")[0].message, /lb1 reports holding VI_1: adopted as holder \(epoch 7\)/);
    },
  },
  {
    name: "restart: a backup that is the only claimant is adopted even though lastHolder says lb1 (agents' reports are the truth)",
    run: () => {
      const c = new Cluster(seed({ preempt: false }), { epoch: 7, lastHolder: "lb1", views: { lb1: { session: "never" } } });
      c.holds("lb2");
      assert.deepEqual(commands(c.step()), []);
      assert.equal(c.rt.holder, "lb2");
      assert.equal(c.rt.lastHolder, "lb2");
    },
  },
  {
    name: "restart: both claim the VIP with preempt on; the last holder (lb2) is adopted and the better lb1 gets a planned move, not a release",
    run: () => {
      const c = new Cluster(seed(), { epoch: 7, lastHolder: "lb2" });
      c.holds("lb1").holds("lb2");
      const a = c.step();
      assert.equal(c.rt.holder, "lb2");
      // lb1 is then better (100 > 90) with preempt on: the planned move starts, and lb1 is part of it, not a straggler.
      assert.deepEqual(commands(a), ["acquire lb1 e8"]);
    },
  },
  {
    name: "restart: both claim the VIP and nopreempt: the last holder is adopted and the other is told to release",
    run: () => {
      const c = new Cluster(seed({ preempt: false }), { epoch: 7, lastHolder: "lb2" });
      c.holds("lb1").holds("lb2");
      const a = c.step();
      assert.equal(c.rt.holder, "lb2");
      assert.deepEqual(commands(a), ["release lb1 e7"]);
      assert.equal(notes(a, "conflict").length, 1);
    },
  },
  {
    name: "restart: both claim and no last holder is known: the better ranked is adopted",
    run: () => {
      const c = new Cluster(seed({ preempt: false }), { epoch: 3 });
      c.holds("lb1").holds("lb2");
      assert.deepEqual(commands(c.step()), ["release lb2 e3"]);
      assert.equal(c.rt.holder, "lb1");
    },
  },
  {
    name: "restart: the last holder has not come back and lb2 is eligible: lb2 verifies first, nothing is acquired",
    run: () => {
      const c = new Cluster(seed(), { epoch: 7, lastHolder: "lb1", views: { lb1: { session: "never" } } });
      assert.deepEqual(commands(c.step()), ["verify lb2"]);
      assert.equal(c.rt.epoch, 7);
      assert.equal(c.last.wakeAtMs, c.nowMs + timing.verifyTimeoutMs + timing.ackTimeoutMs);
      assert.deepEqual(commands(c.after(100).step()), [], "no second verify while one is out");
    },
  },
  {
    name: "restart: verdict free → lb2 acquires with takeover at epoch 8; on its ack the old holder is told to release",
    run: () => {
      const c = new Cluster(seed(), { epoch: 7, lastHolder: "lb1", views: { lb1: { session: "never" } } });
      c.step();
      assert.deepEqual(commands(c.verified("lb2", "free")), ["acquire lb2 e8 takeover"]);
      assert.deepEqual(commands(c.completeMove()), ["release lb1 e8"]);
      assert.equal(c.rt.holder, "lb2");
    },
  },
  {
    name: "restart: verdict answering-not-serving → promote with takeover too",
    run: () => {
      const c = new Cluster(seed(), { epoch: 7, lastHolder: "lb1", views: { lb1: { session: "never" } } });
      c.step();
      assert.deepEqual(commands(c.verified("lb2", "answering-not-serving")), ["acquire lb2 e8 takeover"]);
    },
  },
  {
    name: "restart: verdict answering-serving → cut-off, no acquire, and no re-verify until reverifyMs has passed",
    run: () => {
      const c = new Cluster(seed(), { epoch: 7, lastHolder: "lb1", views: { lb1: { session: "never" } } });
      c.step();
      const t0 = c.nowMs;
      const a = c.verified("lb2", "answering-serving");
      assert.deepEqual(commands(a), []);
      assert.equal(c.rt.phase.kind, "cut-off");
      assert.equal(c.last.wakeAtMs, t0 + timing.reverifyMs);
      assert.match(notes(a, "verify")[0].message, /still serving: lb1 is alive but cut off/);
      assert.deepEqual(commands(c.after(timing.reverifyMs - 1).step()), []);
      assert.deepEqual(commands(c.after(1).step()), ["verify lb2"]);
      assert.equal(c.rt.epoch, 7);
    },
  },
  {
    name: "restart: the cut-off last holder comes back holding: adopted, no command, epoch unchanged",
    run: () => {
      const c = new Cluster(seed(), { epoch: 7, lastHolder: "lb1", views: { lb1: { session: "never" } } });
      c.step();
      c.verified("lb2", "answering-serving");
      c.set("lb1", { session: "live" }).holds("lb1");
      assert.deepEqual(commands(c.after(300).step()), []);
      assert.equal(c.rt.holder, "lb1");
      assert.equal(c.rt.epoch, 7);
      assert.deepEqual(c.rt.phase, { kind: "steady" });
    },
  },
  {
    name: "restart: the last holder comes back holding while lb2 is still verifying: adopted, the late verdict is ignored",
    run: () => {
      const c = new Cluster(seed(), { epoch: 7, lastHolder: "lb1", views: { lb1: { session: "never" } } });
      c.step();
      c.set("lb1", { session: "live" }).holds("lb1");
      assert.deepEqual(commands(c.step()), []);
      assert.equal(c.rt.holder, "lb1");
      assert.deepEqual(commands(c.verified("lb2", "free")), []);
      assert.equal(c.rt.epoch, 7);
    },
  },
  {
    name: "a verification answer from a node that was not asked is ignored",
    run: () => {
      const c = new Cluster(three(), { epoch: 7, lastHolder: "lb1", views: { lb1: { session: "never" } } });
      assert.deepEqual(commands(c.step()), ["verify lb2"]);
      assert.deepEqual(commands(c.verified("lb3", "free")), []);
      assert.equal(c.rt.phase.kind, "verifying");
    },
  },
  {
    name: "an unanswered verification times out and the next best node is asked (the silent verifier cools down)",
    run: () => {
      const c = new Cluster(three(), { epoch: 7, lastHolder: "lb1", views: { lb1: { session: "never" } } });
      c.step();
      assert.deepEqual(commands(c.after(timing.verifyTimeoutMs + timing.ackTimeoutMs).step()), ["verify lb3"]);
      assert.deepEqual(commands(c.verified("lb3", "free")), ["acquire lb3 e8 takeover"]);
    },
  },
  {
    name: "an unanswered verification with one candidate: asked again once its cooldown passes, never lost",
    run: () => {
      const c = new Cluster(seed(), { epoch: 7, lastHolder: "lb1", views: { lb1: { session: "never" } } });
      c.step();
      assert.deepEqual(commands(c.after(timing.verifyTimeoutMs + timing.ackTimeoutMs).step()), [], "lb2 cools down");
      assert.equal(c.last.wakeAtMs, c.nowMs + timing.ackTimeoutMs, "a wake time is set so the retry is not forgotten");
      assert.deepEqual(commands(c.after(timing.ackTimeoutMs - 1).step()), []);
      assert.deepEqual(commands(c.after(1).step()), ["verify lb2"]);
    },
  },

  // ------------------------------------------------------------ holder lost
  {
    name: "the holder's session closes: the best other node verifies; holder and epoch unchanged",
    run: () => {
      const c = Cluster.holding(seed(), "lb1", 4);
      c.set("lb1", { session: "closed" });
      assert.deepEqual(commands(c.step()), ["verify lb2"]);
      assert.equal(c.rt.holder, "lb1");
      assert.equal(c.rt.epoch, 4);
    },
  },
  {
    name: "the holder's session goes silent (F8): verify, never a blind takeover",
    run: () => {
      const c = Cluster.holding(seed(), "lb1", 4);
      c.set("lb1", { session: "silent" });
      assert.deepEqual(commands(c.step()), ["verify lb2"]);
    },
  },
  {
    name: "verdict free after a lost holder → acquire with takeover at epoch+1; on the ack the lost holder is told to release at once",
    run: () => {
      const c = Cluster.holding(seed(), "lb1", 4);
      c.set("lb1", { session: "closed" });
      c.step();
      assert.deepEqual(commands(c.verified("lb2", "free")), ["acquire lb2 e5 takeover"]);
      assert.deepEqual(commands(c.completeMove()), ["release lb1 e5"]);
      assert.equal(c.rt.holder, "lb2");
      assert.equal(c.rt.lastHolder, "lb2");
    },
  },
  {
    name: "a lost holder that returns during the takeover is told to release, and not handed the VIP back in the same step (preempt waits for its release)",
    run: () => {
      const c = Cluster.holding(seed(), "lb1", 4);
      c.set("lb1", { session: "closed" });
      c.step();
      c.verified("lb2", "free");
      c.set("lb1", { session: "live" }); // back, still holding, and better than lb2
      assert.deepEqual(commands(c.after(10).step()), [], "part of the move: no straggler release, no second acquire");
      assert.deepEqual(commands(c.completeMove()), ["release lb1 e5"], "no acquire to lb1 next to its release");
      c.holds("lb1", false);
      assert.deepEqual(
        commands(c.after(5).step({ type: "ack", node: "lb1", group: "VI_1", epoch: 5, action: "release", ok: true })),
        ["acquire lb1 e6"],
        "then preempt, planned",
      );
    },
  },
  {
    name: "verdict answering-serving (F8): cut-off, no acquire; re-verify after reverifyMs",
    run: () => {
      const c = Cluster.holding(seed(), "lb1", 4);
      c.set("lb1", { session: "silent" });
      c.step();
      const t0 = c.nowMs;
      assert.deepEqual(commands(c.verified("lb2", "answering-serving")), []);
      assert.deepEqual(c.rt.phase, { kind: "cut-off", holder: "lb1", sinceMs: t0, nextVerifyMs: t0 + timing.reverifyMs });
      assert.equal(c.last.wakeAtMs, t0 + timing.reverifyMs);
      assert.deepEqual(commands(c.after(500).step()), []);
      assert.deepEqual(commands(c.after(timing.reverifyMs - 500).step()), ["verify lb2"]);
      assert.equal(c.rt.epoch, 4);
    },
  },
  {
    name: "cut-off: a peer reporting it cannot reach the VIP reachFall times brings the re-verify forward",
    run: () => {
      const c = Cluster.holding(seed(), "lb1", 4);
      c.set("lb1", { session: "silent" });
      c.step();
      c.verified("lb2", "answering-serving");
      c.set("lb2", { reach: reach("VI_1", 2) });
      assert.deepEqual(commands(c.after(100).step()), [], "two failures are not enough");
      c.set("lb2", { reach: reach("VI_1", 3) });
      assert.deepEqual(commands(c.after(100).step()), ["verify lb2"]);
    },
  },
  {
    name: "cut-off holder back in session, still holding (F2 agent restart, F8 heal): steady, no move, epoch unchanged",
    run: () => {
      const c = Cluster.holding(seed(), "lb1", 4);
      c.set("lb1", { session: "closed" });
      c.step();
      c.verified("lb2", "answering-serving");
      c.set("lb1", { session: "live" });
      const a = c.after(800).step();
      assert.deepEqual(commands(a), []);
      assert.deepEqual(c.rt.phase, { kind: "steady" });
      assert.equal(c.rt.holder, "lb1");
      assert.equal(c.rt.epoch, 4);
      assert.match(notes(a, "election")[0].message, /lb1 is back in session, still holding VI_1/);
    },
  },
  {
    name: "cut-off holder back in session without the VIP: the best node acquires in the same step, no verification needed",
    run: () => {
      const c = Cluster.holding(seed(), "lb1", 4);
      c.set("lb1", { session: "closed" });
      c.step();
      c.verified("lb2", "answering-serving");
      c.set("lb1", { session: "live" }).holds("lb1", false);
      assert.deepEqual(commands(c.after(800).step()), ["acquire lb1 e5"]);
    },
  },
  {
    name: "the lost holder comes back holding while the candidate verifies: the verification is dropped, no move (docs/design.md, Invariants, 4)",
    run: () => {
      const c = Cluster.holding(seed(), "lb1", 4);
      c.set("lb1", { session: "closed" });
      c.step();
      c.set("lb1", { session: "live" });
      assert.deepEqual(commands(c.step()), []);
      assert.deepEqual(c.rt.phase, { kind: "steady" });
      assert.deepEqual(commands(c.verified("lb2", "free")), [], "a late verdict moves nothing");
      assert.equal(c.rt.holder, "lb1");
      assert.equal(c.rt.epoch, 4);
    },
  },
  {
    name: "the holder is lost and nobody else is eligible: nothing is sent (fail-static)",
    run: () => {
      const c = Cluster.holding(seed(), "lb1", 4, { lb2: { fault: true } });
      c.set("lb1", { session: "closed" });
      assert.deepEqual(commands(c.step()), []);
      assert.equal(c.rt.holder, "lb1");
    },
  },
  {
    name: "switchover requested while the holder is lost: the target verifies first, it does not acquire blindly",
    run: () => {
      const c = Cluster.holding(three(), "lb1", 4);
      c.set("lb1", { session: "silent" });
      c.rt = { ...c.rt, switchoverTo: "lb3" };
      assert.deepEqual(commands(c.step()), ["verify lb3"]);
      assert.deepEqual(commands(c.verified("lb3", "answering-serving")), []);
    },
  },
  {
    name: "switchover requested while nobody holds and the last holder is gone: verify first",
    run: () => {
      const c = new Cluster(three(), { epoch: 7, lastHolder: "lb1", views: { lb1: { session: "never" } } });
      c.rt = { ...c.rt, switchoverTo: "lb3" };
      assert.deepEqual(commands(c.step()), ["verify lb3"]);
      assert.deepEqual(commands(c.verified("lb3", "free")), ["acquire lb3 e8 takeover"]);
    },
  },

  // ------------------------------------------------------------ planned moves (make-before-break)
  {
    name: "preempt (F6): the better node acquires first (planned), and nobody is told to release before its ack",
    run: () => {
      const c = Cluster.holding(seed(), "lb2", 4);
      assert.deepEqual(commands(c.step()), ["acquire lb1 e5"]);
      assert.deepEqual(commands(c.after(10).step()), [], "nothing more while waiting for the ack");
      assert.equal(c.rt.holder, "lb2", "the old holder holds until the new one acks");
    },
  },
  {
    name: "preempt: after the new holder's ack the old one releases after plannedOverlapMs, same epoch on both commands",
    run: () => {
      const c = Cluster.holding(seed(), "lb2", 4);
      c.step();
      assert.deepEqual(commands(c.completeMove()), [`release lb2 e5 +${timing.plannedOverlapMs}ms`]);
      assert.equal(c.rt.holder, "lb1");
      assert.equal(c.rt.epoch, 5);
    },
  },
  {
    name: "preempt: the released old holder's report lags: it is not treated as a straggler during its release window",
    run: () => {
      const c = Cluster.holding(seed(), "lb2", 4);
      c.step();
      c.completeMove();
      assert.deepEqual(commands(c.after(100).step()), [], "still holding within the window is expected");
      c.holds("lb2", false);
      assert.deepEqual(commands(c.after(100).step()), []);
    },
  },
  {
    name: "an ack with a stale epoch is ignored",
    run: () => {
      const c = Cluster.holding(seed(), "lb2", 4);
      c.step();
      c.holds("lb1");
      assert.deepEqual(commands(c.ackAcquire("lb1", 4)), []);
      assert.equal(c.rt.phase.kind, "acquiring");
      assert.equal(c.rt.holder, "lb2");
    },
  },
  {
    name: "an acquire ack from another node is ignored",
    run: () => {
      const c = Cluster.holding(three(), "lb3", 4);
      c.step();
      assert.deepEqual(commands(c.ackAcquire("lb2", 5)), []);
      assert.equal(c.rt.phase.kind, "acquiring");
    },
  },
  {
    name: "a release ack does not complete an acquire",
    run: () => {
      const c = Cluster.holding(seed(), "lb2", 4);
      c.step();
      c.step({ type: "ack", node: "lb1", group: "VI_1", epoch: 5, action: "release", ok: true });
      assert.equal(c.rt.phase.kind, "acquiring");
    },
  },
  {
    name: "ack timeout on a planned move: abandoned, the old holder keeps it, the failed node is told to let go and cooled down",
    run: () => {
      const c = Cluster.holding(seed(), "lb2", 4);
      c.step();
      const a = c.after(timing.ackTimeoutMs).step();
      assert.deepEqual(commands(a), ["release lb1 e5"]);
      assert.equal(c.rt.holder, "lb2");
      assert.deepEqual(c.rt.phase, { kind: "steady" });
      assert.match(notes(a, "move")[0].message, /lb1 could not acquire VI_1: no ack from lb1 within 1000 ms/);
      assert.ok(c.rt.cooldown.some((x) => x.node === "lb1"));
    },
  },
  {
    name: "an acquire sent late (its epoch write queued) gets its whole ack timeout from the send; the move's duration counts from the decision",
    run: () => {
      const c = Cluster.holding(seed(), "lb2", 4);
      c.step();
      assert.equal(c.rt.phase.kind, "acquiring");
      // The write-ahead took 700 ms: the acquire went out then.
      c.rt = commandsSent(c.rt, c.rt.phase, c.nowMs + 700);
      assert.deepEqual(commands(c.after(timing.ackTimeoutMs).step()), [], "1000 ms after the decision, 300 ms after the send: still waiting");
      assert.equal(c.rt.phase.kind, "acquiring");
      assert.equal(c.last.wakeAtMs, c.nowMs + 700, "woken when the timeout counted from the send ends");
      const a = c.after(100).completeMove();
      assert.equal(c.rt.holder, "lb1");
      assert.equal(notes(a, "move")[0].durationMs, timing.ackTimeoutMs + 100);
    },
  },
  {
    name: "an acquire sent late and never acked times out a whole ack timeout after the send",
    run: () => {
      const c = Cluster.holding(seed(), "lb2", 4);
      c.step();
      c.rt = commandsSent(c.rt, c.rt.phase, c.nowMs + 700);
      assert.deepEqual(commands(c.after(timing.ackTimeoutMs + 699).step()), []);
      assert.deepEqual(commands(c.after(1).step()), ["release lb1 e5"]);
      assert.deepEqual(c.rt.phase, { kind: "steady" });
    },
  },
  {
    name: "a verification sent late gets its whole time from the send",
    run: () => {
      const c = new Cluster(three(), { epoch: 7, lastHolder: "lb1", views: { lb1: { session: "never" } } });
      assert.deepEqual(commands(c.step()), ["verify lb2"]);
      c.rt = commandsSent(c.rt, c.rt.phase, c.nowMs + 500);
      assert.deepEqual(commands(c.after(timing.verifyTimeoutMs + timing.ackTimeoutMs).step()), []);
      assert.deepEqual(commands(c.after(500).step()), ["verify lb3"]);
    },
  },
  {
    name: "commands sent for a phase the unit has left, or sent at once, change nothing",
    run: () => {
      const c = Cluster.holding(seed(), "lb2", 4);
      c.step();
      const decided = c.rt.phase;
      c.completeMove();
      const after = c.rt;
      assert.equal(commandsSent(after, decided, c.nowMs + 700), after, "the move is over: nothing to time");
      const d = Cluster.holding(seed(), "lb2", 4);
      d.step();
      assert.equal(commandsSent(d.rt, d.rt.phase, d.nowMs), d.rt, "sent in the step that decided: already timed from then");
    },
  },
  {
    name: "an acquire still on its way to a live node is not given up at its ack timeout; delivered, its ack timeout counts from the delivery",
    run: () => {
      const c = Cluster.holding(seed(), "lb2", 4);
      c.step();
      c.onTheWay = new Set(["lb1"]);
      // A busy agent (or coordinator) reads late: three ack timeouts pass, lb1 still reporting.
      assert.deepEqual(commands(c.after(3 * timing.ackTimeoutMs).step()), []);
      assert.equal(c.rt.phase.kind, "acquiring");
      assert.equal(c.rt.holder, "lb2", "the old holder keeps it meanwhile");
      assert.equal(c.last.wakeAtMs, undefined, "woken by the delivery or the session's end, not by a timer");
      // lb1 reports it has the acquire: from now on it has a whole ack timeout.
      c.onTheWay = new Set();
      c.rt = commandDelivered(c.rt, "lb1", c.nowMs);
      assert.deepEqual(commands(c.step()), []);
      assert.equal(c.last.wakeAtMs, c.nowMs + timing.ackTimeoutMs);
      assert.deepEqual(commands(c.after(timing.ackTimeoutMs - 1).step()), []);
      const a = c.after(1).step();
      assert.deepEqual(commands(a), ["release lb1 e5"], "received and not acked: it fails as ever");
      assert.match(notes(a, "move")[0].message, /no ack from lb1 within 1000 ms/);
    },
  },
  {
    name: "an acquire on its way to a node that went silent, or to one the engine cannot tell about, times out as before",
    run: () => {
      const silent = Cluster.holding(seed(), "lb2", 4);
      silent.step();
      silent.onTheWay = new Set(["lb1"]);
      silent.set("lb1", { session: "silent" });
      assert.deepEqual(commands(silent.after(timing.ackTimeoutMs).step()), ["release lb1 e5"]);
      const other = Cluster.holding(seed(), "lb2", 4);
      other.step();
      other.onTheWay = new Set(["lb2"]);
      assert.deepEqual(commands(other.after(timing.ackTimeoutMs).step()), ["release lb1 e5"], "on its way to another node: not this acquire");
    },
  },
  {
    name: "an acquire delivered before its ack, then acked: the move completes; a delivery changes nothing outside the node's acquire",
    run: () => {
      const c = Cluster.holding(seed(), "lb2", 4);
      c.step();
      const sent = c.rt;
      assert.equal(commandDelivered(sent, "lb2", c.nowMs + 100), sent, "another node");
      assert.equal(commandDelivered(sent, "lb1", c.nowMs), sent, "delivered in the step that sent it: already timed from then");
      c.rt = commandDelivered(sent, "lb1", c.nowMs + 100);
      c.after(timing.ackTimeoutMs + 50);
      assert.deepEqual(commands(c.step()), [], "50 ms past the send's timeout, within the delivery's");
      c.completeMove();
      assert.equal(c.rt.holder, "lb1");
      assert.equal(commandDelivered(c.rt, "lb1", c.nowMs + 100), c.rt, "no acquire in flight");
    },
  },
  {
    name: "ack timeout: no flapping — no new attempt during the cooldown, one attempt after it",
    run: () => {
      const c = Cluster.holding(seed(), "lb2", 4);
      c.step();
      c.after(timing.ackTimeoutMs).step();
      for (let i = 0; i < 9; i++) assert.deepEqual(commands(c.after(100).step()), [], `step ${i} during the cooldown`);
      assert.deepEqual(commands(c.after(100).step()), ["acquire lb1 e6"]);
    },
  },
  {
    name: "a refused acquire (ok: false) is abandoned the same way and the note carries the agent's error",
    run: () => {
      const c = Cluster.holding(seed(), "lb2", 4);
      c.step();
      const a = c.ackAcquire("lb1", 5, ["VI_1"], false, "ip addr add: RTNETLINK answers: Permission denied");
      assert.deepEqual(commands(a), ["release lb1 e5"]);
      assert.match(notes(a, "move")[0].message, /Permission denied/);
      assert.equal(c.rt.holder, "lb2");
    },
  },
  {
    name: "a failed takeover with three nodes: the next best acquires, the VIP is not left unheld (docs/design.md, Invariants, 2)",
    run: () => {
      const c = Cluster.holding(three(), "lb1", 4);
      c.set("lb1", { session: "closed" });
      c.step();
      c.verified("lb2", "free");
      const a = c.after(timing.ackTimeoutMs).step();
      assert.deepEqual(
        commands(a).filter((x) => x.startsWith("release")),
        ["release lb2 e5"],
      );
      // lb1 is still not live: lb3 must verify (or acquire) rather than wait out lb2's cooldown.
      assert.deepEqual(
        commands(a).filter((x) => !x.startsWith("release")),
        ["verify lb3"],
      );
    },
  },
  {
    name: "a failed takeover from a FAULT holder with three nodes: the next best acquires in the same step",
    run: () => {
      const c = Cluster.holding(three(), "lb1", 4);
      c.set("lb1", { fault: true, faultReason: "nginx cannot start" }).holds("lb1", false);
      assert.deepEqual(commands(c.step()), ["acquire lb2 e5"]);
      assert.deepEqual(commands(c.after(timing.ackTimeoutMs).step()), ["release lb2 e5", "acquire lb3 e6"]);
    },
  },
  {
    name: "one move at a time: while acquiring, no second acquire whatever happens (holder lost, a better node, switchover, maintenance, FAULT)",
    run: () => {
      const c = Cluster.holding(three({ members: ["lb1:100", "lb2:90", "lb3:80"] }), "lb3", 4);
      c.set("lb1", { nginx: "down" }); // lb2 is the best eligible, lb3 holds
      assert.deepEqual(commands(c.step()), ["acquire lb2 e5"]);
      const disturbances: Array<() => void> = [
        () => c.set("lb1", { nginx: "running" }),
        () => {
          c.rt = { ...c.rt, switchoverTo: "lb1" };
        },
        () => c.set("lb3", { maintenance: true }),
        () => c.set("lb3", { session: "closed" }),
        () => c.set("lb2", { fault: true }),
        () => c.set("lb1", { reach: reach("VI_1", 9) }),
      ];
      for (const d of disturbances) {
        d();
        const a = c.after(50).step();
        assert.equal(commands(a).filter((x) => x.startsWith("acquire")).length, 0, commands(a).join(", "));
        assert.equal(c.rt.phase.kind, "acquiring");
      }
      c.step({ type: "verified", node: "lb1", verdict: "free" });
      assert.equal(c.rt.phase.kind, "acquiring", "a stray verdict does not start anything either");
    },
  },
  {
    name: "maintenance on the holder: a planned move, the old holder releases only after the overlap",
    run: () => {
      const c = Cluster.holding(seed(), "lb1", 4);
      c.set("lb1", { maintenance: true });
      assert.deepEqual(commands(c.step()), ["acquire lb2 e5"]);
      assert.deepEqual(commands(c.completeMove()), [`release lb1 e5 +${timing.plannedOverlapMs}ms`]);
    },
  },
  {
    name: "an agent stopping cleanly (F1): a planned move",
    run: () => {
      const c = Cluster.holding(seed(), "lb1", 4);
      c.set("lb1", { leaving: true });
      assert.deepEqual(commands(c.step()), ["acquire lb2 e5"]);
      assert.deepEqual(commands(c.completeMove()), [`release lb1 e5 +${timing.plannedOverlapMs}ms`]);
    },
  },
  {
    name: "the holder's agent does not run a track its group lists (config mismatch, it still serves): a planned move, not a takeover",
    run: () => {
      const c = Cluster.holding(seed(), "lb1", 4);
      c.set("lb1", { tracks: {} });
      assert.deepEqual(commands(c.step()), ["acquire lb2 e5"]);
      assert.deepEqual(commands(c.completeMove()), [`release lb1 e5 +${timing.plannedOverlapMs}ms`]);
    },
  },
  {
    name: "no member's agent runs the group's track: nothing moves, the holder keeps it",
    run: () => {
      const c = Cluster.holding(seed(), "lb1", 4);
      c.set("lb1", { tracks: {} }).set("lb2", { tracks: {} });
      assert.deepEqual(commands(c.step()), []);
      assert.equal(c.rt.holder, "lb1");
      assert.equal(c.rt.last?.rule, "no-eligible");
    },
  },
  {
    name: "switchover: a planned move to the target, cleared once reached",
    run: () => {
      const c = Cluster.holding(seed({ preempt: false }), "lb1", 4);
      c.rt = { ...c.rt, switchoverTo: "lb2" };
      assert.deepEqual(commands(c.step()), ["acquire lb2 e5"]);
      assert.deepEqual(commands(c.completeMove()), [`release lb1 e5 +${timing.plannedOverlapMs}ms`]);
      assert.equal(c.rt.switchoverTo, undefined);
      assert.deepEqual(commands(c.after(1000).holds("lb1", false).step()), [], "nopreempt: it stays on lb2");
    },
  },
  {
    name: "switchover pin: preempt does not undo it, and a holder that misses a few heartbeats and comes back keeps it (a hiccup that moved nothing is no reason to move)",
    run: () => {
      const c = Cluster.holding(seed(), "lb1", 4);
      c.rt = { ...c.rt, switchoverTo: "lb2" };
      assert.deepEqual(commands(c.step()), ["acquire lb2 e5"]);
      c.completeMove();
      c.holds("lb1", false).step({ type: "ack", node: "lb1", group: "VI_1", epoch: 5, action: "release", ok: true });
      assert.equal(c.rt.pinned, "lb2");
      assert.deepEqual(commands(c.after(timing.ackTimeoutMs + 1).step()), [], "lb1 (100) does not preempt lb2 (90)");
      assert.equal(c.rt.last?.rule, "kept-holder-pinned");
      c.set("lb2", { session: "silent" });
      c.after(100).step();
      assert.equal(c.rt.pinned, "lb2", "still on lb2: the pin stays");
      c.set("lb2", { session: "live" });
      assert.deepEqual(commands(c.after(100).step()), [], "back in session: no preempt");
      assert.equal(c.rt.last?.rule, "kept-holder-pinned");
      assert.equal(c.rt.pinned, "lb2");
    },
  },
  {
    name: "switchover pin: dropped when the pinned holder lets go on its own (FAULT); the ordinary rules pick the next holder",
    run: () => {
      const c = Cluster.holding(seed(), "lb2", 5);
      c.rt = { ...c.rt, pinned: "lb2" };
      c.set("lb2", { fault: true, faultReason: "nginx cannot start" }).holds("lb2", false);
      const a = c.step();
      assert.deepEqual(commands(a), ["acquire lb1 e6"]);
      assert.equal(c.rt.pinned, undefined);
      assert.ok(
        notes(a).some((n) => /switchover pin on lb2 dropped \(lb2 no longer holds it: lb2 is FAULT: nginx cannot start\)/.test(n.message)),
        JSON.stringify(notes(a)),
      );
    },
  },
  {
    name: "switchover pin: dropped when a move takes the unit elsewhere (maintenance on the pinned node), not restored when it comes back",
    run: () => {
      const c = Cluster.holding(seed(), "lb2", 5);
      c.rt = { ...c.rt, pinned: "lb2" };
      c.set("lb2", { maintenance: true });
      assert.deepEqual(commands(c.step()), ["acquire lb1 e6"]);
      c.completeMove();
      assert.equal(c.rt.pinned, undefined);
    },
  },
  {
    name: "switchover to an ineligible node: ignored and cleared",
    run: () => {
      const c = Cluster.holding(seed(), "lb1", 4, { lb2: { maintenance: true } });
      c.rt = { ...c.rt, switchoverTo: "lb2" };
      assert.deepEqual(commands(c.step()), []);
      assert.equal(c.rt.switchoverTo, undefined);
    },
  },
  {
    name: "nopreempt: the higher-priority node returning does not take the VIP back",
    run: () => {
      const c = Cluster.holding(seed({ preempt: false }), "lb2", 4, { lb1: { session: "never" } });
      c.set("lb1", { session: "live" });
      assert.deepEqual(commands(c.step()), []);
      assert.equal(c.rt.last?.rule, "kept-holder-nopreempt");
    },
  },
  {
    name: "preempt_delay: nothing until due (wakeAtMs says when), then the planned move",
    run: () => {
      const c = Cluster.holding(seed({ preemptDelayMs: 3000 }), "lb2", 4, { lb1: { session: "never" } });
      c.set("lb1", { session: "live" });
      const t0 = c.nowMs;
      assert.deepEqual(commands(c.step()), []);
      assert.equal(c.last.wakeAtMs, t0 + 3000);
      assert.deepEqual(commands(c.after(2999).step()), []);
      assert.deepEqual(commands(c.after(1).step()), ["acquire lb1 e5"]);
    },
  },
  {
    name: "preempt_delay: the challenger dropping out resets the wait",
    run: () => {
      const c = Cluster.holding(seed({ preemptDelayMs: 3000 }), "lb2", 4, { lb1: { session: "never" } });
      c.set("lb1", { session: "live" });
      c.step();
      c.after(2000).set("lb1", { nginx: "down" }).step();
      c.after(500).set("lb1", { nginx: "running" });
      assert.deepEqual(commands(c.step()), []);
      assert.deepEqual(commands(c.after(2999).step()), []);
      assert.deepEqual(commands(c.after(1).step()), ["acquire lb1 e5"]);
    },
  },
  {
    name: "the seed's case: lb1's chk_nginx fails (80 < 90) and lb2 preempts with a planned move",
    run: () => {
      const c = Cluster.holding(seed(), "lb1", 4);
      c.set("lb1", { tracks: { chk_nginx: false } });
      assert.deepEqual(commands(c.step()), ["acquire lb2 e5"]);
    },
  },
  {
    name: "the seed's case with lb2's track failing too: both drop, lb1 (80) keeps it over lb2 (70)",
    run: () => {
      const c = Cluster.holding(seed(), "lb1", 4);
      c.set("lb1", { tracks: { chk_nginx: false } }).set("lb2", { tracks: { chk_nginx: false } });
      assert.deepEqual(commands(c.step()), []);
    },
  },

  // ------------------------------------------------------------ unplanned moves
  {
    name: "holder FAULT and self-released (F5): the next best acquires at once, without verification",
    run: () => {
      const c = Cluster.holding(seed(), "lb1", 4);
      c.set("lb1", { fault: true, faultReason: "nginx cannot start" }).holds("lb1", false);
      const a = c.step();
      assert.deepEqual(commands(a), ["acquire lb2 e5"]);
      assert.match(notes(a, "fault")[0].message, /lb1 no longer holds VI_1 \(FAULT: nginx cannot start\)/);
      assert.deepEqual(commands(c.completeMove()), [], "nothing to release: lb1 let go already");
    },
  },
  {
    name: "holder's nginx down while it still holds: the next best acquires first, then the old one releases at once",
    run: () => {
      const c = Cluster.holding(seed(), "lb1", 4);
      c.set("lb1", { nginx: "down" });
      assert.deepEqual(commands(c.step()), ["acquire lb2 e5 takeover"]);
      assert.deepEqual(commands(c.completeMove()), ["release lb1 e5"]);
    },
  },
  {
    name: "F11: a holder that cannot reach the LAN lets go with the acquire (it serves nobody), not after the new holder's ack; a failed acquire leaves the unit unheld",
    run: () => {
      const c = Cluster.holding(seed(), "lb1", 4, { lb1: { lanOk: true }, lb2: { lanOk: true } });
      c.set("lb1", { lanOk: false });
      assert.deepEqual(commands(c.step()), ["acquire lb2 e5 takeover", "release lb1 e5"]);
      assert.deepEqual(commands(c.completeMove()), [], "released once");
      assert.equal(c.rt.holder, "lb2");
      // The same, with lb2's acquire failing: nobody holds it (lb1 let go), and lb1 is not told again.
      const f = Cluster.holding(seed(), "lb1", 4, { lb1: { lanOk: true }, lb2: { lanOk: true } });
      f.set("lb1", { lanOk: false });
      f.step();
      f.holds("lb1", false);
      const failed = f.ackAcquire("lb2", 5, undefined, false, "boom");
      assert.deepEqual(commands(failed), ["release lb2 e5"]);
      assert.equal(f.rt.holder, null);
    },
  },
  {
    name: "F4: the holder's nginx restarting ('starting') moves nothing",
    run: () => {
      const c = Cluster.holding(seed(), "lb1", 4);
      c.set("lb1", { nginx: "starting" });
      assert.deepEqual(commands(c.step()), []);
      c.set("lb1", { nginx: "running" });
      assert.deepEqual(commands(c.after(300).step()), []);
    },
  },
  {
    name: "F11: a majority of peers cannot reach the VIP: takeover on a peer, then the old holder is told to release",
    run: () => {
      const c = Cluster.holding(three(), "lb1", 4);
      c.set("lb2", { reach: reach("VI_1", 3) }).set("lb3", { reach: reach("VI_1", 5) });
      assert.deepEqual(commands(c.step()), ["acquire lb2 e5 takeover"]);
      assert.deepEqual(commands(c.completeMove()), ["release lb1 e5"]);
      assert.equal(c.rt.holder, "lb2");
    },
  },
  {
    name: "F11: failures counted before the move are not held against the new holder (no ping-pong on stale reports)",
    run: () => {
      const c = Cluster.holding(three({ preempt: false }), "lb1", 4);
      c.set("lb2", { reach: reach("VI_1", 3) }).set("lb3", { reach: reach("VI_1", 5) });
      c.step();
      assert.deepEqual(commands(c.completeMove()), ["release lb1 e5"], "lb3's 5 failures were about lb1");
      c.holds("lb1", false);
      c.set("lb3", { reach: reach("VI_1", 7) });
      assert.deepEqual(commands(c.after(100).step()), [], "2 failures since the move are fewer than reachFall");
      c.set("lb3", { reach: reach("VI_1", 8) });
      assert.deepEqual(commands(c.after(100).step()), ["acquire lb3 e6 takeover"], "3 failures since the move are fresh evidence");
    },
  },
  {
    name: "F11: once a peer's count resets, its next reachFall failures count in full",
    run: () => {
      const c = Cluster.holding(three({ preempt: false }), "lb1", 4);
      c.set("lb2", { reach: reach("VI_1", 3) }).set("lb3", { reach: reach("VI_1", 5) });
      c.step();
      c.completeMove();
      c.holds("lb1", false);
      c.set("lb3", { reach: reach("VI_1", 0) })
        .after(100)
        .step();
      c.set("lb3", { reach: reach("VI_1", 3) });
      assert.deepEqual(commands(c.after(100).step()), ["acquire lb3 e6 takeover"]);
    },
  },
  {
    name: "F11: the unreachable old holder is not preempted straight back; it may return after ackTimeout + reverifyMs",
    run: () => {
      const c = Cluster.holding(three(), "lb1", 4);
      c.set("lb2", { reach: reach("VI_1", 3) }).set("lb3", { reach: reach("VI_1", 3) });
      c.step();
      assert.deepEqual(commands(c.after(20).completeMove()), ["release lb1 e5"]);
      c.holds("lb1", false)
        .set("lb2", { reach: {} })
        .set("lb3", { reach: reach("VI_1", 0) });
      assert.deepEqual(commands(c.after(100).step()), []);
      c.after(timing.ackTimeoutMs + timing.reverifyMs - 121);
      assert.deepEqual(commands(c.step()), [], "still paused");
      assert.deepEqual(commands(c.after(1).step()), ["acquire lb1 e6"], "then preempt as usual (planned)");
    },
  },
  {
    name: "F11 back: the new holder loses its LAN; the old one takes the VIP back at once, the anti-flap pause notwithstanding",
    run: () => {
      const c = Cluster.holding(seed(), "lb1", 4, { lb1: { lanOk: true }, lb2: { lanOk: true } });
      c.set("lb2", { reach: reach("VI_1", 3) });
      assert.deepEqual(commands(c.step()), ["acquire lb2 e5 takeover"]);
      assert.deepEqual(commands(c.after(20).completeMove()), ["release lb1 e5"]);
      c.holds("lb1", false).step({ type: "ack", node: "lb1", group: "VI_1", epoch: 5, action: "release", ok: true });
      assert.ok(
        c.rt.cooldown.some((x) => x.node === "lb1" && x.why === "anti-flap"),
        "lb1 is paused against flapping",
      );
      c.set("lb2", { lanOk: false, reach: {} });
      // lb2 cannot reach the LAN, so it serves nobody: it lets go with the acquire, not after the ack.
      assert.deepEqual(commands(c.after(100).step()), ["acquire lb1 e6 takeover", "release lb2 e6"], "no wait for the pause: lb2 cannot hold");
      assert.deepEqual(commands(c.completeMove()), [], "released once");
      assert.equal(c.rt.holder, "lb1");
    },
  },
  {
    name: "F11 back: the new holder goes FAULT or away; the paused old holder is chosen at once (verified first when the holder is lost)",
    run: () => {
      for (const fault of ["fault", "closed"] as const) {
        const c = Cluster.holding(seed(), "lb1", 4, { lb1: { lanOk: true }, lb2: { lanOk: true } });
        c.set("lb2", { reach: reach("VI_1", 3) });
        c.step();
        c.after(20).completeMove();
        c.holds("lb1", false).step({ type: "ack", node: "lb1", group: "VI_1", epoch: 5, action: "release", ok: true });
        if (fault === "fault") c.set("lb2", { fault: true, faultReason: "nginx cannot start", holds: [] });
        else c.set("lb2", { session: "closed" });
        assert.deepEqual(commands(c.after(100).step()), [fault === "fault" ? "acquire lb1 e6" : "verify lb1"], fault);
      }
    },
  },
  {
    name: "a failed acquire's cooldown still holds when the holder cannot hold: the next best is tried, not the node that just failed",
    run: () => {
      const c = Cluster.holding(three(), "lb1", 4);
      c.set("lb1", { nginx: "down" });
      assert.deepEqual(commands(c.step()), ["acquire lb2 e5 takeover"]);
      assert.deepEqual(commands(c.ackAcquire("lb2", 5, ["VI_1"], false, "ip failed")), ["release lb2 e5", "acquire lb3 e6 takeover"]);
    },
  },
  {
    name: "F17: the standby cut off the LAN reports its VIP silent before its own LAN verdict: no move, in that order or the other",
    run: () => {
      for (const order of [
        ["vip", "lan"],
        ["lan", "vip"],
      ]) {
        const c = Cluster.holding(seed(), "lb1", 4, { lb1: { lanOk: true }, lb2: { lanOk: true } });
        for (const verdict of order) {
          if (verdict === "vip") c.set("lb2", { reach: reach("VI_1", 3, c.views.get("lb2")!.lanOk !== false, false) });
          else c.set("lb2", { lanOk: false, reach: reach("VI_1", c.views.get("lb2")!.reach.VI_1?.failures ?? 0, false, false) });
          assert.deepEqual(commands(c.after(10).step()), [], order.join(" then "));
        }
        assert.equal(c.rt.holder, "lb1");
      }
    },
  },
  {
    name: "F11: a minority of peers failing moves nothing",
    run: () => {
      const c = Cluster.holding(three(), "lb1", 4);
      c.set("lb2", { reach: reach("VI_1", 3) }).set("lb3", { reach: reach("VI_1", 0) });
      assert.deepEqual(commands(c.step()), []);
    },
  },

  // ------------------------------------------------------------ stragglers
  {
    name: "a straggler (a healed partition) is told to release at the current epoch, and not again within its window",
    run: () => {
      const c = Cluster.holding(seed({ preempt: false }), "lb2", 4);
      c.holds("lb1");
      const a = c.step();
      assert.deepEqual(commands(a), ["release lb1 e4"]);
      assert.match(notes(a, "conflict")[0].message, /lb1 holds VI_1 but lb2 should/);
      for (let i = 0; i < 9; i++) assert.deepEqual(commands(c.after(100).step()), [], `step ${i}`);
      assert.deepEqual(commands(c.after(100).step()), ["release lb1 e4"], "told again once the window has passed");
    },
  },
  {
    name: "a straggler that lets go is not told again",
    run: () => {
      const c = Cluster.holding(seed({ preempt: false }), "lb2", 4);
      c.holds("lb1");
      c.step();
      c.holds("lb1", false);
      assert.deepEqual(commands(c.after(2000).step()), []);
    },
  },
  {
    name: "a straggler that is not live is left alone (nothing can reach it)",
    run: () => {
      const c = Cluster.holding(seed({ preempt: false }), "lb2", 4);
      c.holds("lb1").set("lb1", { session: "silent" });
      assert.deepEqual(commands(c.step()), []);
    },
  },
  {
    name: "the holder lets go while a straggler still serves the VIP: the straggler is adopted, nothing moves",
    run: () => {
      const c = Cluster.holding(seed({ preempt: false }), "lb2", 4);
      c.holds("lb1");
      c.step();
      c.after(timing.ackTimeoutMs); // lb1 ignored the release; its window has passed
      c.holds("lb2", false);
      assert.deepEqual(commands(c.step()), []);
      assert.equal(c.rt.holder, "lb1");
      assert.equal(c.rt.epoch, 4);
    },
  },
  {
    name: "a straggler that appears while nobody holds and a node is acquiring is told to release at once",
    run: () => {
      const c = new Cluster(seed());
      assert.deepEqual(commands(c.step()), ["acquire lb1 e1"]);
      c.holds("lb2");
      assert.deepEqual(commands(c.after(10).step()), ["release lb2 e1"]);
      assert.equal(c.rt.phase.kind, "acquiring");
    },
  },
  {
    name: "after a failed acquire the node told to let go is not adopted as holder in the same step",
    run: () => {
      const c = Cluster.holding(unit({ groups: ["VI_1", "VI_2"], members: ["lb1:100", "lb2:90", "lb3:80"], tracks: [] }), "lb1", 4);
      c.set("lb1", { fault: true }).holds("lb1", false);
      assert.deepEqual(commands(c.step()), ["acquire lb2 e5"]);
      c.set("lb2", { holds: ["VI_1"] });
      c.ackAcquire("lb2", 5, ["VI_1"]);
      const a = c.ackAcquire("lb2", 5, ["VI_2"], false, "VI_2: address in use");
      assert.notEqual(c.rt.holder, "lb2");
      assert.deepEqual(commands(a), ["release lb2 e5", "acquire lb3 e6"]);
    },
  },

  // ------------------------------------------------------------ sync units
  {
    name: "sync unit: the acquire completes only when every group is acked; a repeated ack for one group does not count twice",
    run: () => {
      const c = Cluster.holding(unit({ groups: ["VI_1", "VI_2"] }), "lb2", 4);
      assert.deepEqual(commands(c.step()), ["acquire lb1 e5"]);
      c.holds("lb1");
      assert.deepEqual(commands(c.ackAcquire("lb1", 5, ["VI_1"])), []);
      assert.deepEqual(commands(c.ackAcquire("lb1", 5, ["VI_1"])), []);
      assert.equal(c.rt.phase.kind, "acquiring");
      assert.equal(c.rt.holder, "lb2");
      assert.deepEqual(commands(c.ackAcquire("lb1", 5, ["VI_2"])), [`release lb2 e5 +${timing.plannedOverlapMs}ms`]);
      assert.equal(c.rt.holder, "lb1");
    },
  },
  {
    name: "sync unit: one group refused abandons the whole move, the old holder keeps both",
    run: () => {
      const c = Cluster.holding(unit({ groups: ["VI_1", "VI_2"] }), "lb2", 4);
      c.step();
      c.ackAcquire("lb1", 5, ["VI_1"]);
      assert.deepEqual(commands(c.ackAcquire("lb1", 5, ["VI_2"], false, "nope")), ["release lb1 e5"]);
      assert.equal(c.rt.holder, "lb2");
    },
  },
  {
    name: "sync unit: a node holding only one of the groups still counts as a claimant after a restart",
    run: () => {
      const u = unit({ groups: ["VI_1", "VI_2"] });
      const c = new Cluster(u, { epoch: 2, lastHolder: "lb1" });
      c.set("lb1", { holds: ["VI_2"] });
      assert.deepEqual(commands(c.step()), []);
      assert.equal(c.rt.holder, "lb1");
    },
  },

  // ------------------------------------------------------------ purity
  {
    name: "step never mutates the runtime it is given",
    run: () => {
      const c = Cluster.holding(seed(), "lb2", 4);
      const before = structuredClone(c.rt);
      const frozen = c.rt;
      step(frozen, { unit: c.unit, views: c.views, nowMs: c.nowMs, timing });
      step(
        frozen,
        { unit: c.unit, views: c.views, nowMs: c.nowMs + timing.ackTimeoutMs, timing },
        { type: "ack", node: "lb1", group: "VI_1", epoch: 5, action: "acquire", ok: false },
      );
      assert.deepEqual(frozen, before);
    },
  },
];

for (const c of cases) test(`planner: ${c.name}`, c.run);

// ------------------------------------------------------------ property: a long random life

/**
 * Random session flaps, faults, nginx states, maintenance, acks (right, stale,
 * refused), verification verdicts and time passing, with agents that do what
 * they are told only sometimes. After every step the invariants must hold.
 */
function randomLife(seedValue: number, stepsCount: number, u: UnitSpec): void {
  const rand = prng(seedValue);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const nodes = u.members.map((m) => m.node);
  const c = new Cluster(u, { epoch: Math.floor(rand() * 5), lastHolder: rand() < 0.5 ? pick(nodes) : null });
  for (const n of nodes) if (rand() < 0.3) c.set(n, { session: "never" });
  let lastAcquireEpoch = c.rt.epoch;
  const pendingAcks: Array<{ node: string; epoch: number }> = [];
  const pendingReleases: Array<{ node: string; epoch: number }> = [];
  const verifyAsked: string[] = [];
  const trail: string[] = [];

  for (let i = 0; i < stepsCount; i++) {
    const before = c.rt;
    let event: PlannerEvent = { type: "tick" };
    const r = rand();
    const n = pick(nodes);
    if (r < 0.1) c.set(n, { session: pick(["live", "live", "silent", "closed"] as const) });
    else if (r < 0.16) {
      const fault = rand() < 0.5;
      c.set(n, { fault });
      if (fault) c.holds(n, false); // a FAULT agent lets go by itself
    } else if (r < 0.22) c.set(n, { nginx: pick(["running", "running", "starting", "down"] as const) });
    else if (r < 0.26) c.set(n, { maintenance: rand() < 0.3 });
    else if (r < 0.3) c.set(n, { leaving: rand() < 0.2 });
    else if (r < 0.34) c.set(n, { tracks: { chk_nginx: rand() < 0.7 } });
    else if (r < 0.38) c.set(n, { reach: reach(u.groups[0], pick([0, 0, 1, 3, 5]), rand() < 0.8, rand() < 0.7), lanOk: rand() < 0.9 });
    else if (r < 0.42)
      c.holds(n, rand() < 0.2); // a straggler appears or a holder drops
    else if (r < 0.44)
      c.rt = { ...c.rt, switchoverTo: n }; // what the engine's requestSwitchover does
    else if (r < 0.6 && pendingAcks.length > 0) {
      const p = pendingAcks.splice(Math.floor(rand() * pendingAcks.length), 1)[0];
      const ok = rand() < 0.85;
      if (ok) c.holds(p.node);
      event = { type: "ack", node: p.node, group: pick(u.groups), epoch: rand() < 0.9 ? p.epoch : p.epoch - 1, action: "acquire", ok };
    } else if (r < 0.7 && verifyAsked.length > 0) {
      event = { type: "verified", node: verifyAsked.shift()!, verdict: pick(["free", "answering-serving", "answering-not-serving"] as const) };
    } else if (r < 0.8 && pendingReleases.length > 0) {
      // The agent lets go and acks; like the engine, the ack carries what it holds now.
      const p = pendingReleases.splice(Math.floor(rand() * pendingReleases.length), 1)[0];
      c.holds(p.node, false);
      event = { type: "ack", node: p.node, group: u.groups[0], epoch: p.epoch, action: "release", ok: true };
    }
    c.after(pick([0, 1, 10, 50, 200, 1000, 2500]));
    const actions = c.step(event);
    const after = c.rt;
    trail.push(
      `${i} t=${c.nowMs} ${JSON.stringify(event)} → ${commands(actions).join(", ") || "-"} [${after.phase.kind} holder=${after.holder} e${after.epoch}]`,
    );
    const ctx = () => `seed ${seedValue}, step ${i}\n${trail.slice(-12).join("\n")}`;

    // Epochs never go back, and every acquire takes a fresh one.
    assert.ok(after.epoch >= before.epoch, `epoch went back: ${ctx()}`);
    const acquires = actions.filter((a): a is Extract<Action, { type: "acquire" }> => a.type === "acquire");
    assert.ok(acquires.length <= 1, `two acquires in one step: ${ctx()}`);
    for (const a of acquires) {
      // The witness rule: an F11 move goes only to a node that proves its own LAN.
      if (/cannot reach the VIP/.test(a.reason)) assert.ok(isProvenWitness(c.views.get(a.node)?.reach[u.groups[0]]), `F11 move to an unproven node: ${ctx()}`);
      assert.ok(a.epoch > lastAcquireEpoch, `acquire epoch ${a.epoch} not above ${lastAcquireEpoch}: ${ctx()}`);
      lastAcquireEpoch = a.epoch;
      assert.equal(a.epoch, after.epoch, `acquire epoch is the unit's epoch: ${ctx()}`);
      assert.ok(
        after.phase.kind === "acquiring" && after.phase.to === a.node && after.phase.epoch === a.epoch,
        `an acquire leaves the unit acquiring it: ${ctx()}`,
      );
      assert.ok(
        before.phase.kind !== "acquiring" ||
          !(before.phase.kind === "acquiring" && after.phase.kind === "acquiring" && before.phase.epoch === after.phase.epoch),
        `second acquire during a move: ${ctx()}`,
      );
      pendingAcks.push({ node: a.node, epoch: a.epoch });
    }
    // One move at a time: a move in flight before and after with the same epoch sent no acquire.
    if (before.phase.kind === "acquiring" && after.phase.kind === "acquiring" && before.phase.epoch === after.phase.epoch)
      assert.equal(acquires.length, 0, ctx());
    // Never a release to the node being acquired, and never both to one node in one step.
    for (const a of actions) {
      if (a.type !== "release") continue;
      pendingReleases.push({ node: a.node, epoch: a.epoch });
      assert.ok(a.epoch <= after.epoch, `release from the future: ${ctx()}`);
      assert.ok(!(after.phase.kind === "acquiring" && after.phase.to === a.node), `release to the node being acquired: ${ctx()}`);
      assert.ok(!acquires.some((q) => q.node === a.node), `acquire and release to ${a.node} in one step: ${ctx()}`);
    }
    for (const a of actions) {
      if (a.type !== "verify") continue;
      verifyAsked.push(a.node);
      assert.ok(after.phase.kind === "verifying" && after.phase.candidate === a.node, `a verify leaves the unit verifying with that node: ${ctx()}`);
      assert.ok(!acquires.length, `verify and acquire in one step: ${ctx()}`);
    }
    // No silent second holder: every live node reporting the VIP is the holder, part of the move, or told to release.
    for (const node of nodes) {
      const v = c.views.get(node)!;
      if (v.session !== "live" || !u.groups.some((g) => v.holds.includes(g)) || node === after.holder) continue;
      const inMove = after.phase.kind === "acquiring" && (after.phase.to === node || after.phase.from === node);
      assert.ok(inMove || after.releasing.some((x) => x.node === node), `${node} holds the VIP unaccounted for: ${ctx()}`);
    }
    // The holder is a member or nobody; lastHolder likewise.
    assert.ok(after.holder === null || nodes.includes(after.holder), `holder ${after.holder}: ${ctx()}`);
    assert.ok(after.lastHolder === null || nodes.includes(after.lastHolder), ctx());
    if (after.phase.kind === "acquiring") assert.ok(nodes.includes(after.phase.to) && after.phase.epoch === after.epoch, ctx());
    // A wake time, when given, is in the future.
    if (c.last.wakeAtMs !== undefined) assert.ok(c.last.wakeAtMs > c.nowMs, ctx());
  }
}

const lives: Array<[string, () => UnitSpec, number]> = [
  ["the seed's pair with preempt", () => unit(), 101],
  ["the seed's pair with nopreempt and preempt_delay", () => unit({ preempt: false, preemptDelayMs: 500 }), 202],
  ["three nodes with preempt_delay", () => unit({ members: ["lb1:100", "lb2:100", "lb3:90"], preemptDelayMs: 300 }), 303],
  ["a sync unit of two groups", () => unit({ groups: ["VI_1", "VI_2"], members: ["lb1:200", "lb2:180", "lb3:180"] }), 404],
];

for (const [name, build, seedValue] of lives) {
  test(`planner, random life (${name}): epochs only grow, one acquire at a time, no release to the node being acquired, holder always a member — 20 seeds × 400 steps`, () => {
    for (let s = 0; s < 20; s++) randomLife(seedValue * 1000 + s, 400, build());
  });
}

// ------------------------------------------------------------ the witness rule, in every arrival order

/**
 * What an agent's probers observe, one at a time: a probe through the VIP
 * failing or answering, or a LAN-reference round ending (answered or not).
 * A probe or round began just before it ended ("now"), or long before
 * ("before": a round in flight when the fault began, a probe that spanned
 * the heal). Folded as agent/probe/reach.ts folds them, each observation
 * becomes a report; the planner sees them in every order they can come in.
 */
type Observation =
  | { node: string; kind: "vip-fail"; began?: "before" }
  | { node: string; kind: "vip-ok" }
  | { node: string; kind: "lan"; answered: boolean; began: "before" | "now" };

class AgentReach {
  failures = 0;
  failingSinceMs: number | undefined;
  failingBeganMs: number | undefined;
  lastFailureBeganMs: number | undefined;
  lanOk = true;
  lanAnsweredAtMs: number | undefined = 0;
  lanFailedAtMs: number | undefined;

  /** `failures` > 0: a run of silence already going on (its LAN down too when `lanOk` is false). */
  constructor(failures = 0, lanOk = true) {
    if (failures > 0) {
      this.failures = failures;
      this.failingBeganMs = 4;
      this.failingSinceMs = 5;
      this.lastFailureBeganMs = 6;
    }
    this.lanOk = lanOk;
    if (!lanOk) this.lanFailedAtMs = 7;
  }

  observe(o: Observation, nowMs: number): void {
    if (o.kind === "vip-ok") {
      this.failures = 0;
      this.failingSinceMs = this.lastFailureBeganMs = this.failingBeganMs = undefined;
    } else if (o.kind === "vip-fail") {
      const began = o.began === "before" ? 2 : nowMs - 5;
      if (this.failures === 0) {
        this.failingSinceMs = nowMs;
        this.failingBeganMs = began;
      }
      this.failures++;
      this.lastFailureBeganMs = began;
    } else {
      this.lanOk = o.answered;
      if (o.answered) this.lanAnsweredAtMs = o.began === "before" ? 1 : nowMs - 3;
      else this.lanFailedAtMs = nowMs;
    }
  }

  view(group: string, fall: number): Partial<NodeView> {
    const lanFresh = lanProvenFresh(this, this);
    return { lanOk: this.lanOk, reach: { [group]: { reachable: this.failures < fall, failures: this.failures, lanOk: this.lanOk, lanFresh } } };
  }
}

/** Every distinct order of `items`. */
function arrivalOrders(items: Observation[]): Observation[][] {
  const out: Observation[][] = [];
  const seen = new Set<string>();
  const walk = (prefix: Observation[], rest: Observation[]): void => {
    if (rest.length === 0) {
      const key = JSON.stringify(prefix);
      if (!seen.has(key)) {
        seen.add(key);
        out.push(prefix);
      }
      return;
    }
    for (let i = 0; i < rest.length; i++) walk([...prefix, rest[i]], [...rest.slice(0, i), ...rest.slice(i + 1)]);
  };
  walk([], items);
  return out;
}

const describe = (order: Observation[]) =>
  order
    .map(
      (o) => `${o.node}:${o.kind === "lan" ? `lan-${o.answered ? "ok" : "down"}-${o.began}` : o.kind === "vip-fail" && o.began ? "vip-fail-before" : o.kind}`,
    )
    .join(" ");

/** Feeds one order of observations to a cluster held by lb1; agents obey every command at once. */
function deliver(
  order: Observation[],
  profile: PlannerTiming,
  opts: { settleMs?: number; lb2?: AgentReach } = {},
): { acquires: string[]; releases: string[]; holder: string | null } {
  const settleMs = opts.settleMs ?? 5 * (profile.ackTimeoutMs + profile.reverifyMs);
  const lb2 = opts.lb2 ?? new AgentReach();
  const c = Cluster.holding(seed(), "lb1", 4, { lb1: { lanOk: true }, lb2: lb2.view("VI_1", profile.reachFall) });
  c.timing = profile;
  const agents = new Map([
    ["lb1", new AgentReach()],
    ["lb2", lb2],
  ]);
  const acquires: string[] = [];
  const releases: string[] = [];
  const obey = (actions: Action[]): void => {
    for (const a of actions) {
      if (a.type === "acquire") {
        acquires.push(a.node);
        obey(c.completeMove());
      } else if (a.type === "release") {
        releases.push(a.node);
        c.holds(a.node, false);
        obey(c.step({ type: "ack", node: a.node, group: "VI_1", epoch: a.epoch, action: "release", ok: true }));
      } else if (a.type === "verify") obey(c.verified(a.node, "free"));
    }
  };
  obey(c.step());
  for (const o of order) {
    c.after(10);
    const agent = agents.get(o.node)!;
    agent.observe(o, c.nowMs);
    // The holder does not probe through its own VIP: only its LAN verdict reaches the coordinator.
    const v = agent.view("VI_1", profile.reachFall);
    c.set(o.node, c.rt.holder === o.node ? { lanOk: v.lanOk } : v);
    obey(c.step());
  }
  for (let i = 0; i < 5; i++) obey(c.after(settleMs / 5).step());
  return { acquires, releases, holder: c.rt.holder };
}

const profiles: Array<[string, PlannerTiming]> = [
  ["seed timing, reach_fall 3", { plannedOverlapMs: 50, ackTimeoutMs: 1000, verifyTimeoutMs: 200, reverifyMs: 2000, reachFall: 3 }],
  ["tuned timing, reach_fall 3", { plannedOverlapMs: 50, ackTimeoutMs: 300, verifyTimeoutMs: 50, reverifyMs: 100, reachFall: 3 }],
  ["tuned timing, reach_fall 1", { plannedOverlapMs: 20, ackTimeoutMs: 300, verifyTimeoutMs: 50, reverifyMs: 100, reachFall: 1 }],
  ["slow timing, reach_fall 5", { plannedOverlapMs: 100, ackTimeoutMs: 3000, verifyTimeoutMs: 500, reverifyMs: 5000, reachFall: 5 }],
];

const vipFails = (node: string, n: number): Observation[] => Array.from({ length: n }, () => ({ node, kind: "vip-fail" as const }));
const lanNow = (node: string, answered: boolean): Observation => ({ node, kind: "lan", answered, began: "now" });

for (const [profileName, profile] of profiles) {
  const fall = profile.reachFall;
  test(`planner, witness rule (${profileName}): F17, the standby cut off the LAN, in every arrival order of its verdicts: no move`, () => {
    // A LAN round in flight when the cut came answers late; the rounds begun after it find nothing.
    const orders = arrivalOrders([...vipFails("lb2", fall + 1), { node: "lb2", kind: "lan", answered: true, began: "before" }, lanNow("lb2", false)]);
    assert.ok(orders.length >= fall + 2, `${orders.length} orders`);
    for (const order of orders) {
      const r = deliver([...order, lanNow("lb2", false), ...vipFails("lb2", 1)], profile);
      assert.deepEqual(r.acquires, [], `no acquire: ${describe(order)}`);
      assert.deepEqual(r.releases, [], `no release: ${describe(order)}`);
      assert.equal(r.holder, "lb1", describe(order));
    }
  });

  test(`planner, witness rule (${profileName}): F17 healed, the standby's LAN answering again before its VIP probes do, in every order: no move`, () => {
    // lb2 was cut off: failing, LAN down. The heal: a LAN round answers, a probe that began
    // before the heal times out after it, the next probe answers.
    // The probe after the LAN's answer may fail too (ARP for the VIP not resolved yet after
    // the link came back): a LAN that failed during this silence still proves nothing.
    const orders = [
      ...arrivalOrders([lanNow("lb2", true), { node: "lb2", kind: "vip-fail", began: "before" }, { node: "lb2", kind: "vip-ok" }]),
      ...arrivalOrders([lanNow("lb2", true), ...vipFails("lb2", 2)]).map((o): Observation[] => [...o, { node: "lb2", kind: "vip-ok" }]),
    ];
    for (const order of orders) {
      const r = deliver([...order, lanNow("lb2", true)], profile, { lb2: new AgentReach(fall + 3, false) });
      assert.deepEqual(r.acquires, [], `no acquire: ${describe(order)}`);
      assert.equal(r.holder, "lb1", describe(order));
    }
  });

  test(`planner, witness rule (${profileName}): F11, the holder cut off (its own LAN verdict anywhere in the stream), in every arrival order: exactly one move, to the witness`, () => {
    const base: Observation[] = [...vipFails("lb2", fall), lanNow("lb2", true), { node: "lb2", kind: "lan", answered: true, began: "before" }];
    // Without a LAN verdict of its own the old holder looks healthy: it may come back once the
    // anti-flap pause ends (another F11 round would move it again), so look within the pause only.
    const variants: Array<[Observation[], number]> = [
      [base, profile.ackTimeoutMs],
      [[...base, { node: "lb1", kind: "lan", answered: false, began: "before" }], 5 * (profile.ackTimeoutMs + profile.reverifyMs)],
    ];
    for (const [items, settleMs] of variants) {
      for (const order of arrivalOrders(items)) {
        // The probing goes on: a LAN round answers, the next probe through the VIP is silent again.
        const r = deliver([...order, lanNow("lb2", true), ...vipFails("lb2", 1)], profile, { settleMs });
        assert.deepEqual(r.acquires, ["lb2"], `one acquire, to lb2: ${describe(order)}`);
        assert.equal(r.holder, "lb2", describe(order));
        assert.deepEqual(r.releases, ["lb1"], `the old holder lets go once: ${describe(order)}`);
      }
    }
  });
}
