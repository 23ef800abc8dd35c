/**
 * How the coordinator words a session's end, over real gRPC: an agent that half-closes its
 * stream left; one whose call was cancelled (a crash) or whose connection was reset was lost.
 */
import { afterEach, test } from "node:test";
import assert from "node:assert/strict";
import { StandinAgent } from "../support/standin-agent.js";
import { TcpProxy } from "../support/tcp-proxy.js";
import { waitFor } from "../support/wait.js";
import { clusterYaml, removeDir, startCoordinator, type TestCoordinator } from "./helpers/coordinator.js";

let coord: TestCoordinator | undefined;
let proxy: TcpProxy | undefined;
const agents: StandinAgent[] = [];

afterEach(async () => {
  for (const a of agents.splice(0)) a.destroy();
  await proxy?.close();
  proxy = undefined;
  if (coord) {
    await coord.stop();
    removeDir(coord.stateDir);
  }
  coord = undefined;
});

const closes = () =>
  coord!.engine.events
    .all()
    .map((e) => e.message)
    .filter((m) => /^lb1 session closed/.test(m));

test("a session's end as the coordinator reports it: a half-close is the agent leaving; a cancelled call or a TCP reset is a stream reset", async () => {
  coord = await startCoordinator(clusterYaml({ startupGrace: "0s" }));
  proxy = await new TcpProxy(coord.address).listen();
  const cases: Array<{ name: string; via: "direct" | "proxy"; end: (a: StandinAgent) => void; how: RegExp }> = [
    { name: "the agent half-closes its stream", via: "direct", end: (a) => a.close(), how: /\(agent closed the session\)$/ },
    {
      name: "the agent's call is cancelled (a crash)",
      via: "direct",
      end: (a) => a.crash(),
      how: /\(stream reset: the agent's call was cancelled or its connection broke\)$/,
    },
    {
      name: "the connection is reset (TCP RST)",
      via: "proxy",
      end: () => proxy!.resetAll(),
      how: /\(stream reset: the agent's call was cancelled or its connection broke\)$/,
    },
  ];
  for (const c of cases) {
    const a = new StandinAgent(c.via === "proxy" ? proxy.address : coord.address, { node: "lb1", address: "198.18.0.11" }).connect();
    agents.push(a);
    await waitFor(() => coord!.engine.nodes.views.get("lb1")?.session === "live", { what: `lb1 in session (${c.name})` });
    const before = closes().length;
    c.end(a);
    await waitFor(() => closes().length > before, { what: `lb1's session closed (${c.name})` });
    assert.match(closes().at(-1)!, c.how, c.name);
    a.destroy();
  }
});
