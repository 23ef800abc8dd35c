/** The status page's decisions: status → view model, the timeline of moves, and what counts as a change worth a push. */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Event, GroupStatus, MemberStatus, StatusReply, UpstreamStatus } from "../../shared/gen/keepvip/v1/admin.js";
import {
  changeKey,
  figuresOf,
  followerStatus,
  formatDuration,
  groupCard,
  groupTone,
  headerView,
  memberRow,
  pageView,
  timelineEntry,
  timelineOf,
  upstreamView,
  type PageStatus,
} from "../../coordinator/status-page/view.js";

const member = (over: Partial<MemberStatus> = {}): MemberStatus => ({
  nodeId: "lb1",
  basePriority: 100,
  effectivePriority: 100,
  state: "MASTER",
  nginx: "running",
  reportAgeMs: 120,
  eligible: true,
  ineligibleReason: "",
  connected: true,
  drainingConnections: -1,
  drainingMs: 0,
  ...over,
});

const group = (over: Partial<GroupStatus> = {}): GroupStatus => ({
  name: "VI_1",
  vips: ["198.18.0.100/24"],
  holder: "lb1",
  epoch: 4,
  phase: "steady",
  reason: "lb1 has the highest priority (100)",
  members: [member(), member({ nodeId: "lb2", basePriority: 90, effectivePriority: 90, state: "BACKUP" })],
  preempt: true,
  preemptDelayMs: 0,
  ...over,
});

const status = (over: Partial<StatusReply> = {}): StatusReply => ({
  groups: [group()],
  upstreams: [],
  coordinatorVersion: "0.1.0",
  uptimeMs: 65_000,
  insecure: false,
  replica: "",
  term: 0,
  ...over,
});

const event = (over: Partial<Event>): Event => ({ atMs: 1000, kind: "session", group: "", nodeId: "", epoch: 0, message: "", fields: {}, ...over });

test("durations read like a person would say them", () => {
  const cases: Array<[number, string]> = [
    [0, "0 ms"],
    [42, "42 ms"],
    [999, "999 ms"],
    [1000, "1 s"],
    [1540, "1.5 s"],
    [59_990, "1 min"],
    [252_000, "4 min 12 s"],
    [3_600_000, "1 h"],
    [7_500_000, "2 h 5 min"],
    [273_600_000, "3 d 4 h"],
    [-1, "?"],
    [Number.NaN, "?"],
  ];
  for (const [ms, want] of cases) assert.equal(formatDuration(ms), want, `${ms} ms`);
});

test("a member row: tones for state and nginx, the track delta, why it cannot hold, its drain", () => {
  const cases: Array<{ name: string; m: MemberStatus; holder: string; want: Partial<ReturnType<typeof memberRow>> }> = [
    {
      name: "the holder",
      m: member(),
      holder: "lb1",
      want: { holder: true, state: "MASTER", stateTone: "ok", nginxTone: "ok", delta: "", why: "", report: "120 ms ago" },
    },
    {
      name: "a backup down 20 by a track",
      m: member({ nodeId: "lb2", state: "BACKUP", effectivePriority: 80, basePriority: 100 }),
      holder: "lb1",
      want: { holder: false, stateTone: "info", delta: "−20", effective: 80, base: 100 },
    },
    { name: "a positive track weight", m: member({ effectivePriority: 110 }), holder: "lb1", want: { delta: "+10" } },
    {
      name: "FAULT with a reason",
      m: member({ state: "FAULT", nginx: "down", eligible: false, ineligibleReason: "nginx is down" }),
      holder: "lb2",
      want: { holder: false, stateTone: "bad", nginxTone: "bad", why: "nginx is down" },
    },
    {
      name: "never reported",
      m: member({ state: "DISCONNECTED", reportAgeMs: -1, nginx: "unknown" }),
      holder: "lb1",
      want: { report: "never", stateTone: "bad", nginxTone: "muted" },
    },
    { name: "a holder not heard from", m: member({ state: "MASTER?" }), holder: "lb1", want: { stateTone: "warn" } },
    { name: "nobody holds: no row is the holder's", m: member(), holder: "", want: { holder: false } },
    { name: "draining one connection", m: member({ drainingConnections: 1, drainingMs: 4100 }), holder: "lb2", want: { draining: "draining 1 conn (4.1 s)" } },
    { name: "ineligible without words", m: member({ eligible: false }), holder: "lb2", want: { why: "not eligible" } },
  ];
  for (const c of cases) {
    const got = memberRow(c.m, c.holder);
    for (const [k, v] of Object.entries(c.want)) assert.deepEqual(got[k as keyof typeof got], v, `${c.name}: ${k}`);
  }
});

