import { test } from "node:test";
import assert from "node:assert/strict";
import { compareCandidates, effectivePriority, eligibility, MAX_PRIORITY, MIN_PRIORITY, type Ineligible } from "../../coordinator/election/priority.js";
import type { NodeView } from "../../coordinator/election/view.js";
import { member, prng, shuffle, unit, view } from "./election-fixtures.js";

// ---------------------------------------------------------------- effective priority

interface PriorityCase {
  name: string;
  base: number;
  tracks: string[];
  /** Track name → passing; a name left out was never reported. */
  reported: Record<string, boolean>;
  effective: number;
  faultTrack?: string;
  deltas?: number[];
  /** Tracks the report does not name at all (eligibility: "track-missing"); default none. */
  missing?: string[];
}

const priorityCases: PriorityCase[] = [
  { name: "no tracks: the base priority is the effective priority", base: 100, tracks: [], reported: {}, effective: 100, deltas: [] },
  { name: "a positive weight adds while its track passes", base: 100, tracks: ["chk:10"], reported: { chk: true }, effective: 110, deltas: [10] },
  { name: "a positive weight adds nothing while its track fails", base: 100, tracks: ["chk:10"], reported: { chk: false }, effective: 100, deltas: [0] },
  {
    name: "a negative weight adds nothing while its track passes",
    base: 100,
    tracks: ["chk_nginx:-20"],
    reported: { chk_nginx: true },
    effective: 100,
    deltas: [0],
  },
  {
    name: "a negative weight subtracts while its track fails (the seed's lb1: 100 - 20 = 80)",
    base: 100,
    tracks: ["chk_nginx:-20"],
    reported: { chk_nginx: false },
    effective: 80,
    deltas: [-20],
  },
  { name: "a weight-0 track that passes changes nothing", base: 100, tracks: ["link:0"], reported: { link: true }, effective: 100, deltas: [0] },
  {
    name: "a weight-0 track that fails makes the member FAULT without touching the priority",
    base: 100,
    tracks: ["link:0"],
    reported: { link: false },
    effective: 100,
    faultTrack: "link",
    deltas: [0],
  },
  {
    name: "an unreported weight-0 track counts as failing, and is listed as missing",
    base: 100,
    tracks: ["link:0"],
    reported: {},
    effective: 100,
    faultTrack: "link",
    missing: ["link"],
  },
  {
    name: "an unreported negative track counts as failing: the weight applies, and it is listed as missing",
    base: 100,
    tracks: ["chk_nginx:-20"],
    reported: {},
    effective: 80,
    deltas: [-20],
    missing: ["chk_nginx"],
  },
  {
    name: "an unreported positive track counts as failing: nothing is added, and it is listed as missing",
    base: 100,
    tracks: ["bonus:30"],
    reported: {},
    effective: 100,
    deltas: [0],
    missing: ["bonus"],
  },
  {
    name: "a track reported failing is not missing; only the unreported ones are listed, in the unit's order",
    base: 100,
    tracks: ["a:10", "b:-20", "c:0", "d:5"],
    reported: { b: false, d: true },
    effective: 85,
    deltas: [0, -20, 0, 5],
    faultTrack: "c",
    missing: ["a", "c"],
  },
  {
    name: "a report's own prototype names are no tracks (a track named like an Object member is still missing)",
    base: 100,
    tracks: ["toString:-20"],
    reported: {},
    effective: 80,
    missing: ["toString"],
  },
  {
    name: "several tracks add up (passing +10, failing -20, failing +5)",
    base: 100,
    tracks: ["a:10", "b:-20", "c:5"],
    reported: { a: true, b: false, c: false },
    effective: 90,
    deltas: [10, -20, 0],
  },
  {
    name: "the first failing weight-0 track is the one named",
    base: 100,
    tracks: ["ok:0", "first:0", "second:0"],
    reported: { ok: true, first: false, second: false },
    effective: 100,
    faultTrack: "first",
  },
  { name: "the sum is clamped to 254 at the top", base: 250, tracks: ["a:10"], reported: { a: true }, effective: MAX_PRIORITY },
  { name: "the sum is clamped to 1 at the bottom", base: 10, tracks: ["a:-50"], reported: { a: false }, effective: MIN_PRIORITY },
  {
    name: "the clamp applies to the total, not to each step (254 + 10 - 20 = 244)",
    base: 254,
    tracks: ["up:10", "down:-20"],
    reported: { up: true, down: false },
    effective: 244,
  },
  { name: "a report for a track the unit does not declare is ignored", base: 100, tracks: [], reported: { stray: false }, effective: 100 },
];

