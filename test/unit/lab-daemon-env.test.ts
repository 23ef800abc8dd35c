import { test } from "node:test";
import assert from "node:assert/strict";
import { daemonEnv } from "../../deploy/lab/daemon.js";

test("lab daemons get the caller's environment without NODE_EXTRA_CA_CERTS and NODE_OPTIONS (the units start them clean), the lab's own settings over it", () => {
  const caller = { PATH: "/usr/bin", NODE_EXTRA_CA_CERTS: "/etc/ssl/certs/ca-certificates.crt", NODE_OPTIONS: "--inspect", KEEPVIP_LOG_LEVEL: "debug" };
  assert.deepEqual(daemonEnv(caller, { KEEPVIP_LOG_LEVEL: "info" }), { PATH: "/usr/bin", KEEPVIP_LOG_LEVEL: "info" });
  assert.deepEqual(daemonEnv(caller), { PATH: "/usr/bin", KEEPVIP_LOG_LEVEL: "debug" });
  assert.equal(caller.NODE_OPTIONS, "--inspect", "the caller's own environment is left as it was");
});
