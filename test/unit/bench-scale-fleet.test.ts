/** bench:scale's fleet sends reports it encoded once, with only the seq added per heartbeat: the bytes must be what AgentMessage.encode makes. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { reportMessage } from "../../deploy/bench/scale-fleet.js";
import { AgentMessage, NginxState, Report } from "../../shared/gen/keepvip/v1/agent.js";

const report: Report = {
  nginx: NginxState.NGINX_STATE_RUNNING,
  nginxDetail: "",
  tracks: [],
  held: [{ group: "g00042", address: "10.0.0.42/32", interface: "lan0", epoch: 3 }],
  upstreamVersion: 7,
  upstreamError: "",
  probes: [],
  reach: [],
  fault: false,
  faultReason: "",
  seq: 0,
  commandsReceived: 0,
  draining: [],
};

test("fleet reports: the kept encoding plus a seq is the AgentMessage encode() makes, for small and large seqs and a large report", () => {
  const big: Report = { ...report, nginxDetail: "x".repeat(300) };
  for (const r of [report, big])
    for (const seq of [0, 1, 127, 128, 300, 16_383, 16_384, 2 ** 31, 2 ** 40]) {
      const kept = Report.encode({ ...r, seq: 0 }).finish();
      const expected = AgentMessage.encode({ body: { $case: "report", value: { ...r, seq } } }).finish();
      assert.deepEqual(new Uint8Array(reportMessage(kept, seq)), expected, `seq ${seq}`);
      assert.deepEqual(AgentMessage.decode(reportMessage(kept, seq)).body, { $case: "report", value: { ...r, seq } });
    }
});
