import { test } from "node:test";
import assert from "node:assert/strict";
import { NginxState } from "../../shared/gen/keepvip/v1/agent.js";
import { AGENT_EVENT_KINDS, DEFAULT_GARP, NGINX_STATES, nginxFromWire, nginxToWire, type NginxHealth } from "../../shared/protocol.js";
import { coordinatorConfigSchema } from "../../shared/config/coordinator.js";
import { parseConfigText } from "../../shared/config/load.js";
import { DEFAULT_GARP_SCHEDULE } from "../../agent/vip/plan.js";

const wire: Array<[NginxHealth, NginxState]> = [
  ["running", NginxState.NGINX_STATE_RUNNING],
  ["starting", NginxState.NGINX_STATE_STARTING],
  ["down", NginxState.NGINX_STATE_DOWN],
  ["stopped", NginxState.NGINX_STATE_STOPPED],
  ["unknown", NginxState.NGINX_STATE_UNSPECIFIED],
];
for (const [name, value] of wire) {
  test(`nginx state ${name} <-> ${NginxState[value]}`, () => {
    assert.equal(nginxToWire(name), value);
    assert.equal(nginxFromWire(value), name);
  });
}

test("an unrecognised nginx state on the wire reads as unknown; every reported state is listed once", () => {
  assert.equal(nginxFromWire(NginxState.UNRECOGNIZED), "unknown");
  assert.equal(nginxFromWire(99 as NginxState), "unknown");
  assert.deepEqual([...NGINX_STATES].sort(), ["down", "running", "starting", "stopped"]);
});

test("the agent event kinds are the forwarded VIP controller events, the drain's and vip.unconfirmed", () => {
  assert.deepEqual([...AGENT_EVENT_KINDS].sort(), [
    "vip.drain-ended",
    "vip.drain-started",
    "vip.drift-repair-failed",
    "vip.drift-repaired",
    "vip.forward-failed",
    "vip.forward-started",
    "vip.garp-failed",
    "vip.unconfirmed",
    "vip.unexpected",
    "vip.watch-failed",
  ]);
});

const GROUP = "groups: [{ name: VI_1, vips: [198.18.0.100/24], service: { port: 80 }, members: [{ node: lb1, priority: 100 }] }]\n";

test("the GARP default is one schedule: the coordinator's timing.garp and the agent's own default agree", () => {
  const cfg = parseConfigText(coordinatorConfigSchema, `insecure: true\n${GROUP}`, "c.yaml");
  assert.deepEqual(cfg.timing.garp, { delays: [0, 100, 300, 700], refresh: 0 });
  assert.deepEqual(cfg.timing.garp.delays, DEFAULT_GARP.burstMs);
  assert.deepEqual(DEFAULT_GARP_SCHEDULE, { burstMs: [0, 100, 300, 700], takeoverBurstMs: [0, 50, 100, 200, 300, 500, 700, 1000], refreshMs: 0 });
  const partial = parseConfigText(coordinatorConfigSchema, `insecure: true\n${GROUP}timing: { garp: { refresh: 1s } }\n`, "c.yaml");
  assert.deepEqual(partial.timing.garp, { delays: [0, 100, 300, 700], refresh: 1000 });
});
