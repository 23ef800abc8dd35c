import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { AGENT_NODE_FLAGS } from "../../shared/node-flags.js";

test("the agent's bin carries its node flags, and the systemd unit starts the bin (the lab's argv: lab-configs test)", () => {
  const shebang = readFileSync(new URL("../../agent/main.ts", import.meta.url), "utf8").split("\n")[0];
  assert.equal(shebang, `#!/usr/bin/env -S node ${AGENT_NODE_FLAGS.join(" ")}`, "agent/main.ts's first line");
  const unit = readFileSync(new URL("../../deploy/systemd/keepvip-agent.service", import.meta.url), "utf8");
  assert.match(unit, /^ExecStart=\/usr\/local\/bin\/keepvip-agent /m, "the unit starts the bin itself, so its first line applies");
});
