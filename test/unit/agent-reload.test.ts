/** planReload: what an agent SIGHUP applies in place and what waits for a restart, as a table. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { planReload, withNotifyOf } from "../../agent/reload.js";
import { agentConfigSchema } from "../../shared/config/agent.js";
import { parseConfigText } from "../../shared/config/load.js";

const BASE = `
node_id: lb1
coordinator: "198.19.0.1:7400"
tls: { ca: /etc/keepvip/pki/ca.crt, cert: /etc/keepvip/pki/agent-lb1.crt, key: /etc/keepvip/pki/agent-lb1.key }
groups: { VI_1: { interface: lan0 } }
tracks:
  chk_nginx: { script: ["/etc/keepvip/nginx_check.sh"], interval: 2s }
notify: { master: ["/etc/keepvip/master.sh"] }
nginx: { mode: external, start_command: ["systemctl", "start", "nginx"], reload_command: ["/usr/sbin/nginx", "-s", "reload"] }
`;
const cfg = (text: string) => parseConfigText(agentConfigSchema, text, "agent.yaml");

test("planReload: tracks and notify apply in place, the tls files reload themselves, the rest waits for a restart", () => {
  const running = cfg(BASE);
  const cases: Array<[string, string, { apply: string[]; restart: string[] }]> = [
    ["nothing changed", BASE, { apply: [], restart: [] }],
    ["a track's interval", BASE.replace("interval: 2s", "interval: 500ms"), { apply: ["tracks"], restart: [] }],
    ["a track's script", BASE.replace('["/etc/keepvip/nginx_check.sh"]', '["/usr/local/bin/check", "--fast"]'), { apply: ["tracks"], restart: [] }],
    ["a notify script", BASE.replace("master.sh", "master2.sh"), { apply: ["notify"], restart: [] }],
    ["the tls paths", BASE.replace("agent-lb1.crt", "agent-lb1-2027.crt"), { apply: ["tls"], restart: [] }],
    ["a track added", BASE.replace("notify:", '  chk_disk: { script: ["/bin/true"] }\nnotify:'), { apply: [], restart: ["tracks (added: chk_disk)"] }],
    ["a track removed", BASE.replace(/tracks:\n.*\n/, ""), { apply: [], restart: ["tracks (removed: chk_nginx)"] }],
    ["the coordinator", BASE.replace("198.19.0.1", "198.19.0.2"), { apply: [], restart: ["coordinator"] }],
    ["a group's interface", BASE.replace("interface: lan0", "interface: lan1"), { apply: [], restart: ["groups"] }],
    ["nginx's reload command", BASE.replace('"-s", "reload"', '"-s", "reload", "-g", "daemon on;"'), { apply: ["nginx"], restart: [] }],
    ["nginx's restart back-off", BASE.replace("mode: external,", "mode: external, restart_backoff: { initial: 1s },"), { apply: ["nginx"], restart: [] }],
    [
      "nginx's pid file (it names the running nginx)",
      BASE.replace("mode: external,", "mode: external, pid_file: /run/other.pid,"),
      { apply: [], restart: ["nginx.pid_file"] },
    ],
    ["nginx's mode", BASE.replace("mode: external", "mode: child"), { apply: [], restart: ["nginx.mode"] }],
    [
      "tracks and the node id",
      BASE.replace("interval: 2s", "interval: 1s").replace("node_id: lb1", "node_id: lb3"),
      { apply: ["tracks"], restart: ["node_id"] },
    ],
  ];
  for (const [what, text, expected] of cases) {
    const plan = planReload(running, cfg(text));
    assert.deepEqual({ apply: [...plan.apply].sort(), restart: plan.restart }, { apply: [...expected.apply].sort(), restart: expected.restart }, what);
  }
});

test("planReload: a group's own notify scripts apply in place; where its VIPs go waits for a restart", () => {
  const withGroupNotify = BASE.replace(
    "groups: { VI_1: { interface: lan0 } }",
    "groups: { VI_1: { interface: lan0, notify: { master: [/etc/keepvip/vi1.sh] } } }",
  );
  const running = cfg(withGroupNotify);
  const cases: Array<[string, string, { apply: string[]; restart: string[] }]> = [
    ["nothing changed", withGroupNotify, { apply: [], restart: [] }],
    ["a group's notify script", withGroupNotify.replace("vi1.sh", "vi1-new.sh"), { apply: ["notify"], restart: [] }],
    ["a group's notify scripts removed", BASE, { apply: ["notify"], restart: [] }],
    [
      "a group's notify script and the node-wide one: notify once",
      withGroupNotify.replace("vi1.sh", "vi1-new.sh").replace("master.sh", "master2.sh"),
      { apply: ["notify"], restart: [] },
    ],
    [
      "a group's notify script and its interface",
      withGroupNotify.replace("vi1.sh", "vi1-new.sh").replace("interface: lan0", "interface: lan1"),
      { apply: ["notify"], restart: ["groups"] },
    ],
    [
      "an address override (where a VIP goes)",
      withGroupNotify.replace("interface: lan0,", "interface: lan0, addresses: { 10.0.1.1: { interface: eth1 } },"),
      { apply: [], restart: ["groups"] },
    ],
    [
      "a group added for its notify scripts alone (default_interface set: it binds as before)",
      `${withGroupNotify}default_interface: lan0\n`.replace(
        "notify: { master: [/etc/keepvip/vi1.sh] } } }",
        "notify: { master: [/etc/keepvip/vi1.sh] } }, VI_2: { notify: { any: [/etc/keepvip/vi2.sh] } } }",
      ),
      { apply: ["notify"], restart: ["default_interface"] },
    ],
    ["the interface tracks", `${withGroupNotify}interface_tracks: [eth1]\n`, { apply: [], restart: ["interface_tracks"] }],
  ];
  for (const [what, text, expected] of cases) {
    const plan = planReload(running, cfg(text));
    assert.deepEqual({ apply: [...plan.apply].sort(), restart: plan.restart }, { apply: [...expected.apply].sort(), restart: expected.restart }, what);
  }
});

test("withNotifyOf: after applying the notify scripts, the same file again is no change; what waits for a restart still does", () => {
  const running = cfg(BASE);
  const next = cfg(
    BASE.replace(
      "groups: { VI_1: { interface: lan0 } }",
      "groups: { VI_1: { interface: lan1, notify: { backup: [/b.sh] } }, VI_2: { interface: lan2, notify: { any: [/n.sh] } } }",
    ).replace("master.sh", "master2.sh"),
  );
  assert.deepEqual(planReload(running, next), { apply: ["notify"], restart: ["groups"] });
  const applied = withNotifyOf(running, next);
  assert.deepEqual(applied.notify, next.notify);
  assert.deepEqual(applied.groups, { VI_1: { interface: "lan0", notify: { backup: ["/b.sh"] } }, VI_2: { notify: { any: ["/n.sh"] } } });
  assert.deepEqual(planReload(applied, next), { apply: [], restart: ["groups"] }, "the interfaces still wait; the scripts are in place");
});
