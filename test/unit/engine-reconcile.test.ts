/** Config reload, table-tested: what reconcileUnits tells the engine to do. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { diffConfig, reconcileUnits, runtimeFromState, type ReconcileAction } from "../../coordinator/cluster/reconfigure.js";
import { initialRuntime, type UnitRuntime } from "../../coordinator/election/planner.js";
import type { Unit } from "../../coordinator/cluster/units.js";
import { config, syncUnits, units } from "./engine-fixtures.js";

const held = (holder: string, epoch: number): UnitRuntime => ({ ...initialRuntime(epoch, holder), holder });
const noState = { epochs: {}, holders: {}, pins: {} };

/** An action in one line: "init VI_2 epoch 4 last lb2", "send lb1 acquire VI_1 e3 [..] ", "forget VI_2". */
function line(a: ReconcileAction): string {
  if (a.type === "init")
    return `init ${a.unit} epoch ${a.runtime.epoch} last ${a.runtime.lastHolder ?? "-"}${a.runtime.pinned ? ` pin ${a.runtime.pinned}` : ""}`;
  if (a.type === "forget") return `forget ${a.unit}`;
  const c = a.command;
  const extra = c.action === "release" ? ` after ${c.afterMs}` : c.action === "acquire" ? ` takeover ${c.takeover}` : "";
  return `send ${c.node} ${c.action} ${c.group} e${c.epoch} [${c.vips.join(" ")}]${extra}${c.action !== "verify" ? `: ${c.reason}` : ""}`;
}

interface Case {
  name: string;
  oldUnits: Unit[];
  units: Unit[];
  runtimes: Record<string, UnitRuntime>;
  state?: { epochs: Record<string, number>; holders: Record<string, string>; pins: Record<string, string> };
  want: string[];
}

const cases: Case[] = [
  { name: "nothing changed: nothing to do", oldUnits: units(["VI_1"]), units: units(["VI_1"]), runtimes: { VI_1: held("lb1", 3) }, want: [] },
  {
    name: "a new group starts from the persisted epoch, last holder and pin",
    oldUnits: units(["VI_1"]),
    units: units(["VI_1", "VI_2=198.18.0.200/24"]),
    runtimes: { VI_1: held("lb1", 3) },
    state: { epochs: { VI_2: 4 }, holders: { VI_2: "lb2" }, pins: { VI_2: "lb2" } },
    want: ["init VI_2 epoch 4 last lb2 pin lb2"],
  },
  {
    name: "a removed group's holder releases its VIPs at once; the unit is forgotten",
    oldUnits: units(["VI_1", "VI_2=198.18.0.200/24"]),
    units: units(["VI_1"]),
    runtimes: { VI_1: held("lb1", 3), VI_2: held("lb2", 5) },
    want: ["send lb2 release VI_2 e5 [198.18.0.200/24] after 0: VI_2 was removed from the config", "forget VI_2"],
  },
  {
    name: "a removed group nobody holds is only forgotten",
    oldUnits: units(["VI_1", "VI_2=198.18.0.200/24"]),
    units: units(["VI_1"]),
    runtimes: { VI_1: held("lb1", 3), VI_2: initialRuntime(5, null) },
    want: ["forget VI_2"],
  },
  {
    name: "a removed sync unit releases every one of its groups",
    oldUnits: syncUnits(),
    units: units(["VI_3=198.18.0.30/24"]),
    runtimes: { VI_1: held("lb1", 2) },
    want: [
      "init VI_3 epoch 0 last -",
      "send lb1 release VI_1 e2 [198.18.0.100/24] after 0: VI_1 was removed from the config",
      "send lb1 release VI_2 e2 [198.18.0.200/24] after 0: VI_1 was removed from the config",
      "forget VI_1",
    ],
  },
  {
    name: "an added VIP: the holder acquires the group's VIPs again, keeping its epoch",
    oldUnits: units(["VI_1=198.18.0.100/24"]),
    units: units(["VI_1=198.18.0.100/24,198.18.0.101/24"]),
    runtimes: { VI_1: held("lb1", 3) },
    want: ["send lb1 acquire VI_1 e3 [198.18.0.100/24 198.18.0.101/24] takeover false: VIPs changed in the config"],
  },
  {
    name: "a removed VIP: the holder acquires what stays, then releases what went",
    oldUnits: units(["VI_1=198.18.0.100/24,198.18.0.101/24"]),
    units: units(["VI_1=198.18.0.100/24"]),
    runtimes: { VI_1: held("lb1", 3) },
    want: [
      "send lb1 acquire VI_1 e3 [198.18.0.100/24] takeover false: VIPs changed in the config",
      "send lb1 release VI_1 e3 [198.18.0.101/24] after 0: VIPs removed from the config",
    ],
  },
  {
    name: "changed VIPs of a group nobody holds: nothing to send",
    oldUnits: units(["VI_1=198.18.0.100/24"]),
    units: units(["VI_1=198.18.0.101/24"]),
    runtimes: { VI_1: initialRuntime(3, "lb1") },
    want: [],
  },
  {
    name: "order: inits, then removals, then VIP changes",
    oldUnits: units(["VI_1=198.18.0.100/24", "VI_2=198.18.0.200/24"]),
    units: units(["VI_1=198.18.0.101/24", "VI_3=198.18.0.30/24"]),
    runtimes: { VI_1: held("lb1", 3), VI_2: held("lb2", 1) },
    want: [
      "init VI_3 epoch 0 last -",
      "send lb2 release VI_2 e1 [198.18.0.200/24] after 0: VI_2 was removed from the config",
      "forget VI_2",
      "send lb1 acquire VI_1 e3 [198.18.0.101/24] takeover false: VIPs changed in the config",
      "send lb1 release VI_1 e3 [198.18.0.100/24] after 0: VIPs removed from the config",
    ],
  },
];

for (const c of cases) {
  test(`reconcile: ${c.name}`, () => {
    const got = reconcileUnits({ oldUnits: c.oldUnits, units: c.units, runtimes: new Map(Object.entries(c.runtimes)), state: c.state ?? noState });
    assert.deepEqual(got.map(line), c.want);
  });
}

test("runtimeFromState: the highest epoch of a unit's groups", () => {
  const [unit] = syncUnits();
  const rt = runtimeFromState(unit, { epochs: { VI_1: 2, VI_2: 9 }, holders: { VI_1: "lb2" }, pins: {} });
  assert.equal(rt.epoch, 9);
  assert.equal(rt.lastHolder, "lb2");
  assert.equal(rt.holder, null, "a restarted coordinator holds nothing until the agents say so");
  assert.equal(rt.pinned, undefined);
});

test("diffConfig: IPv6 VIPs in the reload's words, compressed; respelling one is no change", () => {
  const before = config(["VI_1=198.18.0.100/24"]);
  assert.deepEqual(diffConfig(before, config(["VI_1=198.18.0.100/24,2001:DB8:0::0100/64"])).changes, [
    "VI_1: VIPs 198.18.0.100/24 → 198.18.0.100/24, 2001:db8::100/64",
  ]);
  const dual = config(["VI_1=198.18.0.100/24,2001:db8::100/64"]);
  assert.deepEqual(diffConfig(dual, config(["VI_1=198.18.0.100/24,2001:db8:0:0:0:0:0:100/64"])).changes, [], "another spelling of the same VIP");
  assert.deepEqual(diffConfig(dual, config(["VI_1=198.18.0.100/24", "VI_2=fd00::1"])).changes, [
    "VI_1: VIPs 198.18.0.100/24, 2001:db8::100/64 → 198.18.0.100/24",
    "group VI_2 added (fd00::1/128)",
  ]);
});
