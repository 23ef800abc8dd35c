/**
 * Per-node upstream delivery against the real coordinator over real gRPC: a
 * stand-in agent that loses or refuses a push gets the current version again
 * on the same session, and its ack ends the resends. And a version the
 * coordinator could not persist is never sent.
 */
import { realScheduler } from "../../shared/scheduler.js";
import { afterEach, test } from "node:test";
import assert from "node:assert/strict";
import type { UpstreamConfig } from "../../shared/gen/keepvip/v1/agent.js";
import { coordinatorConfigSchema } from "../../shared/config/coordinator.js";
import { parseConfigText } from "../../shared/config/load.js";
import { silentLogger } from "../../shared/log.js";
import { UpstreamManager } from "../../coordinator/upstreams/manager.js";
import { RESEND, resendDelayMs } from "../../coordinator/upstreams/delivery.js";
import { StandinAgent } from "../support/standin-agent.js";
import { waitFor } from "../support/wait.js";
import { clusterYaml, removeDir, startCoordinator, type TestCoordinator } from "./helpers/coordinator.js";

let coord: TestCoordinator | undefined;
const agents: StandinAgent[] = [];

afterEach(async () => {
  for (const a of agents.splice(0)) a.destroy();
  await coord?.stop();
  if (coord) removeDir(coord.stateDir);
  coord = undefined;
});

function agent(node: string, upstreams: "apply" | "drop" | "refuse") {
  const a = new StandinAgent(coord!.address, { node, address: node === "lb1" ? "198.18.0.11" : "198.18.0.12", upstreams });
  agents.push(a);
  return a.connect();
}

const sessionOf = (node: string) => coord!.engine.nodes.sessionOf(node)?.id;
/** When the coordinator last sent lb1 a version (its own record, free of messages still on the wire). */
const lastSentAt = (node: string) => coord!.engine.upstreams.deliveryOf(node)?.lastSentAt;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * After the ack, no resend may follow. The resend that would have come next is
 * due at most resendDelayMs(3) = 800 ms after the last one; waiting 2 s gives a
 * loaded 2-core host 1.2 s of margin to show one if the ack were ignored.
 */
const QUIET_AFTER_ACK_MS = 2000;

test("a node that lost a push gets the current version again on the same session, until it acks", async () => {
  coord = await startCoordinator(clusterYaml({ upstreams: true, startupGrace: "0s" }));
  const current = coord.engine.upstreams.current().version;
  assert.ok(current > 0, "a version is published at startup");
  const lb1 = agent("lb1", "drop");
  const lb2 = agent("lb2", "apply");
  await waitFor(() => lb1.pushes().length >= 3, { what: "lb1 sent the version three times" });
  const session = sessionOf("lb1");
  assert.deepEqual(lb1.pushes().slice(0, 3), [current, current, current], "the same version each time");
  assert.equal(lb1.closedWith, undefined, "no reconnect");
  await waitFor(() => coord!.engine.upstreams.deliveryOf("lb2")?.acked === current, { what: "lb2 acks at once" });
  lb1.upstreams = "apply";
  await waitFor(() => coord!.engine.upstreams.applied.get("lb1")?.version === current, { what: "lb1 acks the current version" });
  assert.equal(sessionOf("lb1"), session, "the same session all along");
  assert.equal(coord.engine.upstreams.deliveryOf("lb1")?.unacked, 0, "the ack resets the back-off");
  const sentAt = [lastSentAt("lb1"), lastSentAt("lb2")];
  await sleep(QUIET_AFTER_ACK_MS);
  assert.deepEqual([lastSentAt("lb1"), lastSentAt("lb2")], sentAt, "no resend to either node after its ack");
  assert.ok([...lb1.pushes(), ...lb2.pushes()].every((v) => v === current));
});

test("a node that refuses a version (NACK) is retried with back-off, and applies it on a later resend", async () => {
  coord = await startCoordinator(clusterYaml({ upstreams: true, startupGrace: "0s" }));
  const current = coord.engine.upstreams.current().version;
  const lb1 = agent("lb1", "refuse");
  await waitFor(() => /standin refuses/.test(coord!.engine.upstreams.applied.get("lb1")?.error ?? ""), { what: "the NACK reaches the coordinator" });
  await waitFor(() => lb1.pushes().length >= 2, { what: "the refused version is sent again" });
  const session = sessionOf("lb1");
  lb1.upstreams = "apply";
  // The next resend comes after the doubled back-off; the default wait covers it.
  await waitFor(() => coord!.engine.upstreams.applied.get("lb1")?.version === current && coord!.engine.upstreams.applied.get("lb1")?.error === "", {
    what: "lb1 applies the resent version",
    timeoutMs: 3000 + resendDelayMs(3, RESEND),
  });
  assert.equal(sessionOf("lb1"), session, "no reconnect");
  assert.ok(
    lb1.pushes().every((v) => v === current),
    `only the current version: ${lb1.pushes().join(", ")}`,
  );
  const sentAt = lastSentAt("lb1");
  await sleep(QUIET_AFTER_ACK_MS);
  assert.equal(lastSentAt("lb1"), sentAt, "no resend after the ack");
  assert.equal(coord.engine.upstreams.deliveryOf("lb1")?.nacked, false, "the NACK is cleared");
});

test("a version that cannot be persisted is never sent; the previous one stays current and the change goes out once persisting works", async () => {
  const config = parseConfigText(coordinatorConfigSchema, clusterYaml({ upstreams: true }), "test.yaml");
  const sentTo: Array<[string, number]> = [];
  let failing = true;
  const persisted: number[] = [];
  const m = new UpstreamManager(
    config,
    7,
    {},
    {
      send: (node: string, c: UpstreamConfig) => (sentTo.push([node, c.version]), true),
      persist: async (version: number) => {
        if (failing) throw new Error("disk full");
        persisted.push(version);
      },
      event: () => undefined,
    },
    silentLogger,
    realScheduler,
    { firstMs: 20, maxMs: 100 },
  );
  try {
    await m.start();
    m.hello("lb1", 0);
    assert.equal(m.current().version, 0, "nothing published: the startup version was not persisted");
    assert.deepEqual(sentTo, [], "nothing sent");
    failing = false;
    await waitFor(() => m.current().version === 8, { what: "the retry persists version 8" });
    assert.deepEqual(persisted, [8], "the version number after the persisted counter, not a skipped one");
    await waitFor(() => sentTo.length === 1, { what: "lb1 gets it" });
    assert.deepEqual(sentTo, [["lb1", 8]]);
    m.report("lb1", [], 8, "");
    // A later change whose persist fails: agents stay on 8.
    failing = true;
    m.setOverride("my10016", "198.18.0.21:10016", "down");
    await sleep(50);
    assert.equal(m.current().version, 8, "the previous version stays current");
    assert.deepEqual(sentTo, [["lb1", 8]], "version 9 was not sent");
    assert.equal(m.status()[0].version, 8, "status shows what the agents converge to");
    failing = false;
    await waitFor(() => m.current().version === 9, { what: "version 9 once persisting works" });
    await waitFor(() => sentTo.length === 2, { what: "lb1 gets version 9" });
    assert.deepEqual(sentTo[1], ["lb1", 9]);
    assert.equal(m.current().upstreams[0].servers[0].down, true, "carrying the change");
  } finally {
    m.stop();
  }
});