for (const c of priorityCases) {
  test(`effective priority: ${c.name}`, () => {
    const u = unit({ tracks: c.tracks, members: [`lb1:${c.base}`] });
    const v = view("lb1", u);
    v.tracks = c.reported;
    const got = effectivePriority(u.members[0], u.tracks, v);
    assert.equal(got.base, c.base);
    assert.equal(got.effective, c.effective);
    assert.equal(got.faultTrack, c.faultTrack);
    assert.equal(got.adjustments.length, c.tracks.length);
    if (c.deltas)
      assert.deepEqual(
        got.adjustments.map((a) => a.delta),
        c.deltas,
      );
    for (const a of got.adjustments) assert.equal(a.passing, Object.hasOwn(c.reported, a.track) && c.reported[a.track], `track ${a.track} passing`);
    for (const a of got.adjustments) assert.equal(a.reported, Object.hasOwn(c.reported, a.track), `track ${a.track} reported`);
    assert.deepEqual(got.missingTracks, c.missing ?? []);
  });
}

test("effective priority: a node with no view at all gets every track as failing", () => {
  const u = unit({ tracks: ["chk_nginx:-20", "link:0"] });
  const got = effectivePriority(u.members[0], u.tracks, undefined);
  assert.equal(got.effective, 80);
  assert.equal(got.faultTrack, "link");
  assert.deepEqual(got.missingTracks, [], "no view: nothing is known to be missing (eligibility says disconnected)");
});

test("effective priority: the seed's pair — lb1 failing chk_nginx falls to 80, below lb2's 90; both failing keeps lb1 ahead (80 > 70)", () => {
  const u = unit();
  const [lb1, lb2] = u.members;
  const failing = (n: string) => view(n, u, { tracks: { chk_nginx: false } });
  assert.equal(effectivePriority(lb1, u.tracks, failing("lb1")).effective, 80);
  assert.equal(effectivePriority(lb2, u.tracks, view("lb2", u)).effective, 90);
  assert.equal(effectivePriority(lb2, u.tracks, failing("lb2")).effective, 70);
});

// ---------------------------------------------------------------- eligibility

interface EligibilityCase {
  name: string;
  view: Partial<NodeView> | "none";
  isHolder?: boolean;
  lanSignalValid?: boolean;
  tracks?: string[];
  /** Tracks of the unit the view's report does not name at all. */
  unreported?: string[];
  reason: Ineligible | undefined;
  detail?: RegExp;
}

