import { test } from "node:test";
import assert from "node:assert/strict";
import { RateLimiter } from "../../coordinator/cluster/rate-limiter.js";
import { sanitizeReport, MAX_TRACKS } from "../../coordinator/cluster/sanitize.js";
import type { Report } from "../../shared/gen/keepvip/v1/agent.js";

test("rate limiter: a burst passes, then one per refill interval, per key", () => {
  const r = new RateLimiter(3, 0.5);
  assert.deepEqual(
    [0, 0, 0].map(() => r.take("alice", 0)),
    [0, 0, 0],
  );
  assert.equal(r.take("alice", 0), 2000, "the fourth waits 2 s");
  assert.equal(r.take("bob", 0), 0, "another identity has its own bucket");
  assert.equal(r.take("alice", 1000), 1000);
  assert.equal(r.take("alice", 2000), 0, "refilled after 2 s");
});

test("sanitize: only the node's groups and the plan's servers survive; tracks and texts are bounded", () => {
  const r: Report = {
    nginx: 1,
    nginxDetail: "x".repeat(10_000),
    draining: [],
    fault: false,
    faultReason: "",
    upstreamVersion: 1,
    upstreamError: "",
    seq: 1,
    commandsReceived: 0,
    tracks: Array.from({ length: 200 }, (_, i) => ({ name: `t${i}`, passing: true, detail: "" })).concat([{ name: "bad name; rm", passing: true, detail: "" }]),
    held: [
      { group: "VI_1", address: "198.18.0.100/24", interface: "lan0", epoch: 1 },
      { group: "EVIL", address: "1.2.3.4/32", interface: "lan0", epoch: 9 },
    ],
    reach: [{ group: "EVIL", address: "", reachable: false, lanOk: true, lanFresh: true, observedMs: 0, consecutiveFailures: 9 }],
    probes: [
      { upstream: "u", server: "198.18.0.21:80", up: false, detail: "", latencyMs: 1 },
      { upstream: "u", server: "6.6.6.6:80", up: false, detail: "", latencyMs: 1 },
    ],
  };
  const s = sanitizeReport(r, { groups: new Set(["VI_1"]), servers: new Set(["u/198.18.0.21:80"]) });
  assert.equal(s.tracks.length, MAX_TRACKS);
  assert.ok(s.tracks.every((t) => /^t\d+$/.test(t.name)));
  assert.deepEqual(
    s.held.map((h) => h.group),
    ["VI_1"],
  );
  assert.equal(s.reach.length, 0);
  assert.deepEqual(
    s.probes.map((p) => p.server),
    ["198.18.0.21:80"],
  );
  assert.ok(s.nginxDetail.length <= 501);
});
