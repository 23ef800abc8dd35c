/** sameView: which report changes wake a node's units, and which change nothing the election sees. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { blankView } from "../../coordinator/cluster/nodes.js";
import { sameView, type NodeView } from "../../coordinator/election/view.js";

const base: NodeView = {
  ...blankView("lb1"),
  session: "live",
  nginx: "running",
  tracks: { chk_nginx: true },
  holds: ["VI_1"],
  reach: { VI_1: { reachable: true, failures: 0, lanOk: true, lanFresh: true } },
  lanOk: true,
};

test("sameView: every field the election reads counts; an equal copy does not", () => {
  const reach = (patch: Partial<NodeView["reach"][string]>) => ({ reach: { VI_1: { ...base.reach.VI_1, ...patch } } });
  const cases: Array<{ name: string; patch: Partial<NodeView>; same: boolean }> = [
    { name: "an equal copy (a steady report)", patch: {}, same: true },
    { name: "a fresh but equal tracks object", patch: { tracks: { chk_nginx: true } }, same: true },
    { name: "the session turned silent", patch: { session: "silent" }, same: false },
    { name: "nginx down", patch: { nginx: "down" }, same: false },
    { name: "FAULT", patch: { fault: true }, same: false },
    { name: "another fault reason", patch: { faultReason: "link down" }, same: false },
    { name: "maintenance", patch: { maintenance: true }, same: false },
    { name: "leaving", patch: { leaving: true }, same: false },
    { name: "the LAN lost", patch: { lanOk: false }, same: false },
    { name: "LAN not reported any more", patch: { lanOk: undefined }, same: false },
    { name: "holds nothing", patch: { holds: [] }, same: false },
    { name: "holds another group", patch: { holds: ["VI_2"] }, same: false },
    { name: "a track failing", patch: { tracks: { chk_nginx: false } }, same: false },
    { name: "a track more", patch: { tracks: { chk_nginx: true, chk_disk: true } }, same: false },
    { name: "a track renamed", patch: { tracks: { chk_other: true } }, same: false },
    { name: "the VIP unreachable", patch: reach({ reachable: false }), same: false },
    { name: "one more failed probe", patch: reach({ failures: 1 }), same: false },
    { name: "reach: LAN not ok", patch: reach({ lanOk: false }), same: false },
    { name: "reach: LAN evidence not fresh", patch: reach({ lanFresh: false }), same: false },
    { name: "reach for another group", patch: { reach: { VI_2: base.reach.VI_1 } }, same: false },
    { name: "no reach any more", patch: { reach: {} }, same: false },
  ];
  for (const c of cases) {
    const other = { ...structuredClone(base), ...c.patch };
    assert.equal(sameView(base, other), c.same, c.name);
    assert.equal(sameView(other, base), c.same, `${c.name} (the other way round)`);
  }
});