test("a group's tone: held and steady is green, moving or unsure is amber, unheld is red", () => {
  const cases: Array<[string, GroupStatus, string]> = [
    ["held, steady", group(), "ok"],
    ["no holder", group({ holder: "" }), "bad"],
    ["moving", group({ phase: "acquiring" }), "warn"],
    ["holder not heard from", group({ members: [member({ state: "MASTER?" })] }), "warn"],
    ["holder's nginx starting", group({ members: [member({ nginx: "starting" })] }), "warn"],
  ];
  for (const [name, g, want] of cases) assert.equal(groupTone(g), want, name);
});

test("a group card says who holds it, the epoch and the preempt mode", () => {
  const card = groupCard(group({ preemptDelayMs: 5000 }));
  assert.equal(card.holder, "lb1");
  assert.equal(card.epoch, 4);
  assert.equal(card.preempt, "preempt after 5 s");
  assert.equal(card.members[0].holder, true);
  assert.equal(card.members[1].holder, false);
  assert.equal(groupCard(group({ preempt: false })).preempt, "nopreempt");
  assert.equal(groupCard(group()).preempt, "preempt");
});

test("upstreams: one column per LB, each server's health as each LB sees it, the version each applied", () => {
  const u: UpstreamStatus = {
    name: "my10016",
    balance: "least_conn",
    version: 7,
    servers: [
      {
        address: "198.18.0.21:10016",
        up: true,
        weight: 1,
        configWeight: 1,
        override: "",
        seenBy: [
          { nodeId: "lb2", up: true, detail: "200 in 3 ms" },
          { nodeId: "lb1", up: true, detail: "" },
        ],
      },
      { address: "198.18.0.22:10016", up: false, weight: 0, configWeight: 5, override: "drain", seenBy: [{ nodeId: "lb1", up: false, detail: "refused" }] },
    ],
    applied: [
      { nodeId: "lb1", applied: 7, error: "" },
      { nodeId: "lb2", applied: 6, error: "" },
      { nodeId: "lb3", applied: 6, error: "nginx -t failed" },
    ],
  };
  const v = upstreamView(u);
  assert.deepEqual(v.nodes, ["lb1", "lb2", "lb3"]);
  assert.deepEqual(
    v.servers[0].seen.map((c) => [c.text, c.tone]),
    [
      ["up", "ok"],
      ["up", "ok"],
      ["–", "muted"],
    ],
  );
  assert.equal(v.servers[0].seen[1].title, "lb2: 200 in 3 ms");
  assert.deepEqual([v.servers[1].health.text, v.servers[1].health.tone], ["DOWN", "bad"]);
  assert.equal(v.servers[1].weight, "0 (config 5)");
  assert.equal(v.servers[1].override, "drain");
  assert.deepEqual(
    v.servers[1].seen.map((c) => c.text),
    ["down", "–", "–"],
  );
  assert.deepEqual(
    v.applied.map((c) => [c.text, c.tone]),
    [
      ["v7", "ok"],
      ["v6", "warn"],
      ["v6 ✗", "bad"],
    ],
  );
  assert.match(v.applied[2].title, /nginx -t failed/);
});

test("the header: a single coordinator, a leading replica, a follower that names the leader", () => {
  const single = headerView({ kind: "status", status: status() });
  assert.deepEqual([single.role, single.summary, single.tone, single.uptime], ["single", "1 group, held", "ok", "1 min 5 s"]);
  const leader = headerView({ kind: "status", status: status({ replica: "coord1", term: 7 }) });
  assert.deepEqual([leader.role, leader.replica, leader.term], ["leader", "coord1", 7]);
  const unheld = headerView({ kind: "status", status: status({ groups: [group(), group({ name: "VI_2", holder: "" })] }) });
  assert.deepEqual([unheld.summary, unheld.tone], ["1 of 2 groups held: VI_2 has no holder", "bad"]);
  const moving = headerView({ kind: "status", status: status({ groups: [group(), group({ name: "VI_2", phase: "acquiring" })] }) });
  assert.deepEqual([moving.summary, moving.tone], ["2 groups, all held; look at VI_2", "warn"]);

  const f = followerStatus("coord2", { name: "coord1", address: "10.0.0.21:7400", term: 7 });
  assert.deepEqual(f, {
    error: "coordinator replica coord2 follows: the leader is coord1 at 10.0.0.21:7400",
    replica: "coord2",
    role: "follower",
    leader: { name: "coord1", address: "10.0.0.21:7400", term: 7 },
  });
  const fh = headerView({ kind: "follower", follower: f });
  assert.equal(fh.role, "follower");
  assert.match(fh.notice ?? "", /follows and keeps no status: the leader is coord1 at 10\.0\.0\.21:7400 \(term 7\)/);
  const lost = followerStatus("coord2", undefined);
  assert.equal(lost.leader, null);
  assert.match(headerView({ kind: "follower", follower: lost }).notice ?? "", /knows no leader yet/);
  // A follower shows no groups, and says so in the header.
  assert.deepEqual(pageView({ kind: "follower", follower: f }, []).groups, []);
});

