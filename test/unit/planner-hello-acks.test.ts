/** acksInHello: a reconnecting agent's hello stands for the acquire ack its broken session lost. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { acksInHello, initialRuntime, type UnitRuntime } from "../../coordinator/election/planner.js";

const acquiring = (to: string, epoch: number): UnitRuntime => ({
  ...initialRuntime(epoch - 1, "lb2"),
  epoch,
  phase: { kind: "acquiring", to, from: null, epoch, sinceMs: 0, planned: false, acked: [], reason: "test" },
});
const unit = { groups: ["VI_1", "VI_2"] };

test("acksInHello: held VIPs under the acquire's epoch are its acks; anything else is not", () => {
  const cases: Array<{ name: string; rt: UnitRuntime; node: string; held: Array<{ group: string; epoch: number }>; acks: string[] }> = [
    {
      name: "the acquire's target says hello holding both groups under its epoch: both acked",
      rt: acquiring("lb1", 5),
      node: "lb1",
      held: [
        { group: "VI_1", epoch: 5 },
        { group: "VI_2", epoch: 5 },
      ],
      acks: ["lb1 VI_1 e5", "lb1 VI_2 e5"],
    },
    { name: "one group held so far: only that one", rt: acquiring("lb1", 5), node: "lb1", held: [{ group: "VI_1", epoch: 5 }], acks: ["lb1 VI_1 e5"] },
    {
      name: "held under an older epoch (the acquire never reached it): no ack",
      rt: acquiring("lb1", 5),
      node: "lb1",
      held: [{ group: "VI_1", epoch: 4 }],
      acks: [],
    },
    { name: "found on start (epoch 0): no ack", rt: acquiring("lb1", 5), node: "lb1", held: [{ group: "VI_1", epoch: 0 }], acks: [] },
    { name: "another node's hello: no ack", rt: acquiring("lb1", 5), node: "lb2", held: [{ group: "VI_1", epoch: 5 }], acks: [] },
    { name: "a group outside the unit: no ack", rt: acquiring("lb1", 5), node: "lb1", held: [{ group: "VI_9", epoch: 5 }], acks: [] },
    { name: "nothing being acquired: no ack", rt: { ...initialRuntime(5, "lb1"), holder: "lb1" }, node: "lb1", held: [{ group: "VI_1", epoch: 5 }], acks: [] },
    {
      name: "a group listed twice counts once",
      rt: acquiring("lb1", 5),
      node: "lb1",
      held: [
        { group: "VI_1", epoch: 5 },
        { group: "VI_1", epoch: 5 },
      ],
      acks: ["lb1 VI_1 e5"],
    },
  ];
  for (const c of cases) {
    const acks = acksInHello(c.rt, unit, c.node, c.held).map((e) => {
      assert.ok(e.type === "ack" && e.action === "acquire" && e.ok, c.name);
      return `${e.node} ${e.group} e${e.epoch}`;
    });
    assert.deepEqual(acks, c.acks, c.name);
  }
});
