/**
 * Status and `keepvip why` as data (coordinator/cluster/status.ts) and as the CLI
 * prints them (cli/format.ts): each member's state column and ineligible reason,
 * in particular a track the member's agent does not run at all ("track-missing")
 * as opposed to one it reports failing.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { initialRuntime, type UnitRuntime } from "../../coordinator/election/planner.js";
import type { NodeView } from "../../coordinator/election/view.js";
import { groupStatuses, StatusCache, statusReply, whyReply, type StatusInput } from "../../coordinator/cluster/status.js";
import { buildUnits } from "../../coordinator/cluster/units.js";
import { coordinatorConfigSchema } from "../../shared/config/coordinator.js";
import { parseConfigText } from "../../shared/config/load.js";
import { formatStatus, formatWhy } from "../../cli/format.js";
import { view } from "./election-fixtures.js";

const config = parseConfigText(
  coordinatorConfigSchema,
  `
insecure: true
groups:
  - name: VI_1
    vips: ["198.18.0.100/24"]
    service: { port: 10016 }
    members:
      - { node: lb1, priority: 100, address: 198.18.0.11 }
      - { node: lb2, priority: 90, address: 198.18.0.12 }
    tracks:
      - { name: chk_nginx, weight: -20 }
      - { name: chk_x, weight: 0 }
`,
  "c.yaml",
);
const units = buildUnits(config);

function input(holder: string | null, over: Record<string, Partial<NodeView>>, unreported: Record<string, string[]>): StatusInput {
  const u = units[0];
  const views = new Map(
    u.members.map((m) => {
      const v = view(m.node, u, over[m.node]);
      for (const t of unreported[m.node] ?? []) delete v.tracks[t];
      if (holder === m.node) v.holds = ["VI_1"];
      return [m.node, v];
    }),
  );
  const rt: UnitRuntime = { ...initialRuntime(3, holder), holder };
  return {
    units,
    runtimes: new Map([["VI_1", rt]]),
    views,
    lastReportMs: new Map(u.members.map((m) => [m.node, 900])),
    nowMs: 1000,
    reachFall: 3,
    startedMs: 0,
    version: "test",
    insecure: false,
  };
}

interface StatusCase {
  name: string;
  holder?: string | null;
  views?: Record<string, Partial<NodeView>>;
  /** Node → tracks its report does not name at all. */
  unreported?: Record<string, string[]>;
  /** Node → [state, ineligible reason ("" = eligible) or a pattern]. */
  members: Record<string, [string, string | RegExp]>;
  /** Node → a pattern one of its `why` inputs matches. */
  why?: Record<string, RegExp>;
}