test("figures from an event's fields: duration, time on none / on both, a drill's blackout and probes", () => {
  const cases: Array<[Record<string, string>, Array<[string, string, string]>]> = [
    [{}, []],
    [{ duration_ms: "42" }, [["took", "42 ms", "info"]]],
    [
      { on_none_ms: "0", on_both_ms: "62" },
      [
        ["on none", "0 ms", "ok"],
        ["on both", "62 ms", "info"],
      ],
    ],
    [{ on_none_ms: "1500" }, [["on none", "1.5 s", "bad"]]],
    [
      { blackout_ms: "55", failed_probes: "3", probes: "520", mode: "kill-nginx" },
      [
        ["blackout", "55 ms", "warn"],
        ["probes", "3 of 520 failed", "bad"],
        ["mode", "kill-nginx", "muted"],
      ],
    ],
    [
      { blackout_ms: "0", failed_probes: "0", probes: "400" },
      [
        ["blackout", "0 ms", "ok"],
        ["probes", "0 of 400 failed", "ok"],
      ],
    ],
    // Not a number: left out rather than shown as NaN.
    [{ duration_ms: "soon", on_both_ms: "-3" }, []],
  ];
  for (const [fields, want] of cases)
    assert.deepEqual(
      figuresOf(fields).map((f) => [f.label, f.value, f.tone]),
      want,
      JSON.stringify(fields),
    );
});

test("timeline entries: what moved, from where to where, the rule that moved it", () => {
  const cases: Array<{ name: string; e: Event; want: Partial<NonNullable<ReturnType<typeof timelineEntry>>> | undefined }> = [
    {
      name: "a completed move",
      e: event({
        kind: "move",
        group: "VI_1",
        nodeId: "lb2",
        message: "lb2 holds VI_1 (epoch 5), moved from lb1: lb2 has the higher priority (100 > 90) and preempts",
        fields: { duration_ms: "38" },
      }),
      want: { from: "lb1", to: "lb2", outcome: "done", reason: "lb2 has the higher priority (100 > 90) and preempts" },
    },
    {
      name: "a first election: from none",
      e: event({ kind: "move", group: "VI_1", nodeId: "lb1", message: "lb1 holds VI_1 (epoch 1): initial election: lb1 has the highest priority" }),
      want: { from: "none", to: "lb1", outcome: "done", reason: "initial election: lb1 has the highest priority" },
    },
    {
      name: "a failed acquire",
      e: event({ kind: "move", group: "VI_1", nodeId: "lb2", message: "lb2 could not acquire VI_1: no ack from lb2 within 2000 ms" }),
      want: { from: "", to: "lb2", outcome: "failed", reason: "no ack from lb2 within 2000 ms" },
    },
    {
      name: "structured fields win over the message",
      e: event({
        kind: "move",
        group: "VI_1",
        nodeId: "lb2",
        message: "lb2 holds VI_1 (epoch 5), moved from lb1: x",
        fields: { from: "lb3", rule: "preempted", on_none_ms: "0", on_both_ms: "51" },
      }),
      want: { from: "lb3", to: "lb2", reason: "preempted: x" },
    },
    {
      name: "an election note",
      e: event({ kind: "election", group: "VI_1", nodeId: "lb1", message: "VI_1: lb1 has the highest priority (100)" }),
      want: { kind: "election", from: "", to: "", outcome: "", reason: "VI_1: lb1 has the highest priority (100)" },
    },
    {
      name: "an admin action",
      e: event({ kind: "admin", group: "VI_1", nodeId: "lb2", message: "switchover of VI_1 to lb2 requested by admin alice" }),
      want: { kind: "admin" },
    },
    {
      name: "a drill with its figures",
      e: event({
        kind: "drill",
        group: "VI_1",
        message: "drill VI_1: lb1 → lb2 → lb1",
        fields: { from_node: "lb1", to_node: "lb2", blackout_ms: "0", failed_probes: "0", probes: "300", mode: "switchover" },
      }),
      want: { kind: "drill", from: "lb1", to: "lb2", outcome: "done" },
    },
    {
      name: "a drill as the coordinator records it: its node is the holder it started from, no arrow made up",
      e: event({
        kind: "drill",
        group: "VI_1",
        nodeId: "lb1",
        message: "drill of VI_1 (switchover lb1 → lb2 → lb1): 0 of 412 probes failed, blackout 0 ms, on none 0 ms, on two 54 ms",
        fields: { mode: "switchover", blackout_ms: "0", failed_probes: "0", probes: "412", on_none_ms: "0", on_both_ms: "54" },
      }),
      want: { kind: "drill", from: "", to: "", outcome: "done" },
    },
    {
      name: "a group's fault",
      e: event({ kind: "fault", group: "VI_1", nodeId: "lb1", message: "lb1 no longer holds VI_1 (FAULT: nginx)" }),
      want: { kind: "fault" },
    },
    { name: "an upstream server's fault is not a VIP's", e: event({ kind: "fault", message: "198.18.0.21:10016 is down" }), want: undefined },
    { name: "a session event is not in the timeline", e: event({ kind: "session", nodeId: "lb1", message: "lb1 session opened" }), want: undefined },
    { name: "nor a push", e: event({ kind: "push", message: "upstream config version 7" }), want: undefined },
  ];
  for (const c of cases) {
    const got = timelineEntry(c.e);
    if (c.want === undefined) {
      assert.equal(got, undefined, c.name);
      continue;
    }
    assert.ok(got, c.name);
    for (const [k, v] of Object.entries(c.want)) assert.deepEqual(got[k as keyof typeof got], v, `${c.name}: ${k}`);
  }
});

