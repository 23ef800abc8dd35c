/**
 * The engine's per-event lookups (units.ts indexUnits): what a node's report touches is
 * exactly the units and groups that name it, as a scan of the whole config finds them.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildUnits, indexUnits } from "../../coordinator/cluster/units.js";
import { coordinatorConfigSchema } from "../../shared/config/coordinator.js";
import { parseConfigText } from "../../shared/config/load.js";

const cfg = parseConfigText(
  coordinatorConfigSchema,
  `
insecure: true
groups:
  - { name: A, vips: ["198.18.0.100/24"], service: { port: 80 }, members: [{ node: lb1, priority: 100 }, { node: lb2, priority: 90 }] }
  - { name: B, vips: ["198.18.0.101/24"], service: { port: 80 }, members: [{ node: lb1, priority: 100 }, { node: lb2, priority: 90 }] }
  - { name: C, vips: ["198.18.0.102/24"], service: { port: 80 }, members: [{ node: lb3, priority: 100 }, { node: lb4, priority: 90 }] }
  - { name: D, vips: ["198.18.0.103/24"], service: { port: 80 }, members: [{ node: lb2, priority: 100 }, { node: lb4, priority: 90 }] }
sync_groups:
  - { name: AB, groups: [A, B] }
upstreams:
  - { name: web, servers: [{ address: "198.18.0.21:80" }, { address: "[2001:db8::21]:80" }] }
`,
  "test.yaml",
);
const units = buildUnits(cfg);
const index = indexUnits(units, cfg);

test("indexUnits: each node's units and groups, each group's unit, by name, as scanning the config finds them", () => {
  const cases: Array<{ name: string; node: string; units: string[]; groups: string[] }> = [
    { name: "a node of a sync group has the sync unit once, and both its groups", node: "lb1", units: ["AB"], groups: ["A", "B"] },
    { name: "a node in a sync group and a plain group has both units, in unit order", node: "lb2", units: ["AB", "D"], groups: ["A", "B", "D"] },
    { name: "a node of one plain group", node: "lb3", units: ["C"], groups: ["C"] },
    { name: "a node of two plain groups", node: "lb4", units: ["C", "D"], groups: ["C", "D"] },
    { name: "a node no group names has nothing", node: "lb9", units: [], groups: [] },
  ];
  for (const c of cases) {
    assert.deepEqual(
      (index.unitsOfNode.get(c.node) ?? []).map((u) => u.name),
      c.units,
      c.name,
    );
    assert.deepEqual([...(index.groupsOfNode.get(c.node) ?? [])].sort(), c.groups, c.name);
    // Its welcome's group specs: the same groups' configs, in config order, as the scan it replaces.
    assert.deepEqual(
      index.groupConfigsOfNode.get(c.node) ?? [],
      cfg.groups.filter((g) => g.members.some((m) => m.node === c.node)),
      `${c.name} (group configs)`,
    );
    // The scans the index replaces agree with it.
    const scanned = units.filter((u) => u.members.some((m) => m.node === c.node)).map((u) => u.name);
    assert.deepEqual(scanned, c.units, `${c.name} (scan)`);
  }
  assert.deepEqual(
    ["A", "B", "C", "D", "X"].map((g) => index.byGroup.get(g)?.name),
    ["AB", "AB", "C", "D", undefined],
  );
  assert.deepEqual([...index.byName.keys()].sort(), ["AB", "C", "D"]);
  assert.equal(
    index.byName.get("AB"),
    units.find((u) => u.name === "AB"),
  );
  assert.deepEqual([...index.servers].sort(), ["web/198.18.0.21:80", "web/[2001:db8::21]:80"]);
});
