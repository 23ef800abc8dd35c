/** Upstream decisions: health aggregation, desired state (overrides, slow start), versioned rate-limited publishing. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { aggregateHealth } from "../../coordinator/upstreams/health.js";
import { desiredUpstreams, failsOpen, slowStartWeight, serverKey } from "../../coordinator/upstreams/desired.js";
import { flush, initialPublisher, offer } from "../../coordinator/upstreams/publisher.js";
import { coordinatorConfigSchema } from "../../shared/config/coordinator.js";
import { parseConfigText } from "../../shared/config/load.js";
import type { Upstream } from "../../shared/gen/keepvip/v1/agent.js";

const obs = (...ups: boolean[]) => ups.map((up, i) => ({ node: `lb${i + 1}`, up, detail: up ? "" : "connect timeout" }));

const healthCases: Array<[string, boolean[], number, boolean]> = [
  ["all agents see it up", [true, true], 0.5, true],
  ["one of two failing is not a majority", [true, false], 0.5, true],
  ["both of two failing is a majority", [false, false], 0.5, false],
  ["two of three failing is a majority", [false, false, true], 0.5, false],
  ["one of three failing is not", [false, true, true], 0.5, true],
  ["down_share 0: any one agent marks it down", [true, false], 0, false],
  ["no report at all counts as up (passive checks still guard it)", [], 0.5, true],
];
for (const [name, ups, share, expected] of healthCases) {
  test(`health: ${name}`, () => {
    const h = aggregateHealth(obs(...ups), share);
    assert.equal(h.up, expected, h.reason);
    assert.equal(h.failing, ups.filter((u) => !u).length);
  });
}

test("health: the reason names the agents that see it fail", () => {
  assert.match(aggregateHealth(obs(false, false), 0.5).reason, /2 of 2 agents see it fail \(lb1: connect timeout; lb2: connect timeout\)/);
});

const cfg = parseConfigText(
  coordinatorConfigSchema,
  `
insecure: true
groups:
  - name: VI_1
    vips: ["198.18.0.100/24"]
    service: { port: 10016 }
    members: [{ node: lb1, priority: 100 }]
upstreams:
  - name: my10016
    balance: least_conn
    slow_start: 40s
    servers:
      - { address: "198.18.0.21:10016", weight: 8, max_fails: 3, fail_timeout: 30s }
      - { address: "198.18.0.22:10016", max_fails: 3, fail_timeout: 30s }
`,
  "t.yaml",
);
const A = "198.18.0.21:10016";
const B = "198.18.0.22:10016";

function desired(
  opts: {
    health?: Record<string, boolean>;
    overrides?: Record<string, { action: "drain" | "down" | "weight"; weight?: number }>;
    upSince?: Record<string, number>;
    now?: number;
  } = {},
) {
  const key = (s: string) => serverKey("my10016", s);
  return desiredUpstreams({
    upstreams: cfg.upstreams,
    health: new Map(Object.entries(opts.health ?? {}).map(([s, up]) => [key(s), up])),
    overrides: Object.fromEntries(Object.entries(opts.overrides ?? {}).map(([s, o]) => [key(s), o])),
    upSince: new Map(Object.entries(opts.upSince ?? {}).map(([s, t]) => [key(s), t])),
    nowMs: opts.now ?? 1_000_000,
  });
}
const server = (d: ReturnType<typeof desired>, addr: string) => d.upstreams[0].servers.find((s) => s.address === addr)!;

test("desired: the seed's upstream keeps config order, balance and passive-check settings", () => {
  const d = desired();
  assert.equal(d.upstreams[0].balance, "least_conn");
  assert.deepEqual(
    d.upstreams[0].servers.map((s) => [s.address, s.weight, s.maxFails, s.failTimeoutS, s.down]),
    [
      [A, 8, 3, 30, false],
      [B, 1, 3, 30, false],
    ],
  );
});

test("desired: an aggregated-down server is marked down, the other untouched", () => {
  const d = desired({ health: { [A]: false } });
  assert.equal(server(d, A).down, true);
  assert.equal(server(d, B).down, false);
});

test("desired: health never takes out every server: all seen down, all stay in (fail open), and the upstream is named", () => {
  const d = desired({ health: { [A]: false, [B]: false } });
  assert.deepEqual(
    d.upstreams[0].servers.map((s) => s.down),
    [false, false],
  );
  assert.deepEqual(d.failOpen, ["my10016"]);
  assert.deepEqual(desired({ health: { [A]: false } }).failOpen, [], "one server left: health decides");
});

test("desired: fail open counts only servers the operator left in service; a server the operator took out stays out", () => {
  // B drained, A seen down: nothing in service is healthy, so A stays in; B stays drained.
  const d = desired({ health: { [A]: false }, overrides: { [B]: { action: "drain" } } });
  assert.equal(server(d, A).down, false);
  assert.equal(server(d, B).down, true);
  assert.deepEqual(d.failOpen, ["my10016"]);
  // Both taken out by the operator: nothing in service, nothing to fail open.
  const out = desired({ health: { [A]: false }, overrides: { [A]: { action: "down" }, [B]: { action: "down" } } });
  assert.deepEqual(
    out.upstreams[0].servers.map((s) => s.down),
    [true, true],
  );
  assert.deepEqual(out.failOpen, []);
});

test("failsOpen: the rule, table-tested", () => {
  const cases: Array<[string, Array<{ inService: boolean; healthy: boolean }>, boolean]> = [
    ["no servers", [], false],
    ["all healthy", [{ inService: true, healthy: true }], false],
    ["the only one down", [{ inService: true, healthy: false }], true],
    [
      "one of two down",
      [
        { inService: true, healthy: false },
        { inService: true, healthy: true },
      ],
      false,
    ],
    [
      "the healthy one is out of service",
      [
        { inService: true, healthy: false },
        { inService: false, healthy: true },
      ],
      true,
    ],
    ["none in service", [{ inService: false, healthy: false }], false],
  ];
  for (const [what, servers, want] of cases) assert.equal(failsOpen(servers), want, what);
});

test("desired: overrides drain and down mark the server down; weight replaces the configured weight", () => {
  assert.equal(server(desired({ overrides: { [A]: { action: "drain" } } }), A).down, true);
  assert.equal(server(desired({ overrides: { [A]: { action: "down" } } }), A).down, true);
  assert.equal(server(desired({ overrides: { [B]: { action: "weight", weight: 5 } } }), B).weight, 5);
});

test("desired: slow start ramps a returning server in four steps and says when the next one is due", () => {
  const since = 1_000_000;
  const steps = [0, 9_999, 10_000, 20_000, 30_000, 39_999, 40_000].map((t) => desired({ upSince: { [A]: since }, now: since + t }));
  assert.deepEqual(
    steps.map((d) => server(d, A).weight),
    [2, 2, 4, 6, 8, 8, 8],
  );
  assert.equal(steps[0].wakeAtMs, since + 10_000);
  assert.equal(steps[6].wakeAtMs, undefined, "no wake-up once fully up");
  assert.equal(slowStartWeight(1, 40_000, since, since).weight, 1, "never below 1");
});

const ups = (w: number): Upstream[] => [
  {
    name: "u",
    balance: "round_robin",
    hashKey: "",
    hashConsistent: false,
    keepalive: 0,
    servers: [{ address: A, weight: w, maxFails: 1, failTimeoutS: 10, backup: false, down: false }],
  },
];

test("publisher: a change publishes a new version; the same state again publishes nothing", () => {
  const a = offer(initialPublisher(), ups(1), 0, 500);
  assert.equal(a.publish?.version, 1);
  const b = offer(a.state, ups(1), 1000, 500);
  assert.equal(b.publish, undefined);
  assert.equal(b.state.current.version, 1);
});

test("publisher: bursts within the interval are merged into one later publish carrying the newest state (nothing dropped)", () => {
  let s = offer(initialPublisher(), ups(1), 0, 500).state;
  const r1 = offer(s, ups(2), 100, 500);
  assert.equal(r1.publish, undefined);
  assert.equal(r1.retryAtMs, 500);
  const r2 = offer(r1.state, ups(3), 200, 500);
  assert.equal(r2.publish, undefined);
  const early = flush(r2.state, 400, 500);
  assert.equal(early.publish, undefined, "still rate-limited");
  const f = flush(early.state, 500, 500);
  assert.equal(f.publish?.version, 2);
  assert.equal(f.publish?.upstreams[0].servers[0].weight, 3, "the newest state wins");
  s = f.state;
  assert.equal(flush(s, 2000, 500).publish, undefined, "nothing left pending");
});

test("publisher: a flapping backend causes at most one publish per interval", () => {
  let s = initialPublisher();
  let publishes = 0;
  for (let t = 0; t <= 5000; t += 10) {
    const r = offer(s, ups(t % 20 === 0 ? 1 : 2), t, 500);
    s = r.state;
    if (r.publish) publishes++;
  }
  assert.ok(publishes <= 11, `${publishes} publishes in 5 s with a 500 ms limit`);
  assert.ok(publishes >= 10);
});

test("publisher: versions continue from the persisted counter after a restart", () => {
  const r = offer(initialPublisher(41), ups(1), 0, 500);
  assert.equal(r.publish?.version, 42);
});