const cases: StatusCase[] = [
  {
    name: "both healthy: MASTER and BACKUP, both eligible",
    holder: "lb1",
    members: { lb1: ["MASTER", ""], lb2: ["BACKUP", ""] },
    why: { lb2: /^track chk_x passing, weight 0$/ },
  },
  {
    name: "a weight-0 track reported failing: FAULT, and the reason says it fails",
    holder: "lb1",
    views: { lb2: { tracks: { chk_x: false } } },
    members: { lb1: ["MASTER", ""], lb2: ["FAULT", "track chk_x (weight 0) is failing"] },
    why: { lb2: /^track chk_x failing, weight 0$/ },
  },
  {
    name: "a weight-0 track the agent does not report at all: FAULT, and the reason says its agent does not run it",
    holder: "lb1",
    unreported: { lb2: ["chk_x"] },
    members: { lb1: ["MASTER", ""], lb2: ["FAULT", "lb2's agent does not run track chk_x (not in its agent config)"] },
    why: { lb2: /^track chk_x not run by lb2's agent \(not in its agent config; counted as failing\), weight 0$/ },
  },
  {
    name: "a weighted track the agent does not run: FAULT too, and why shows the weight it costs",
    holder: "lb1",
    unreported: { lb2: ["chk_nginx"] },
    members: { lb1: ["MASTER", ""], lb2: ["FAULT", /^lb2's agent does not run track chk_nginx \(not in its agent config\)$/] },
    why: { lb2: /^track chk_nginx not run by lb2's agent \(not in its agent config; counted as failing\), weight -20 → -20$/ },
  },
  {
    name: "both tracks missing: both named",
    holder: "lb1",
    unreported: { lb2: ["chk_nginx", "chk_x"] },
    members: { lb1: ["MASTER", ""], lb2: ["FAULT", "lb2's agent does not run tracks chk_nginx and chk_x (not in its agent config)"] },
  },
  {
    name: "the holder's agent does not run a track: still MASTER while it holds, the reason says why it should not",
    holder: "lb1",
    unreported: { lb1: ["chk_x"] },
    members: { lb1: ["MASTER", "lb1's agent does not run track chk_x (not in its agent config)"], lb2: ["BACKUP", ""] },
  },
  {
    name: "a disconnected member with a missing track shows DISCONNECTED (the session comes first)",
    holder: "lb1",
    views: { lb2: { session: "closed" } },
    unreported: { lb2: ["chk_x"] },
    members: { lb1: ["MASTER", ""], lb2: ["DISCONNECTED", "lb2 has no session"] },
  },
  {
    name: "maintenance with a missing track: MAINTENANCE (the pin shows), the reason names the mismatch",
    holder: "lb1",
    views: { lb2: { maintenance: true } },
    unreported: { lb2: ["chk_x"] },
    members: { lb1: ["MASTER", ""], lb2: ["MAINTENANCE", /does not run track chk_x/] },
  },
];

for (const c of cases) {
  test(`status: ${c.name}`, () => {
    const inp = input(c.holder ?? null, c.views ?? {}, c.unreported ?? {});
    const g = groupStatuses(inp)[0];
    for (const [node, [state, reason]] of Object.entries(c.members)) {
      const m = g.members.find((x) => x.nodeId === node);
      assert.ok(m, node);
      assert.equal(m.state, state, `${node} state`);
      if (typeof reason === "string") assert.equal(m.ineligibleReason, reason, `${node} reason`);
      else assert.match(m.ineligibleReason, reason, `${node} reason`);
      assert.equal(m.eligible, reason === "", `${node} eligible`);
    }
    const w = whyReply(inp, units[0], "VI_1");
    for (const [node, pattern] of Object.entries(c.why ?? {})) {
      const m = w.members.find((x) => x.nodeId === node)!;
      assert.ok(
        m.inputs.some((i) => pattern.test(i)),
        `${node} inputs: ${m.inputs.join(" | ")}`,
      );
    }
  });
}

test("status, as keepvip prints it: the FAULT row says the agent does not run the track; why says so per member", () => {
  const inp = input("lb1", {}, { lb2: ["chk_x"] });
  const text = formatStatus(statusReply(inp));
  const row = text.split("\n").find((l) => l.includes("lb2"));
  assert.ok(row, text);
  assert.match(row, /FAULT/);
  assert.match(text, /no: lb2's agent does not run track chk_x/);
  const why = formatWhy(whyReply(inp, units[0], "VI_1"));
  assert.match(why, /^lb2: not eligible \(lb2's agent does not run track chk_x \(not in its agent config\)\), effective priority 90$/m);
  assert.match(why, /^ {2}- track chk_x not run by lb2's agent/m);
});

test("status and why of a dual-stack group: the VIPs in configured order (IPv6 compressed), members with IPv6 addresses", () => {
  const dual = parseConfigText(
    coordinatorConfigSchema,
    `
insecure: true
groups:
  - name: VI_1
    vips: ["2001:DB8::0100/64", "198.18.0.100/24"]
    service: { port: 10016 }
    members:
      - { node: lb1, priority: 100, address: "fd00::11" }
      - { node: lb2, priority: 100, address: "fd00::9" }
`,
    "c.yaml",
  );
  const u = buildUnits(dual);
  const views = new Map(u[0].members.map((m) => [m.node, view(m.node, u[0])]));
  const inp: StatusInput = {
    units: u,
    runtimes: new Map([["VI_1", { ...initialRuntime(2, "lb1"), holder: "lb1" }]]),
    views,
    lastReportMs: new Map([
      ["lb1", 900],
      ["lb2", 900],
    ]),
    nowMs: 1000,
    reachFall: 3,
    startedMs: 0,
    version: "test",
    insecure: false,
  };
  const reply = statusReply(inp);
  assert.deepEqual(reply.groups[0].vips, ["2001:db8::100/64", "198.18.0.100/24"]);
  const text = formatStatus(reply);
  assert.match(text.split("\n")[0], /^VI_1 {2}VIP 2001:db8::100\/64, 198\.18\.0\.100\/24 {2}holder lb1 {2}epoch 2/);
  const why = formatWhy(whyReply(inp, u[0], "VI_1"));
  assert.match(why, /^VI_1: holder lb1, epoch 2$/m);
  assert.match(why, /^lb2: eligible, effective priority 100$/m);
});

test("status with a StatusCache: what it says equals the status built afresh, call after call; a changed view or holder is ranked again, report ages move with time", () => {
  const cache = new StatusCache();
  const plain = input("lb1", {}, {});
  const cached = { ...plain, cache };
  assert.deepEqual(groupStatuses(cached), groupStatuses(plain), "first call");
  const again = groupStatuses({ ...cached, nowMs: 1500 });
  assert.deepEqual(again, groupStatuses({ ...plain, nowMs: 1500 }), "a later call from the cache");
  assert.deepEqual(
    again[0].members.map((m) => m.reportAgeMs),
    [600, 600],
    "report ages as of the call, not as of the cached ranking",
  );
  // lb2's view is replaced (nginx down): it is ranked again.
  const views = new Map(plain.views);
  views.set("lb2", { ...views.get("lb2")!, nginx: "down" });
  const changed = groupStatuses({ ...cached, views });
  assert.deepEqual(changed, groupStatuses({ ...plain, views }));
  assert.equal(changed[0].members.find((m) => m.nodeId === "lb2")!.state, "FAULT");
  // The holder moved to lb2: states follow.
  const moved = { ...plain, views, runtimes: new Map([["VI_1", { ...plain.runtimes.get("VI_1")!, holder: "lb2" }]]) };
  assert.deepEqual(groupStatuses({ ...moved, cache }), groupStatuses(moved));
  assert.equal(groupStatuses({ ...moved, cache })[0].members.find((m) => m.nodeId === "lb2")!.state, "MASTER");
  // Drains are read at each call, whatever the cache holds.
  const draining = new Map([["lb1", [{ group: "VI_1", connections: 3, elapsedMs: 1200 }]]]);
  const drained = groupStatuses({ ...cached, draining });
  assert.deepEqual(drained, groupStatuses({ ...plain, draining }));
  assert.equal(drained[0].members.find((m) => m.nodeId === "lb1")!.drainingConnections, 3);
});
