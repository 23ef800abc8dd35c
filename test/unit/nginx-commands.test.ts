/**
 * Pure nginx planning: the child-mode command line (with or without a pid
 * directive in the conf), failure lines, and the restart back-off.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { externalTestCommand, nginxFailureReason, planChildCommands, topLevelDirectives } from "../../agent/nginx/commands.js";
import { restartDelay, toProtoNginxState } from "../../agent/nginx/restart-policy.js";
import { agentConfigSchema } from "../../shared/config/agent.js";
import { NginxState } from "../../shared/gen/keepvip/v1/agent.js";

function nginxConfig(nginx: Record<string, unknown> = {}) {
  return agentConfigSchema.parse({ node_id: "lb1", coordinator: "127.0.0.1:7400", insecure: true, groups: {}, nginx }).nginx;
}

const SEED_CONF = `user  nginx;
worker_processes  1;
error_log  /var/log/nginx/error.log warn;
pid        /var/run/nginx.pid;
events { worker_connections  1024; }
http {
    # pid inside a block is not a main directive
    include /etc/nginx/conf.d/*.conf;
}
`;

test("without a pid directive in the conf, -g carries daemon off and the pid file", () => {
  const plan = planChildCommands(
    nginxConfig({ prefix: "/srv/nginx", conf: "/srv/nginx/nginx.conf", pid_file: "/srv/nginx/nginx.pid" }),
    "events {}\nhttp {}\n",
  );
  assert.deepEqual(plan, {
    run: ["/usr/sbin/nginx", "-p", "/srv/nginx", "-c", "/srv/nginx/nginx.conf", "-g", "daemon off; pid /srv/nginx/nginx.pid;"],
    test: ["/usr/sbin/nginx", "-t", "-q", "-p", "/srv/nginx", "-c", "/srv/nginx/nginx.conf", "-g", "daemon off; pid /srv/nginx/nginx.pid;"],
  });
});

test("with the conf's own pid directive, -g carries only daemon off (nginx refuses a duplicate pid)", () => {
  const plan = planChildCommands(nginxConfig({ pid_file: "/var/run/nginx.pid" }), SEED_CONF);
  assert.ok(typeof plan !== "string");
  assert.deepEqual(plan.run, ["/usr/sbin/nginx", "-c", "/etc/nginx/nginx.conf", "-g", "daemon off;"]);
});

test("a conf pid that differs from pid_file is a config error naming both paths", () => {
  const plan = planChildCommands(nginxConfig({ pid_file: "/run/nginx.pid" }), SEED_CONF);
  assert.equal(
    plan,
    "nginx.pid_file (/run/nginx.pid) must match the pid directive in /etc/nginx/nginx.conf (/var/run/nginx.pid): the agent finds the master through that file",
  );
});

test("a relative pid in the conf is resolved against the prefix", () => {
  const ok = planChildCommands(nginxConfig({ prefix: "/srv/ng", pid_file: "/srv/ng/logs/nginx.pid" }), "pid logs/nginx.pid;\nevents {}\n");
  assert.ok(typeof ok !== "string");
});

test("top-level directives skip blocks, comments and quotes", () => {
  const text = `# pid /not/this;\nworker_processes 2; pid "/run/a b.pid";\nevents { pid nope; }\nhttp { server { listen 80; } }\ndaemon off;`;
  assert.deepEqual(topLevelDirectives(text), [
    { name: "worker_processes", args: ["2"] },
    { name: "pid", args: ["/run/a b.pid"] },
    { name: "daemon", args: ["off"] },
  ]);
});

test("external mode tests with test_command, else nginx -t on the configured conf", () => {
  assert.deepEqual(externalTestCommand(nginxConfig({ mode: "external", start_command: ["systemctl", "start", "nginx"] })), [
    "/usr/sbin/nginx",
    "-t",
    "-q",
    "-c",
    "/etc/nginx/nginx.conf",
  ]);
  assert.deepEqual(externalTestCommand(nginxConfig({ mode: "external", start_command: ["x"], test_command: ["/usr/sbin/nginx", "-t"] })), [
    "/usr/sbin/nginx",
    "-t",
  ]);
});

const reasons: Array<[string, string, string]> = [
  [
    "a bind failure",
    "nginx: [emerg] bind() to 0.0.0.0:10016 failed (98: Address already in use)\nnginx: [emerg] still could not bind()",
    "[emerg] bind() to 0.0.0.0:10016 failed (98: Address already in use)",
  ],
  [
    "nginx -t output",
    'nginx: [emerg] unknown directive "bogus" in /etc/nginx/nginx.conf:3\nnginx: configuration file /etc/nginx/nginx.conf test failed',
    '[emerg] unknown directive "bogus" in /etc/nginx/nginx.conf:3',
  ],
  [
    "an error-log style line",
    '2026/11/25 15:06:28 [emerg] 5336#5336: "pid" directive is duplicate in /x.conf:1',
    '[emerg] 5336#5336: "pid" directive is duplicate in /x.conf:1',
  ],
  ["no emerg line", "something odd\n", "something odd"],
];
for (const [name, output, expected] of reasons) {
  test(`the failure reason of ${name} is nginx's own line`, () => assert.equal(nginxFailureReason(output), expected));
}

const delays: Array<[string, number, number, number]> = [
  // [case, failures, random, expected ms] with initial 200, max 5000
  ["the first retry waits the initial delay (no jitter at 0.5)", 1, 0.5, 200],
  ["it doubles with each failure", 3, 0.5, 800],
  ["jitter spans 75 %..125 %", 2, 0, 300],
  ["jitter spans 75 %..125 % (top)", 2, 0.999999, 500],
  ["it stops at max", 10, 0.5, 5000],
  ["jitter never exceeds max", 10, 0.999999, 5000],
  ["a huge failure count does not overflow", 10_000, 0.5, 5000],
];
for (const [name, failures, random, expected] of delays) {
  test(`restart back-off: ${name}`, () =>
    assert.equal(
      restartDelay(failures, { initial: 200, max: 5000 }, () => random),
      expected,
    ));
}

test("states map onto the proto's NginxState", () => {
  assert.equal(toProtoNginxState("running"), NginxState.NGINX_STATE_RUNNING);
  assert.equal(toProtoNginxState("starting"), NginxState.NGINX_STATE_STARTING);
  assert.equal(toProtoNginxState("down"), NginxState.NGINX_STATE_DOWN);
  assert.equal(toProtoNginxState("stopped"), NginxState.NGINX_STATE_STOPPED);
});
