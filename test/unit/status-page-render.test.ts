/**
 * The status page's markup: every string from the cluster escaped, nothing
 * fetched from anywhere but the coordinator itself, the inline CSS and script
 * allowed by hash only; who may read it; its config.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { Event, StatusReply } from "../../shared/gen/keepvip/v1/admin.js";
import { pageAccess } from "../../coordinator/status-page/access.js";
import { CONTENT_SECURITY_POLICY, pageDocument } from "../../coordinator/status-page/page.js";
import { esc, renderSections, timeTag } from "../../coordinator/status-page/render.js";
import { pageView } from "../../coordinator/status-page/view.js";
import { diffConfig } from "../../coordinator/cluster/reconfigure.js";
import { coordinatorConfigSchema, DEFAULT_STATUS_PAGE_LISTEN, INSECURE_LISTEN_ACK } from "../../shared/config/coordinator.js";
import { ConfigError, parseConfigText } from "../../shared/config/load.js";
import { fail, ok } from "../../shared/result.js";

const EVIL = `<script>alert("x")</script>`;

function evilStatus(): StatusReply {
  return {
    groups: [
      {
        name: EVIL,
        vips: [`198.18.0.100/24"><img src=x>`],
        holder: EVIL,
        epoch: 3,
        phase: "steady",
        reason: `because <b>${EVIL}</b>`,
        members: [
          {
            nodeId: EVIL,
            basePriority: 100,
            effectivePriority: 80,
            state: "MASTER",
            nginx: "running",
            reportAgeMs: 10,
            eligible: false,
            ineligibleReason: `track ${EVIL} failing`,
            connected: true,
            drainingConnections: -1,
            drainingMs: 0,
          },
        ],
        preempt: true,
        preemptDelayMs: 0,
      },
    ],
    upstreams: [
      {
        name: EVIL,
        balance: "round_robin",
        version: 2,
        servers: [{ address: EVIL, up: false, weight: 1, configWeight: 1, override: EVIL, seenBy: [{ nodeId: EVIL, up: false, detail: EVIL }] }],
        applied: [{ nodeId: EVIL, applied: 1, error: EVIL }],
      },
    ],
    coordinatorVersion: EVIL,
    uptimeMs: 1,
    insecure: true,
    replica: EVIL,
    term: 1,
  };
}

const evilEvents: Event[] = [
  {
    atMs: 1_700_000_000_000,
    kind: "move",
    group: EVIL,
    nodeId: EVIL,
    epoch: 3,
    message: `${EVIL} holds x (epoch 3), moved from ${EVIL}: ${EVIL}`,
    fields: { mode: EVIL },
  },
  { atMs: 1_700_000_000_500, kind: "agent", group: "", nodeId: "lb1", epoch: 0, message: `lb1: ${EVIL}`, fields: { kind: EVIL } },
  { atMs: 1_700_000_001_000, kind: "drill", group: "VI_1", nodeId: "", epoch: 0, message: EVIL, fields: { from_node: EVIL, to_node: EVIL, blackout_ms: "5" } },
];

test("esc escapes the five characters that matter in HTML text and attributes", () => {
  assert.equal(esc(`<a href="x" title='y'>&</a>`), "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;");
  assert.equal(esc(42), "42");
});

test("every string from the data is escaped: a group named <script> stays text", () => {
  const sections = renderSections(pageView({ kind: "status", status: evilStatus() }, evilEvents));
  for (const [name, html] of Object.entries(sections)) {
    assert.doesNotMatch(html, /<script/i, `${name} has no script tag`);
    assert.doesNotMatch(html, /<img/i, `${name} has no injected tag`);
    assert.doesNotMatch(html, /<b>/, `${name} has no injected markup`);
  }
  assert.match(sections.groups, /&lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt;/);
  assert.match(sections.upstreams, /&lt;script&gt;/);
  assert.match(sections.timeline, /&lt;script&gt;/);
  assert.match(sections.events, /&lt;script&gt;/);
  const doc = pageDocument(sections);
  // Exactly one script element: the page's own.
  assert.equal(doc.match(/<script/gi)?.length, 1);
});

test("the page fetches nothing from other hosts: no http(s) URL, no font, no CDN", () => {
  const doc = pageDocument(renderSections(pageView({ kind: "status", status: evilStatus() }, evilEvents)));
  assert.deepEqual(doc.match(/https?:\/\/[^\s"'<>)]+/gi) ?? [], []);
  assert.doesNotMatch(doc, /@import|@font-face|url\(/i);
  assert.doesNotMatch(doc, /<link[^>]+rel="stylesheet"/i);
  assert.doesNotMatch(doc, /src="(?!data:)/i);
  assert.match(doc, /<meta name="viewport" content="width=device-width, initial-scale=1">/, "sized for phones");
  assert.match(doc, /prefers-color-scheme:dark/, "a dark variant");
});

test("the Content-Security-Policy allows exactly the page's inline style and script, by hash", () => {
  const doc = pageDocument(renderSections(pageView({ kind: "status", status: evilStatus() }, [])));
  const script = /<script>([\s\S]*?)<\/script>/.exec(doc)?.[1] ?? "";
  const style = /<style>([\s\S]*?)<\/style>/.exec(doc)?.[1] ?? "";
  const hash = (t: string) => `'sha256-${createHash("sha256").update(t).digest("base64")}'`;
  assert.match(CONTENT_SECURITY_POLICY, new RegExp(`script-src ${hash(script).replace(/[+/]/g, "\\$&")}(;|$)`));
  assert.match(CONTENT_SECURITY_POLICY, new RegExp(`style-src ${hash(style).replace(/[+/]/g, "\\$&")}(;|$)`));
  assert.match(CONTENT_SECURITY_POLICY, /default-src 'none'/);
  assert.match(CONTENT_SECURITY_POLICY, /connect-src 'self'/);
  // Inline attributes would need 'unsafe-inline': the markup has none.
  assert.doesNotMatch(doc, /\sstyle=|\son[a-z]+=/i);
});

test("times are UTC in the markup with their milliseconds for the script", () => {
  assert.equal(timeTag(1_700_000_000_000), `<time datetime="2023-11-14T22:13:20.000Z" data-ms="1700000000000">22:13:20</time>`);
});

test("who reads the page: admins and readers; an agent certificate or one without identity is refused in words", () => {
  const id = (role: "admin" | "reader" | "agent", name: string) => ok({ role, name, fingerprint: "F" });
  assert.deepEqual(pageAccess(id("admin", "alice")), { ok: true, who: "admin alice" });
  assert.deepEqual(pageAccess(id("reader", "bob")), { ok: true, who: "reader bob" });
  const agent = pageAccess(id("agent", "lb1"));
  assert.equal(agent.ok, false);
  assert.equal(!agent.ok && agent.status, 403);
  assert.match(!agent.ok ? agent.message : "", /agent certificates \(lb1\) cannot read the status page; use an admin or read-only certificate/);
  const none = pageAccess(fail("unauthenticated", "the certificate carries no keepvip identity (SAN URI urn:keepvip:ROLE:NAME)"));
  assert.match(!none.ok ? none.message : "", /^status page refused: the certificate carries no keepvip identity/);
});

const cluster = (extra: string, insecure = true) => `
${insecure ? "insecure: true" : "tls: { ca: /etc/keepvip/pki/ca.crt, cert: /etc/keepvip/pki/coordinator.crt, key: /etc/keepvip/pki/coordinator.key }"}
groups:
  - name: VI_1
    vips: ["198.18.0.100/24"]
    service: { port: 10016 }
    members:
      - { node: lb1, priority: 100 }
${extra}`;

function problems(text: string): string[] {
  try {
    parseConfigText(coordinatorConfigSchema, text, "c.yaml");
    return [];
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems;
  }
}

test("config: status_page is off unless configured; listen defaults to loopback", () => {
  assert.equal(parseConfigText(coordinatorConfigSchema, cluster(""), "c.yaml").status_page, undefined);
  assert.deepEqual(parseConfigText(coordinatorConfigSchema, cluster("status_page: {}"), "c.yaml").status_page, { listen: DEFAULT_STATUS_PAGE_LISTEN });
  assert.deepEqual(parseConfigText(coordinatorConfigSchema, cluster(`status_page: { listen: "0.0.0.0:9742" }`, false), "c.yaml").status_page, {
    listen: "0.0.0.0:9742",
  });
});

test("config: status_page problems name the field", () => {
  const cases: Array<[string, string, RegExp | undefined]> = [
    ["insecure on loopback", `status_page: { listen: "127.0.0.1:9742" }`, undefined],
    ["insecure off loopback", `status_page: { listen: "0.0.0.0:9742" }`, /status_page\.listen: insecure: true serves the status page as plain HTTP/],
    ["insecure off loopback, acknowledged", `insecure_listen_ack: "${INSECURE_LISTEN_ACK}"\nstatus_page: { listen: "0.0.0.0:9742" }`, undefined],
    ["not host:port", `status_page: { listen: "9742" }`, /status_page\.listen: /],
    ["an unknown field", `status_page: { listen: "127.0.0.1:9742", port: 1 }`, /status_page: .*port/],
    [
      "the gRPC listener's address",
      `listen: "127.0.0.1:9742"\nstatus_page: { listen: "127.0.0.1:9742" }`,
      /status_page\.listen: 127\.0\.0\.1:9742 is also listen/,
    ],
    [
      "the metrics listener's address",
      `metrics: { listen: "127.0.0.1:9750" }\nstatus_page: { listen: "127.0.0.1:9750" }`,
      /status_page\.listen: 127\.0\.0\.1:9750 is also metrics\.listen/,
    ],
  ];
  for (const [name, extra, want] of cases) {
    const got = problems(cluster(extra));
    if (want === undefined) assert.deepEqual(got, [], name);
    else
      assert.ok(
        got.some((p) => want.test(p)),
        `${name}: ${got.join(" | ")}`,
      );
  }
});

test("config: a reload that adds, drops or moves the status page needs a restart", () => {
  const load = (extra: string) => parseConfigText(coordinatorConfigSchema, cluster(extra), "c.yaml");
  const cases: Array<[string, string, string, boolean]> = [
    ["unchanged", `status_page: {}`, `status_page: {}`, false],
    ["added", "", `status_page: {}`, true],
    ["dropped", `status_page: {}`, "", true],
    ["moved", `status_page: {}`, `status_page: { listen: "127.0.0.1:9800" }`, true],
  ];
  for (const [name, before, after, restart] of cases)
    assert.equal(diffConfig(load(before), load(after)).restartNeeded.includes("status_page.listen"), restart, name);
});
