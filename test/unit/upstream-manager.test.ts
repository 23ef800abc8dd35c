/** The upstream manager's timers under a ManualScheduler: merged pushes and slow start, without sleeping. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { UpstreamManager } from "../../coordinator/upstreams/manager.js";
import { coordinatorConfigSchema } from "../../shared/config/coordinator.js";
import { parseConfigText } from "../../shared/config/load.js";
import type { UpstreamConfig } from "../../shared/gen/keepvip/v1/agent.js";
import { silentLogger } from "../../shared/log.js";
import { ManualScheduler } from "../support/manual-scheduler.js";

const cfg = parseConfigText(
  coordinatorConfigSchema,
  `
insecure: true
timing: { reload_min_interval: 500ms }
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

async function manager() {
  const scheduler = new ManualScheduler();
  const pushed: UpstreamConfig[] = [];
  const events: string[] = [];
  // One agent, lb1; a version it was sent again (not acked yet) is recorded once.
  const send = (_node: string, c: UpstreamConfig) => {
    if (pushed.at(-1)?.version !== c.version) pushed.push(c);
    return true;
  };
  const m = new UpstreamManager(cfg, 0, {}, { send, persist: async () => {}, event: (_kind, message) => void events.push(message) }, silentLogger, scheduler);
  void m.start();
  await scheduler.advance(0);
  m.hello("lb1", 0);
  return { m, scheduler, pushed, events };
}

const weightOf = (c: UpstreamConfig | undefined, server: string) => c?.upstreams[0].servers.find((s) => s.address === server)?.weight;

test("upstream manager: changes inside reload_min_interval are merged into one push when the interval ends", async () => {
  const { m, scheduler, pushed } = await manager();
  assert.deepEqual(
    pushed.map((c) => c.version),
    [1],
    "the startup push",
  );
  m.report("lb1", [{ upstream: "my10016", server: A, up: false, detail: "refused", latencyMs: 0 }], 1, "");
  await scheduler.advance(499);
  assert.deepEqual(
    pushed.map((c) => c.version),
    [1],
    "held back inside the interval",
  );
  await scheduler.advance(1);
  assert.deepEqual(
    pushed.map((c) => c.version),
    [1, 2],
    "pushed when the interval ends",
  );
  m.stop();
});

test("upstream manager: a recovered server ramps up its weight on the scheduler's clock (slow start)", async () => {
  const { m, scheduler, pushed } = await manager();
  m.report("lb1", [{ upstream: "my10016", server: A, up: false, detail: "refused", latencyMs: 0 }], 1, "");
  await scheduler.advance(1_000);
  const down = pushed.at(-1);
  m.report("lb1", [{ upstream: "my10016", server: A, up: true, detail: "", latencyMs: 0 }], down!.version, "");
  await scheduler.advance(1_000);
  const rampStart = weightOf(pushed.at(-1), A)!;
  assert.ok(rampStart < 8, `starts below its weight (${rampStart})`);
  await scheduler.advance(40_000);
  assert.equal(weightOf(pushed.at(-1), A), 8, "full weight once slow start is over");
  m.stop();
});

test("upstream manager: every server seen down keeps them all in and says so once; one back up ends it", async () => {
  const { m, scheduler, pushed, events } = await manager();
  const B = "198.18.0.22:10016";
  const probe = (server: string, up: boolean) => ({ upstream: "my10016", server, up, detail: up ? "" : "timeout", latencyMs: 0 });
  m.report("lb1", [probe(A, false), probe(B, true)], 1, "");
  await scheduler.advance(1000);
  assert.deepEqual(
    pushed.at(-1)?.upstreams[0].servers.map((s) => s.down),
    [true, false],
    "one of two down: health decides",
  );
  m.report("lb1", [probe(A, false), probe(B, false)], pushed.at(-1)!.version, "");
  m.report("lb1", [probe(A, false), probe(B, false)], pushed.at(-1)!.version, "");
  await scheduler.advance(1000);
  assert.deepEqual(
    pushed.at(-1)?.upstreams[0].servers.map((s) => s.down),
    [false, false],
    "both down: both kept in",
  );
  assert.equal(events.filter((e) => /fail open:/.test(e)).length, 1, events.join("\n"));
  m.report("lb1", [probe(A, false), probe(B, true)], pushed.at(-1)!.version, "");
  await scheduler.advance(1000);
  assert.deepEqual(
    pushed.at(-1)?.upstreams[0].servers.map((s) => s.down),
    [true, false],
  );
  assert.ok(
    events.some((e) => /fail open over/.test(e)),
    events.join("\n"),
  );
  m.stop();
});