test("the timeline is newest first, leaves out what is no move, and is bounded", () => {
  const events = [
    event({ atMs: 1, kind: "move", group: "VI_1", nodeId: "lb1", message: "lb1 holds VI_1 (epoch 1): first" }),
    event({ atMs: 2, kind: "session", nodeId: "lb2", message: "lb2 session opened" }),
    event({ atMs: 3, kind: "move", group: "VI_1", nodeId: "lb2", message: "lb2 holds VI_1 (epoch 2), moved from lb1: second" }),
    event({ atMs: 4, kind: "admin", message: "maintenance on for lb1" }),
  ];
  assert.deepEqual(
    timelineOf(events).map((t) => t.atMs),
    [4, 3, 1],
  );
  assert.deepEqual(
    timelineOf(events, 2).map((t) => t.atMs),
    [4, 3],
  );
  const view = pageView({ kind: "status", status: status() }, events);
  assert.deepEqual(
    view.events.map((e) => e.atMs),
    [4, 3, 2, 1],
    "the recent events: every kind, newest first",
  );
});

test("a change worth a push: states and events count, report ages and uptime do not", () => {
  const upstream = (up: boolean, detail: string): UpstreamStatus => ({
    name: "u",
    balance: "round_robin",
    version: 1,
    servers: [{ address: "198.18.0.21:80", up, weight: 1, configWeight: 1, override: "", seenBy: [{ nodeId: "lb1", up, detail }] }],
    applied: [],
  });
  // Every case has the same upstream unless it says otherwise.
  const st = (over: Partial<StatusReply> = {}) => status({ upstreams: [upstream(true, "ok after 2 ms")], ...over });
  const base: PageStatus = { kind: "status", status: st() };
  const k = changeKey(base, []);
  const cases: Array<[string, PageStatus, Event[], boolean]> = [
    ["uptime only", { kind: "status", status: st({ uptimeMs: 99_000 }) }, [], false],
    [
      "a newer report",
      {
        kind: "status",
        status: st({
          groups: [group({ members: [member({ reportAgeMs: 40 }), member({ nodeId: "lb2", basePriority: 90, effectivePriority: 90, state: "BACKUP" })] })],
        }),
      },
      [],
      false,
    ],
    [
      "a drain's age",
      {
        kind: "status",
        status: st({
          groups: [group({ members: [member({ drainingMs: 300 }), member({ nodeId: "lb2", basePriority: 90, effectivePriority: 90, state: "BACKUP" })] })],
        }),
      },
      [],
      false,
    ],
    [
      "a member's first report",
      {
        kind: "status",
        status: st({
          groups: [group({ members: [member({ reportAgeMs: -1 }), member({ nodeId: "lb2", basePriority: 90, effectivePriority: 90, state: "BACKUP" })] })],
        }),
      },
      [],
      true,
    ],
    ["a new holder", { kind: "status", status: st({ groups: [group({ holder: "lb2" })] }) }, [], true],
    ["a probe's latency", { kind: "status", status: st({ upstreams: [upstream(true, "ok after 4 ms")] }) }, [], false],
    ["a server's health", { kind: "status", status: st({ upstreams: [upstream(false, "refused after 1 ms")] }) }, [], true],
    ["a new event", base, [event({ kind: "session", message: "x" })], true],
    ["a follower", { kind: "follower", follower: followerStatus("c2", undefined) }, [], true],
  ];
  for (const [name, s, events, changed] of cases) assert.equal(changeKey(s, events) !== k, changed, name);
});
