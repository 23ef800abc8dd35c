/** When a stopping agent may go, table-tested. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { handoverVerdict, type LeaveReady } from "../../coordinator/cluster/handover.js";
import { initialRuntime, type UnitRuntime } from "../../coordinator/election/planner.js";
import { units } from "./engine-fixtures.js";

const two = units(["VI_1", "VI_2=198.18.0.200/24"]);
type Last = NonNullable<UnitRuntime["last"]>;
const rt = (holder: string | null, o: { rule?: Last["rule"]; moving?: boolean } = {}): UnitRuntime => ({
  ...initialRuntime(2, holder),
  holder,
  ...(o.rule ? { last: { rule: o.rule, winner: holder, reason: "" } as Last } : {}),
  ...(o.moving ? { phase: { kind: "acquiring", to: "lb2", from: holder, epoch: 3, sinceMs: 0, planned: true, acked: [], reason: "" } } : {}),
});

const cases: Array<{ name: string; left: string[]; holds: string[]; runtimes: Record<string, UnitRuntime>; want: LeaveReady | undefined }> = [
  {
    name: "held nothing: may go at once",
    left: [],
    holds: [],
    runtimes: { VI_1: rt("lb2"), VI_2: rt("lb2") },
    want: { handedOver: [], kept: [], detail: "handover complete" },
  },
  {
    name: "still holds a group that is moving: wait",
    left: ["VI_1"],
    holds: ["VI_1"],
    runtimes: { VI_1: rt("lb1", { moving: true }), VI_2: rt("lb2") },
    want: undefined,
  },
  {
    name: "still holds a group the election has not run for: wait",
    left: ["VI_1"],
    holds: ["VI_1"],
    runtimes: { VI_1: rt("lb1", { rule: "kept-holder" }), VI_2: rt("lb2") },
    want: undefined,
  },
  {
    name: "what it held moved away: handed over",
    left: ["VI_1", "VI_2"],
    holds: [],
    runtimes: { VI_1: rt("lb2"), VI_2: rt("lb2") },
    want: { handedOver: ["VI_1", "VI_2"], kept: [], detail: "handover complete" },
  },
  {
    name: "nobody else is eligible: kept, the rest handed over",
    left: ["VI_1", "VI_2"],
    holds: ["VI_2"],
    runtimes: { VI_1: rt("lb2"), VI_2: rt("lb1", { rule: "no-eligible" }) },
    want: { handedOver: ["VI_1"], kept: ["VI_2"], detail: "no other eligible member for VI_2" },
  },
  {
    name: "one kept, one still moving: wait",
    left: ["VI_1", "VI_2"],
    holds: ["VI_1", "VI_2"],
    runtimes: { VI_1: rt("lb1", { moving: true }), VI_2: rt("lb1", { rule: "no-eligible" }) },
    want: undefined,
  },
  {
    name: "no-eligible but another node is the holder: wait for the node's own release",
    left: ["VI_1"],
    holds: ["VI_1"],
    runtimes: { VI_1: rt("lb2", { rule: "no-eligible" }), VI_2: rt("lb2") },
    want: undefined,
  },
];

for (const c of cases) {
  test(`handover: ${c.name}`, () => {
    assert.deepEqual(
      handoverVerdict({ node: "lb1", leave: { groups: c.left }, holds: c.holds, units: two, runtimes: new Map(Object.entries(c.runtimes)) }),
      c.want,
    );
  });
}
