import { test } from "node:test";
import assert from "node:assert/strict";
import { elect, type ElectInput, type Rule } from "../../coordinator/election/elect.js";
import type { NodeView } from "../../coordinator/election/view.js";
import { prng, reach, shuffle, unit, views, type UnitOptions } from "./election-fixtures.js";

interface ElectCase {
  name: string;
  unit?: UnitOptions;
  views?: Record<string, Partial<NodeView>>;
  /** Node → tracks of the unit its report does not name at all (its agent does not run them). */
  unreported?: Record<string, string[]>;
  holder?: string | null;
  nowMs?: number;
  preemptSince?: { node: string; sinceMs: number };
  switchoverTo?: string;
  skip?: string[];
  winner: string | null;
  rule: Rule;
  reason?: RegExp;
  /** Expected bookkeeping for the next call (undefined: none). */
  preemptSinceOut?: { node: string; sinceMs: number };
  wakeAtMs?: number;
}

const three: UnitOptions = { members: ["lb1:100", "lb2:90", "lb3:80"], tracks: [] };
const failing = { tracks: { chk_nginx: false } };
const cannotReach = (failures = 3, lanOk = true) => ({ reach: reach("VI_1", failures, lanOk) });

const cases: ElectCase[] = [
  // -- no holder
  {
    name: "nobody holds it: the highest effective priority wins",
    holder: null,
    winner: "lb1",
    rule: "initial-election",
    reason: /lb1 has the highest effective priority \(100\)/,
  },
  { name: "nobody holds it and the best node is FAULT: the next one wins", views: { lb1: { fault: true } }, winner: "lb2", rule: "initial-election" },
  {
    name: "nobody holds it and the best node failed its -20 track: lb2 (90) beats lb1 (80)",
    views: { lb1: failing },
    winner: "lb2",
    rule: "initial-election",
    reason: /\(90\)/,
  },
  {
    name: "nobody holds it and both failed the -20 track: lb1 (80) still beats lb2 (70)",
    views: { lb1: failing, lb2: failing },
    winner: "lb1",
    rule: "initial-election",
    reason: /\(80\)/,
  },
  {
    name: "equal priorities: the higher address wins and the reason says so",
    unit: { members: ["lb1:100", "lb2:100"] },
    winner: "lb2",
    rule: "initial-election",
    reason: /tie with lb1 broken by higher address/,
  },
  {
    name: "equal priorities and no addresses: the higher node id wins and the reason says so",
    unit: { members: ["lb1:100@", "lb2:100@"] },
    winner: "lb2",
    rule: "initial-election",
    reason: /tie with lb1 broken by node id/,
  },
  {
    name: "equal priorities, and the lower id has the higher address: the address decides",
    unit: { members: ["lb1:100@198.18.0.200", "lb2:100@198.18.0.12"] },
    winner: "lb1",
    rule: "initial-election",
  },
  { name: "a node with nginx still starting cannot win an initial election", views: { lb1: { nginx: "starting" } }, winner: "lb2", rule: "initial-election" },
  { name: "a node that never connected is not elected", views: { lb1: { session: "never" } }, winner: "lb2", rule: "initial-election" },
  { name: "a node in maintenance is not elected", views: { lb1: { maintenance: true } }, winner: "lb2", rule: "initial-election" },
  {
    name: "a node whose LAN reference is down is not elected when a peer's LAN works",
    views: { lb1: { lanOk: false }, lb2: { lanOk: true } },
    winner: "lb2",
    rule: "initial-election",
  },
  {
    name: "every node reports its LAN reference down: the signal is void and priority decides",
    views: { lb1: { lanOk: false }, lb2: { lanOk: false } },
    winner: "lb1",
    rule: "initial-election",
  },
  {
    name: "a member silent for a moment still speaks for the LAN: one that cannot reach it is not elected",
    views: { lb1: { lanOk: false }, lb2: { lanOk: true, session: "silent" } },
    winner: null,
    rule: "no-eligible",
  },
  {
    name: "the only member that reached the LAN has closed its session: the signal is void and priority decides",
    views: { lb1: { lanOk: false }, lb2: { lanOk: true, session: "closed" } },
    winner: "lb1",
    rule: "initial-election",
  },
  {
    name: "every node FAULT: nobody, and the reason lists each one",
    views: { lb1: { fault: true, faultReason: "nginx cannot start" }, lb2: { fault: true, faultReason: "link down" } },
    winner: null,
    rule: "no-eligible",
    reason: /nginx cannot start.*link down/,
  },
  { name: "nobody connected: nobody", views: { lb1: { session: "never" }, lb2: { session: "closed" } }, winner: null, rule: "no-eligible" },

  // -- holder stays
  {
    name: "F11 after the takeover: the new holder misses a heartbeat; the old one, cut off the LAN, does not get it back",
    holder: "lb2",
    views: { lb1: { lanOk: false }, lb2: { lanOk: true, session: "silent" } },
    winner: "lb2",
    rule: "holder-lost",
  },
  { name: "the eligible holder stays when nobody is better", holder: "lb1", winner: "lb1", rule: "kept-holder" },
  {
    name: "a lower-priority holder stays when preempt is off (nopreempt) and says who is better",
    unit: { preempt: false },
    holder: "lb2",
    winner: "lb2",
    rule: "kept-holder-nopreempt",
    reason: /lb2 \(90\) stays although lb1 has 100/,
  },
  {
    name: "equal priority never preempts, even with preempt on and a higher address",
    unit: { members: ["lb1:100", "lb2:100"] },
    holder: "lb1",
    winner: "lb1",
    rule: "kept-holder",
  },
  {
    name: "equal effective priority after weights never preempts (lb1 100-20 = lb2 80)",
    unit: { members: ["lb1:100", "lb2:80"] },
    views: { lb1: failing },
    holder: "lb1",
    winner: "lb1",
    rule: "kept-holder",
  },
  {
    name: "the holder with nginx starting keeps the VIP (F4: no move)",
    holder: "lb1",
    views: { lb1: { nginx: "starting" } },
    winner: "lb1",
    rule: "kept-holder",
  },
  { name: "both tracks failing: lb1 (80) keeps it over lb2 (70)", holder: "lb1", views: { lb1: failing, lb2: failing }, winner: "lb1", rule: "kept-holder" },
  {
    name: "the holder keeps it when the only better node is not eligible",
    holder: "lb2",
    views: { lb1: { nginx: "down" } },
    winner: "lb2",
    rule: "kept-holder",
  },

  // -- preempt
  {
    name: "preempt: a strictly better node takes over at once with preempt_delay 0",
    holder: "lb2",
    winner: "lb1",
    rule: "preempted",
    reason: /lb1 \(100\) preempts lb2 \(90\)/,
  },
  {
    name: "the seed's case: lb1's chk_nginx fails (80 < 90) and lb2 preempts",
    holder: "lb1",
    views: { lb1: failing },
    winner: "lb2",
    rule: "preempted",
    reason: /lb2 \(90\) preempts lb1 \(80\)/,
  },
  {
    name: "the seed's case reversed: lb1's track passes again and lb1 preempts back (F6)",
    holder: "lb2",
    views: { lb2: {} },
    winner: "lb1",
    rule: "preempted",
  },
  {
    name: "a positive weight lifts a backup above the holder: it preempts",
    unit: { members: ["lb1:100", "lb2:90"], tracks: ["bonus:20"] },
    holder: "lb1",
    views: { lb1: { tracks: { bonus: false } } },
    winner: "lb2",
    rule: "preempted",
  },
  { name: "preempt with 3 nodes goes to the best, not merely a better one", unit: three, holder: "lb3", winner: "lb1", rule: "preempted" },
  {
    name: "preempt_delay: a better node first waits, with the wake time and the bookkeeping",
    unit: { preemptDelayMs: 5000 },
    holder: "lb2",
    nowMs: 1000,
    winner: "lb2",
    rule: "preempt-pending",
    reason: /after preempt_delay \(5000 ms left\)/,
    preemptSinceOut: { node: "lb1", sinceMs: 1000 },
    wakeAtMs: 6000,
  },
  {
    name: "preempt_delay: still pending before it is due, the start time is kept",
    unit: { preemptDelayMs: 5000 },
    holder: "lb2",
    nowMs: 5999,
    preemptSince: { node: "lb1", sinceMs: 1000 },
    winner: "lb2",
    rule: "preempt-pending",
    reason: /1 ms left/,
    preemptSinceOut: { node: "lb1", sinceMs: 1000 },
    wakeAtMs: 6000,
  },
  {
    name: "preempt_delay: due exactly at since + delay, it preempts",
    unit: { preemptDelayMs: 5000 },
    holder: "lb2",
    nowMs: 6000,
    preemptSince: { node: "lb1", sinceMs: 1000 },
    winner: "lb1",
    rule: "preempted",
  },
  {
    name: "preempt_delay: the delay restarts when the challenger changes",
    unit: { ...three, preemptDelayMs: 5000 },
    holder: "lb3",
    nowMs: 9000,
    preemptSince: { node: "lb2", sinceMs: 1000 },
    winner: "lb3",
    rule: "preempt-pending",
    preemptSinceOut: { node: "lb1", sinceMs: 9000 },
    wakeAtMs: 14000,
  },
  {
    name: "preempt_delay: bookkeeping is dropped once nobody is better",
    unit: { preemptDelayMs: 5000 },
    holder: "lb2",
    views: { lb1: { nginx: "down" } },
    nowMs: 3000,
    preemptSince: { node: "lb1", sinceMs: 1000 },
    winner: "lb2",
    rule: "kept-holder",
  },
  {
    name: "preempt_delay with nopreempt: nothing is pending",
    unit: { preempt: false, preemptDelayMs: 5000 },
    holder: "lb2",
    winner: "lb2",
    rule: "kept-holder-nopreempt",
  },

  // -- holder can no longer hold
  {
    name: "the holder's session closed: holder-lost, the best other node must verify first",
    holder: "lb1",
    views: { lb1: { session: "closed" } },
    winner: "lb2",
    rule: "holder-lost",
    reason: /holder lb1 is lost.*lb2 .*must verify/,
  },
  {
    name: "the holder's session went silent: holder-lost",
    holder: "lb1",
    views: { lb1: { session: "silent" } },
    winner: "lb2",
    rule: "holder-lost",
    reason: /missed its heartbeats/,
  },
  {
    name: "the holder is lost and nobody else is eligible: it stays the holder (fail-static)",
    holder: "lb1",
    views: { lb1: { session: "silent" }, lb2: { fault: true } },
    winner: "lb1",
    rule: "holder-lost",
    reason: /no other member is eligible/,
  },
  {
    name: "the holder went FAULT: holder-ineligible, not lost",
    holder: "lb1",
    views: { lb1: { fault: true, faultReason: "nginx cannot start" } },
    winner: "lb2",
    rule: "holder-ineligible",
    reason: /nginx cannot start/,
  },
  { name: "the holder's nginx is down: holder-ineligible", holder: "lb1", views: { lb1: { nginx: "down" } }, winner: "lb2", rule: "holder-ineligible" },
  {
    name: "the holder's weight-0 track failed: holder-ineligible",
    unit: { tracks: ["link:0"] },
    holder: "lb1",
    views: { lb1: { tracks: { link: false } } },
    winner: "lb2",
    rule: "holder-ineligible",
    reason: /track link/,
  },
  {
    name: "the holder's agent does not run the group's weighted track: holder-ineligible, and the reason says the track is not in its agent config",
    holder: "lb1",
    unreported: { lb1: ["chk_nginx"] },
    winner: "lb2",
    rule: "holder-ineligible",
    reason: /holder lb1 cannot hold \(lb1's agent does not run track chk_nginx \(not in its agent config\)\); lb2 is the best eligible member/,
  },
  {
    name: "nobody holds it and the best node's agent does not run a track: the next one wins",
    unit: { tracks: ["chk_nginx:-20", "link:0"] },
    unreported: { lb1: ["link"] },
    winner: "lb2",
    rule: "initial-election",
  },
  {
    name: "no member's agent runs a track the group lists (coordinator config ahead of the agents'): nobody new, the reason names each; the holder is not told to go",
    holder: "lb1",
    unreported: { lb1: ["chk_nginx"], lb2: ["chk_nginx"] },
    winner: null,
    rule: "no-eligible",
    reason: /lb1's agent does not run track chk_nginx.*; lb2's agent does not run track chk_nginx/,
  },
  {
    name: "the holder is put in maintenance: holder-ineligible",
    holder: "lb1",
    views: { lb1: { maintenance: true } },
    winner: "lb2",
    rule: "holder-ineligible",
    reason: /maintenance/,
  },
  { name: "the holder's agent is stopping: holder-ineligible", holder: "lb1", views: { lb1: { leaving: true } }, winner: "lb2", rule: "holder-ineligible" },
  {
    name: "the holder's LAN reference is down while a peer's works: holder-ineligible",
    holder: "lb1",
    views: { lb1: { lanOk: false }, lb2: { lanOk: true } },
    winner: "lb2",
    rule: "holder-ineligible",
  },
  {
    name: "the holder is ineligible and nobody else is: nobody (the agent releases by itself)",
    holder: "lb1",
    views: { lb1: { fault: true }, lb2: { nginx: "down" } },
    winner: null,
    rule: "no-eligible",
  },
  { name: "a holder that is not a member (config changed) is ignored: initial election", holder: "lb9", winner: "lb1", rule: "initial-election" },

  // -- F11: holder alive but unreachable on the LAN
  {
    name: "F11: the only peer cannot reach the VIP reachFall times: holder-unreachable",
    holder: "lb1",
    views: { lb1: { lanOk: true }, lb2: { lanOk: true, ...cannotReach(3) } },
    winner: "lb2",
    rule: "holder-unreachable",
    reason: /1 of 1 peers cannot reach the VIP of VI_1 on lb1/,
  },
  {
    name: "F11: fewer failures than reachFall move nothing",
    holder: "lb1",
    views: { lb1: { lanOk: true }, lb2: { lanOk: true, ...cannotReach(2) } },
    winner: "lb1",
    rule: "kept-holder",
  },
  {
    name: "F11: a peer whose own LAN is down does not vote",
    holder: "lb1",
    views: { lb1: { lanOk: true }, lb2: { lanOk: true, ...cannotReach(9, false) } },
    winner: "lb1",
    rule: "kept-holder",
  },
  {
    name: "F11: 2 of 3 peers failing is a majority",
    unit: { members: ["lb1:100", "lb2:90", "lb3:80", "lb4:70"], tracks: [] },
    holder: "lb1",
    views: { lb1: { lanOk: true }, lb2: cannotReach(), lb3: cannotReach(), lb4: cannotReach(0) },
    winner: "lb2",
    rule: "holder-unreachable",
    reason: /2 of 3 peers/,
  },
  {
    name: "F11: 1 of 2 peers failing is not a majority",
    unit: three,
    holder: "lb1",
    views: { lb1: { lanOk: true }, lb2: cannotReach(), lb3: cannotReach(0) },
    winner: "lb1",
    rule: "kept-holder",
  },
  {
    name: "F11: a failing peer whose own LAN is down is left out of the count, so 1 failing of 1 voter is a majority",
    unit: three,
    holder: "lb1",
    views: { lb1: { lanOk: true }, lb2: cannotReach(), lb3: cannotReach(5, false) },
    winner: "lb2",
    rule: "holder-unreachable",
    reason: /1 of 1 peers/,
  },
  {
    name: "F11: with the LAN signal void (nobody reports lanOk), nobody is a witness: the holder stays",
    unit: three,
    holder: "lb1",
    views: { lb2: cannotReach(3, false), lb3: cannotReach(3, false) },
    winner: "lb1",
    rule: "kept-holder",
  },
  // -- the witness rule: a peer's silence counts only while it proves its own LAN on evidence as fresh
  {
    name: "witness: a peer whose LAN answer is older than its VIP verdict (lanOk, not fresh) does not vote: the holder stays",
    holder: "lb1",
    views: { lb1: { lanOk: true }, lb2: { lanOk: true, reach: reach("VI_1", 3, true, false) } },
    winner: "lb1",
    rule: "kept-holder",
  },
  {
    name: "witness: F17, the standby cut off the LAN reports its VIP silent before its LAN verdict: no move",
    holder: "lb1",
    views: { lb1: { lanOk: true }, lb2: { lanOk: true, reach: reach("VI_1", 9, true, false) } },
    winner: "lb1",
    rule: "kept-holder",
  },
  {
    name: "witness: F17, once the standby's LAN verdict arrives it is ineligible and still no witness",
    holder: "lb1",
    views: { lb1: { lanOk: true }, lb2: { lanOk: false, reach: reach("VI_1", 9, false, false) } },
    winner: "lb1",
    rule: "kept-holder",
  },
  {
    name: "witness: a fresh LAN answer makes the same silence a vote",
    holder: "lb1",
    views: { lb1: { lanOk: true }, lb2: { lanOk: true, reach: reach("VI_1", 3, true, true) } },
    winner: "lb2",
    rule: "holder-unreachable",
  },
  {
    name: "witness: the move goes to a proven witness, never to a better-ranked peer that cannot prove its LAN",
    unit: three,
    holder: "lb1",
    views: { lb1: { lanOk: true }, lb2: { lanOk: true, reach: reach("VI_1", 4, true, false) }, lb3: cannotReach() },
    winner: "lb3",
    rule: "holder-unreachable",
    reason: /1 of 1 peers .*moving to lb3/,
  },
  {
    name: "witness: a proven peer that still reaches the VIP outvotes nobody, but counts: 1 failing of 2 proven is no majority",
    unit: three,
    holder: "lb1",
    views: { lb1: { lanOk: true }, lb2: cannotReach(), lb3: { reach: reach("VI_1", 0, true, true) } },
    winner: "lb1",
    rule: "kept-holder",
  },
  {
    name: "witness: an unproven peer that still reaches the VIP is left out, so 1 proven failing of 1 is a majority",
    unit: three,
    holder: "lb1",
    views: { lb1: { lanOk: true }, lb2: cannotReach(), lb3: { reach: reach("VI_1", 0, true, false) } },
    winner: "lb2",
    rule: "holder-unreachable",
  },
  {
    name: "F11: a silent peer does not vote",
    unit: three,
    holder: "lb1",
    views: { lb1: { lanOk: true }, lb2: cannotReach(0), lb3: { session: "silent", ...cannotReach() } },
    winner: "lb1",
    rule: "kept-holder",
  },
  {
    name: "F11: a peer that sends no reach report does not count",
    unit: three,
    holder: "lb1",
    views: { lb1: { lanOk: true }, lb2: cannotReach() },
    winner: "lb2",
    rule: "holder-unreachable",
  },
  {
    name: "F11: the move goes to an eligible peer, never to an ineligible one that voted",
    unit: three,
    holder: "lb1",
    views: { lb1: { lanOk: true }, lb2: { maintenance: true, ...cannotReach() }, lb3: cannotReach() },
    winner: "lb3",
    rule: "holder-unreachable",
  },
  {
    name: "F11: nobody eligible to move to: the holder stays",
    holder: "lb1",
    views: { lb1: { lanOk: true }, lb2: { nginx: "down", ...cannotReach() } },
    winner: "lb1",
    rule: "kept-holder",
  },
  {
    name: "F11 wins over nopreempt: an unreachable holder is moved even without preempt",
    unit: { preempt: false },
    holder: "lb1",
    views: { lb2: cannotReach() },
    winner: "lb2",
    rule: "holder-unreachable",
  },
  {
    name: "F11: the holder's own failing reach report is no vote",
    holder: "lb1",
    views: { lb1: cannotReach(), lb2: cannotReach(0) },
    winner: "lb1",
    rule: "kept-holder",
  },

  // -- switchover
  {
    name: "switchover to an eligible lower-priority node moves there even with preempt on",
    holder: "lb1",
    switchoverTo: "lb2",
    winner: "lb2",
    rule: "switchover",
    reason: /operator switchover to lb2/,
  },
  { name: "switchover overrides nopreempt", unit: { preempt: false }, holder: "lb2", switchoverTo: "lb1", winner: "lb1", rule: "switchover" },
  {
    name: "switchover to an ineligible node is ignored",
    holder: "lb1",
    switchoverTo: "lb2",
    views: { lb2: { maintenance: true } },
    winner: "lb1",
    rule: "kept-holder",
  },
  { name: "switchover to the current holder changes nothing", holder: "lb1", switchoverTo: "lb1", winner: "lb1", rule: "kept-holder" },
  { name: "switchover to a node that is not a member is ignored", holder: "lb1", switchoverTo: "lb9", winner: "lb1", rule: "kept-holder" },
  { name: "switchover while nobody holds: the target wins over the best", holder: null, switchoverTo: "lb2", winner: "lb2", rule: "switchover" },
  {
    name: "switchover while the holder is lost is no shortcut: the target must verify first",
    holder: "lb1",
    views: { lb1: { session: "silent" } },
    switchoverTo: "lb2",
    unit: three,
    winner: "lb2",
    rule: "holder-lost",
  },
  {
    name: "switchover while the holder is lost names the target as the verifier, not the best",
    unit: three,
    holder: "lb1",
    views: { lb1: { session: "closed" } },
    switchoverTo: "lb3",
    winner: "lb3",
    rule: "holder-lost",
  },

  // -- members the planner skips (cooling down after a failed acquire)
  {
    name: "a skipped member is not chosen in an initial election: the next best is",
    holder: null,
    skip: ["lb1"],
    unit: three,
    winner: "lb2",
    rule: "initial-election",
  },
  { name: "a skipped member does not preempt", holder: "lb2", skip: ["lb1"], winner: "lb2", rule: "kept-holder" },
  { name: "a skipped holder still holds (skip only bars new holders)", holder: "lb1", skip: ["lb1"], winner: "lb1", rule: "kept-holder" },
  {
    name: "the holder is lost and the best candidate is skipped: the next best verifies",
    unit: three,
    holder: "lb1",
    views: { lb1: { session: "closed" } },
    skip: ["lb2"],
    winner: "lb3",
    rule: "holder-lost",
  },
  {
    name: "the holder is stopping and the only other eligible member is skipped: holder-ineligible with nobody yet, never 'no-eligible' (the handover waits)",
    holder: "lb1",
    views: { lb1: { leaving: true } },
    skip: ["lb2"],
    winner: null,
    rule: "holder-ineligible",
    reason: /lb2 may take over once/,
  },
  {
    name: "nobody holds and the only eligible member is skipped: no-eligible, and the reason names it",
    holder: null,
    views: { lb1: { fault: true } },
    skip: ["lb2"],
    winner: null,
    rule: "no-eligible",
    reason: /lb2 skipped for now/,
  },
  { name: "a skipped switchover target is not honoured for now", holder: "lb1", switchoverTo: "lb2", skip: ["lb2"], winner: "lb1", rule: "kept-holder" },
  {
    name: "a skipped member still votes in F11",
    holder: "lb1",
    unit: three,
    views: { lb2: cannotReach(), lb3: cannotReach() },
    skip: ["lb2"],
    winner: "lb3",
    rule: "holder-unreachable",
  },
];

for (const c of cases) {
  test(`elect: ${c.name}`, () => {
    const u = unit(c.unit);
    const vs = views(u, c.views);
    for (const [node, names] of Object.entries(c.unreported ?? {})) for (const t of names) delete vs.get(node)?.tracks[t];
    const input: ElectInput = {
      unit: u,
      views: vs,
      holder: c.holder === undefined ? null : c.holder,
      nowMs: c.nowMs ?? 1000,
      preemptSince: c.preemptSince,
      switchoverTo: c.switchoverTo,
      reachFall: 3,
    };
    if (c.skip) input.skip = c.skip;
    const e = elect(input);
    assert.equal(e.rule, c.rule, e.reason);
    assert.equal(e.winner, c.winner, e.reason);
    if (c.reason) assert.match(e.reason, c.reason);
    assert.deepEqual(e.preemptSince, c.preemptSinceOut);
    assert.equal(e.wakeAtMs, c.wakeAtMs);
    assert.deepEqual(e.ranking.map((r) => r.node).sort(), u.members.map((m) => m.node).sort(), "the ranking lists every member once");
  });
}

test("elect: the ranking is best first and explains every member", () => {
  const u = unit(three);
  const e = elect({ unit: u, views: views(u, { lb2: { fault: true } }), holder: null, nowMs: 0, reachFall: 3 });
  assert.deepEqual(
    e.ranking.map((r) => [r.node, r.effective, r.eligibility.eligible]),
    [
      ["lb1", 100, true],
      ["lb2", 90, false],
      ["lb3", 80, true],
    ],
  );
  assert.equal(e.ranking[1].eligibility.reason, "fault");
});

test("elect: the input is not mutated", () => {
  const u = unit();
  const v = views(u, { lb1: failing });
  const before = JSON.stringify({ u, v: [...v] });
  elect({ unit: u, views: v, holder: "lb1", nowMs: 0, preemptSince: { node: "lb2", sinceMs: 0 }, reachFall: 3 });
  assert.equal(JSON.stringify({ u, v: [...v] }), before);
});

// ---------------------------------------------------------------- total order under shuffling

interface OrderCase {
  name: string;
  members: string[];
  tracks?: string[];
  views?: Record<string, Partial<NodeView>>;
  /** Node → tracks of the unit its report does not name at all (its agent does not run them). */
  unreported?: Record<string, string[]>;
  holder?: string | null;
  winner: string | null;
}

const orderCases: OrderCase[] = [
  { name: "five nodes, all tied on priority: the highest address wins", members: ["lb1:100", "lb2:100", "lb3:100", "lb4:100", "lb5:100"], winner: "lb5" },
  {
    name: "five nodes tied on priority and address: the highest node id wins",
    members: ["a:100@198.18.0.50", "b:100@198.18.0.50", "c:100@198.18.0.50", "d:100@198.18.0.50", "e:100@198.18.0.50"],
    winner: "e",
  },
  {
    name: "ties reached through weights (100-20 = 90-10 = 80) still break by address",
    members: ["lb1:100", "lb2:90", "lb3:80"],
    tracks: ["a:-20", "b:-10"],
    views: { lb1: { tracks: { a: false } }, lb2: { tracks: { b: false } } },
    winner: "lb3",
  },
  {
    name: "mixed: two tied at the top, one FAULT above them",
    members: ["lb1:200", "lb2:150@198.18.0.9", "lb3:150@198.18.0.10", "lb4:100"],
    views: { lb1: { fault: true } },
    winner: "lb3",
  },
  {
    name: "a lost holder with tied candidates: the same verifier every time",
    members: ["lb1:100", "lb2:90", "lb3:90", "lb4:90"],
    views: { lb1: { session: "closed" } },
    holder: "lb1",
    winner: "lb4",
  },
];

for (const c of orderCases) {
  test(`elect, total order: ${c.name} — same winner and ranking over 300 seeded shuffles of members and view order`, () => {
    const base = unit({ members: c.members, tracks: c.tracks ?? [] });
    const reference = elect({ unit: base, views: views(base, c.views), holder: c.holder ?? null, nowMs: 0, reachFall: 3 });
    const rand = prng(c.name.length * 7919);
    for (let i = 0; i < 300; i++) {
      const u = { ...base, members: shuffle(base.members, rand) };
      const order = shuffle(
        base.members.map((m) => m.node),
        rand,
      );
      const e = elect({ unit: u, views: views(base, c.views, order), holder: c.holder ?? null, nowMs: 0, reachFall: 3 });
      assert.equal(e.winner, reference.winner, `shuffle ${i}: members ${u.members.map((m) => m.node)} views ${order}`);
      assert.equal(e.rule, reference.rule);
      assert.deepEqual(
        e.ranking.map((r) => r.node),
        reference.ranking.map((r) => r.node),
      );
    }
    assert.equal(reference.winner, c.winner, reference.reason);
  });
}