const eligibilityCases: EligibilityCase[] = [
  { name: "a live node with nginx running and nothing wrong is eligible", view: {}, reason: undefined, detail: /lb1 is eligible/ },
  { name: "a node with no view is disconnected", view: "none", reason: "disconnected", detail: /no session/ },
  { name: "a node that never connected is disconnected", view: { session: "never" }, reason: "disconnected" },
  { name: "a node whose session closed is disconnected", view: { session: "closed" }, reason: "disconnected" },
  {
    name: "a node whose session went silent is not eligible (missed heartbeats)",
    view: { session: "silent" },
    reason: "session-silent",
    detail: /missed its heartbeats/,
  },
  {
    name: "an agent that declared FAULT is not eligible, and the reason says why",
    view: { fault: true, faultReason: "nginx cannot start" },
    reason: "fault",
    detail: /FAULT: nginx cannot start/,
  },
  { name: "an agent FAULT without a reason still says it was reported", view: { fault: true }, reason: "fault", detail: /reported by agent/ },
  {
    name: "a failing weight-0 track is a FAULT",
    view: { tracks: { link: false } },
    tracks: ["link:0"],
    reason: "track-fault",
    detail: /track link \(weight 0\)/,
  },
  {
    name: "a weight-0 track the agent does not report at all: track-missing, not track-fault, and the detail says it is not in its agent config",
    view: {},
    tracks: ["link:0"],
    unreported: ["link"],
    reason: "track-missing",
    detail: /^lb1's agent does not run track link \(not in its agent config\)$/,
  },
  {
    name: "a weighted track the agent does not report at all: not eligible either (a node does not hold on a check it never runs)",
    view: {},
    tracks: ["chk_x:-20"],
    unreported: ["chk_x"],
    reason: "track-missing",
    detail: /lb1's agent does not run track chk_x \(not in its agent config\)/,
  },
  {
    name: "several missing tracks are all named",
    view: {},
    tracks: ["a:10", "b:0", "c:-5"],
    unreported: ["a", "b", "c"],
    reason: "track-missing",
    detail: /does not run tracks a, b and c \(not in its agent config\)/,
  },
  {
    name: "a missing track wins over a failing weight-0 track in the explanation (the config is what to fix)",
    view: { tracks: { failing: false } },
    tracks: ["failing:0", "absent:10"],
    unreported: ["absent"],
    reason: "track-missing",
    detail: /track absent \(/,
  },
  {
    name: "an agent FAULT wins over a missing track (the agent's own verdict comes first)",
    view: { fault: true, faultReason: "nginx cannot start" },
    tracks: ["chk_x:0"],
    unreported: ["chk_x"],
    reason: "fault",
  },
  {
    name: "a disconnected node with a missing track is disconnected (the session is checked first)",
    view: { session: "closed" },
    tracks: ["chk_x:0"],
    unreported: ["chk_x"],
    reason: "disconnected",
  },
  {
    name: "a missing track wins over maintenance in the explanation",
    view: { maintenance: true },
    tracks: ["chk_x:-20"],
    unreported: ["chk_x"],
    reason: "track-missing",
  },
  {
    name: "a failing weight -20 track lowers priority but keeps the node eligible",
    view: { tracks: { chk_nginx: false } },
    tracks: ["chk_nginx:-20"],
    reason: undefined,
  },
  { name: "nginx down: not eligible", view: { nginx: "down" }, reason: "nginx-down", detail: /nginx on lb1 is down/ },
  { name: "nginx stopped: not eligible", view: { nginx: "stopped" }, reason: "nginx-down" },
  { name: "nginx not reported yet: not eligible", view: { nginx: "unknown" }, reason: "nginx-down" },
  {
    name: "nginx starting on the holder: it keeps the VIP (F4, a restartable nginx moves nothing)",
    view: { nginx: "starting" },
    isHolder: true,
    reason: undefined,
  },
  { name: "nginx starting on a non-holder: not eligible yet", view: { nginx: "starting" }, isHolder: false, reason: "nginx-down", detail: /starting/ },
  { name: "nginx down on the holder: not eligible (only 'starting' is forgiven)", view: { nginx: "down" }, isHolder: true, reason: "nginx-down" },
  { name: "maintenance: not eligible", view: { maintenance: true }, reason: "maintenance", detail: /maintenance/ },
  { name: "an agent stopping cleanly: not eligible", view: { leaving: true }, reason: "leaving", detail: /stopping/ },
  {
    name: "LAN reference unreachable while the signal is valid: not eligible",
    view: { lanOk: false },
    lanSignalValid: true,
    reason: "lan-unreachable",
    detail: /cannot reach any LAN reference/,
  },
  {
    name: "LAN reference unreachable while no live member reports lanOk: the signal is ignored",
    view: { lanOk: false },
    lanSignalValid: false,
    reason: undefined,
  },
  { name: "lanOk not reported while the signal is valid: eligible (absence is not failure)", view: {}, lanSignalValid: true, reason: undefined },
  {
    name: "a silent session wins over FAULT in the explanation (the session is checked first)",
    view: { session: "silent", fault: true },
    reason: "session-silent",
  },
  { name: "FAULT wins over maintenance in the explanation", view: { fault: true, maintenance: true }, reason: "fault" },
  { name: "maintenance wins over nginx down in the explanation", view: { maintenance: true, nginx: "down" }, reason: "maintenance" },
];

for (const c of eligibilityCases) {
  test(`eligibility: ${c.name}`, () => {
    const u = unit({ tracks: c.tracks ?? [] });
    const v = c.view === "none" ? undefined : view("lb1", u, c.view);
    for (const t of c.unreported ?? []) delete v?.tracks[t];
    const prio = effectivePriority(u.members[0], u.tracks, v);
    const got = eligibility(u.members[0], u, v, prio, { isHolder: c.isHolder ?? false, lanSignalValid: c.lanSignalValid ?? false });
    assert.equal(got.reason, c.reason, got.detail);
    assert.equal(got.eligible, c.reason === undefined);
    assert.ok(got.detail.length > 0);
    if (c.detail) assert.match(got.detail, c.detail);
  });
}

// ---------------------------------------------------------------- total order

type Cand = { node: string; address?: string; effective: number };
const compareCases: Array<[string, Cand, Cand]> = [
  ["higher effective priority ranks first", { node: "lb2", address: "198.18.0.12", effective: 90 }, { node: "lb1", address: "198.18.0.11", effective: 80 }],
  ["priority beats address", { node: "lb1", address: "198.18.0.11", effective: 101 }, { node: "lb2", address: "198.18.0.12", effective: 100 }],
  [
    "on equal priority the higher address ranks first (VRRP's rule)",
    { node: "lb1", address: "198.18.0.12", effective: 100 },
    { node: "lb2", address: "198.18.0.11", effective: 100 },
  ],
  [
    "IPv4 addresses compare by number, not text (.11 above .9)",
    { node: "a", address: "198.18.0.11", effective: 100 },
    { node: "b", address: "198.18.0.9", effective: 100 },
  ],
  [
    "IPv4 addresses compare by number in every octet (10.1.0.0 above 9.255.255.255)",
    { node: "a", address: "10.1.0.0", effective: 100 },
    { node: "b", address: "9.255.255.255", effective: 100 },
  ],
  [
    "IPv6 addresses compare by number, not text (::10 above ::9)",
    { node: "a", address: "fd00::10", effective: 100 },
    { node: "b", address: "fd00::9", effective: 100 },
  ],
  [
    "IPv6 addresses compare by number whatever the compression (fd00:0:0:0:0:0:0:a above fd00::9)",
    { node: "a", address: "fd00:0:0:0:0:0:0:a", effective: 100 },
    { node: "b", address: "fd00::9", effective: 100 },
  ],
  ["IPv6 case does not matter (FD00::B above fd00::a)", { node: "a", address: "FD00::B", effective: 100 }, { node: "b", address: "fd00::a", effective: 100 }],
  [
    "an IPv4 address and its IPv4-mapped IPv6 spelling are one address: the node id decides",
    { node: "lb2", address: "::ffff:198.18.0.11", effective: 100 },
    { node: "lb1", address: "198.18.0.11", effective: 100 },
  ],
  [
    "IPv6 with an embedded dotted quad compares by number (::ffff:198.18.0.12 above 198.18.0.11)",
    { node: "a", address: "::ffff:198.18.0.12", effective: 100 },
    { node: "b", address: "198.18.0.11", effective: 100 },
  ],
  ["a member with an address ranks before one without", { node: "a", address: "198.18.0.1", effective: 100 }, { node: "b", effective: 100 }],
  [
    "on equal priority and address the higher node id ranks first",
    { node: "lb2", address: "198.18.0.11", effective: 100 },
    { node: "lb1", address: "198.18.0.11", effective: 100 },
  ],
  ["without addresses the higher node id ranks first", { node: "lb2", effective: 100 }, { node: "lb10", effective: 100 }],
];

for (const [name, first, second] of compareCases) {
  test(`compareCandidates: ${name}`, () => {
    assert.ok(compareCandidates(first, second) < 0, `${first.node} should rank before ${second.node}`);
    assert.ok(compareCandidates(second, first) > 0, "and the order is antisymmetric");
  });
}

test("compareCandidates: a candidate compared with itself is equal", () => {
  const c = { node: "lb1", address: "198.18.0.11", effective: 100 };
  assert.equal(compareCandidates(c, { ...c }), 0);
});

test("compareCandidates: 200 seeded shuffles of 8 candidates with ties everywhere always sort to the same order", () => {
  const cands: Cand[] = [
    { node: "a", address: "198.18.0.11", effective: 100 },
    { node: "b", address: "198.18.0.11", effective: 100 },
    { node: "c", address: "198.18.0.9", effective: 100 },
    { node: "d", effective: 100 },
    { node: "e", address: "fd00::1", effective: 100 },
    { node: "f", address: "198.18.0.200", effective: 90 },
    { node: "g", effective: 90 },
    { node: "h", address: "198.18.0.1", effective: 254 },
  ];
  const expected = [...cands].sort(compareCandidates).map((c) => c.node);
  const rand = prng(7);
  for (let i = 0; i < 200; i++) {
    assert.deepEqual(
      shuffle(cands, rand)
        .sort(compareCandidates)
        .map((c) => c.node),
      expected,
      `shuffle ${i}`,
    );
  }
  // Transitivity over every triple: a total order, not just a stable sort.
  for (const x of cands)
    for (const y of cands)
      for (const z of cands) {
        if (compareCandidates(x, y) < 0 && compareCandidates(y, z) < 0) assert.ok(compareCandidates(x, z) < 0, `${x.node} < ${y.node} < ${z.node}`);
      }
});

test("member(): the fixture gives lab addresses so ties fall to the address", () => {
  assert.deepEqual(member("lb2:90"), { node: "lb2", priority: 90, address: "198.18.0.12" });
  assert.deepEqual(member("lb2:90@"), { node: "lb2", priority: 90 });
});
