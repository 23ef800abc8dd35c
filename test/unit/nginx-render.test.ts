/**
 * renderUpstreams: golden files (test/fixtures/nginx/*.conf) for the seed's
 * my10016 upstream and every balance method, and the grammar that keeps
 * anything but a value out of the nginx file. KEEPVIP_UPDATE_GOLDEN=1 rewrites
 * the goldens (review the diff).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { renderUpstreams, UpstreamRenderError } from "../../agent/nginx/render.js";
import type { UpstreamConfig } from "../../shared/gen/keepvip/v1/agent.js";
import { GOLDEN_CASES, server } from "../fixtures/nginx/cases.js";

const FIXTURES = new URL("../fixtures/nginx/", import.meta.url);

for (const [file, config] of GOLDEN_CASES) {
  test(`renders ${file} exactly like the golden file`, () => {
    const got = renderUpstreams(config);
    const url = new URL(file, FIXTURES);
    if (process.env.KEEPVIP_UPDATE_GOLDEN === "1") writeFileSync(url, got);
    assert.equal(got, readFileSync(url, "utf8"));
  });
}

test("the header says keepvip wrote it, not to edit it, and which version", () => {
  const text = renderUpstreams(GOLDEN_CASES[0][1]);
  const header = text.split("\n").slice(0, 3).join("\n");
  assert.match(header, /^# Written by keepvip-agent\. Do not edit/);
  assert.match(header, /version 1\b/);
});

test("host names pass the grammar (nginx resolves them at load time)", () => {
  const c = structuredClone(GOLDEN_CASES[0][1]);
  c.upstreams[0].servers[0].address = "backend-1.lab:8080";
  assert.match(renderUpstreams(c), /^ {4}server backend-1\.lab:8080 max_fails=3 fail_timeout=30s;$/m);
});

// IPv6 servers: nginx wants the address bracketed ("server [2001:db8::21]:80"); bare, the
// last group would read as the port. parseHostPort takes IPv6 only bracketed, so a bare one
// is refused rather than written wrong.
const v6Lines: Array<[what: string, address: string, line: string]> = [
  ["a global IPv6 server", "[2001:db8::21]:80", "    server [2001:db8::21]:80 max_fails=3 fail_timeout=30s;"],
  ["IPv6 loopback", "[::1]:10016", "    server [::1]:10016 max_fails=3 fail_timeout=30s;"],
  ["a full-length IPv6 address", "[2001:db8:1:2:3:4:5:6]:8080", "    server [2001:db8:1:2:3:4:5:6]:8080 max_fails=3 fail_timeout=30s;"],
  ["an IPv6 address with an IPv4 tail", "[::ffff:198.18.0.21]:80", "    server [::ffff:198.18.0.21]:80 max_fails=3 fail_timeout=30s;"],
  ["an IPv4 server next to them", "198.18.0.21:80", "    server 198.18.0.21:80 max_fails=3 fail_timeout=30s;"],
];
for (const [what, address, line] of v6Lines) {
  test(`renders ${what} (${address}) as nginx reads it`, () => {
    const c = base();
    c.upstreams[0].servers[0].address = address;
    const lines = renderUpstreams(c).split("\n");
    assert.ok(lines.includes(line), `no line ${JSON.stringify(line)} in:\n${lines.join("\n")}`);
  });
}

test("an upstream of IPv4 and IPv6 servers renders each on its own line, in order", () => {
  const c = base();
  c.upstreams[0].servers = [server("198.18.0.21:80"), server("[2001:db8::21]:80", { weight: 2 }), server("[2001:db8::22]:80", { backup: true })];
  const block = renderUpstreams(c)
    .split("\n")
    .filter((l) => l.startsWith("    server "));
  assert.deepEqual(block, [
    "    server 198.18.0.21:80 max_fails=1 fail_timeout=10s;",
    "    server [2001:db8::21]:80 weight=2 max_fails=1 fail_timeout=10s;",
    "    server [2001:db8::22]:80 max_fails=1 fail_timeout=10s backup;",
  ]);
});

test("the same config renders the same bytes (the applier relies on it to skip re-sends)", () => {
  assert.equal(renderUpstreams(GOLDEN_CASES[1][1]), renderUpstreams(structuredClone(GOLDEN_CASES[1][1])));
});

const base = (): UpstreamConfig => structuredClone(GOLDEN_CASES[0][1]);

const refused: Array<[string, (c: UpstreamConfig) => void, RegExp]> = [
  ["a directive smuggled into the upstream name", (c) => (c.upstreams[0].name = "my10016 { } include /etc/shadow; upstream x"), /^upstreams\[0\]\.name: /],
  ["a newline in the upstream name", (c) => (c.upstreams[0].name = "a\nb"), /^upstreams\[0\]\.name: /],
  [
    "a semicolon after the address",
    (c) => (c.upstreams[0].servers[1].address = "192.168.177.176:10016; include /etc/passwd"),
    /^upstreams\[0\]\.servers\[1\]\.address: .* must be host:port/,
  ],
  ["a closing brace in the address", (c) => (c.upstreams[0].servers[0].address = "1.2.3.4:80}"), /^upstreams\[0\]\.servers\[0\]\.address: /],
  ["whitespace around the address", (c) => (c.upstreams[0].servers[0].address = " 1.2.3.4:80"), /^upstreams\[0\]\.servers\[0\]\.address: /],
  ["a quote in the address", (c) => (c.upstreams[0].servers[0].address = '"1.2.3.4:80"'), /^upstreams\[0\]\.servers\[0\]\.address: /],
  ["a unix socket (not a host:port)", (c) => (c.upstreams[0].servers[0].address = "unix:/run/app.sock"), /^upstreams\[0\]\.servers\[0\]\.address: /],
  ["port 0", (c) => (c.upstreams[0].servers[0].address = "1.2.3.4:0"), /^upstreams\[0\]\.servers\[0\]\.address: /],
  ["a brace in the hash key", (c) => Object.assign(c.upstreams[0], { balance: "hash", hashKey: "${remote_addr}" }), /^upstreams\[0\]\.hash_key: /],
  ["a space in the hash key", (c) => Object.assign(c.upstreams[0], { balance: "hash", hashKey: "$a consistent; include x" }), /^upstreams\[0\]\.hash_key: /],
  ["hash without a key", (c) => Object.assign(c.upstreams[0], { balance: "hash", hashKey: "" }), /^upstreams\[0\]\.hash_key: /],
  ["a hash key on another balance method", (c) => (c.upstreams[0].hashKey = "$remote_addr"), /^upstreams\[0\]\.hash_key: .*only used with balance "hash"/],
  ["an unknown balance method", (c) => (c.upstreams[0].balance = "random two"), /^upstreams\[0\]\.balance: "random two" must be one of/],
  ["a negative weight", (c) => (c.upstreams[0].servers[0].weight = -1), /^upstreams\[0\]\.servers\[0\]\.weight: must be an integer/],
  ["a fractional fail_timeout", (c) => (c.upstreams[0].servers[0].failTimeoutS = 1.5), /^upstreams\[0\]\.servers\[0\]\.fail_timeout_s: /],
  [
    "backup with ip_hash",
    (c) => Object.assign(c.upstreams[0], { balance: "ip_hash" }, { servers: [server("1.2.3.4:80", { backup: true })] }),
    /^upstreams\[0\]\.servers\[0\]\.backup: nginx does not allow backup/,
  ],
  ["an upstream without servers", (c) => (c.upstreams[0].servers = []), /^upstreams\[0\]\.servers: .*no servers/],
  [
    "a server listed twice",
    (c) => (c.upstreams[0].servers[1].address = c.upstreams[0].servers[0].address),
    /^upstreams\[0\]\.servers\[1\]\.address: .*listed twice/,
  ],
  [
    "a bare IPv6 server (no brackets)",
    (c) => (c.upstreams[0].servers[0].address = "2001:db8::21:80"),
    /^upstreams\[0\]\.servers\[0\]\.address: .*IPv6 as \[addr\]:port/,
  ],
  ["brackets around no IPv6 address", (c) => (c.upstreams[0].servers[0].address = "[198.18.0.21]:80"), /^upstreams\[0\]\.servers\[0\]\.address: /],
  ["an IPv6 server with a zone index", (c) => (c.upstreams[0].servers[0].address = "[fe80::1%eth0]:80"), /^upstreams\[0\]\.servers\[0\]\.address: /],
  [
    "one IPv6 server spelt two ways",
    (c) => {
      c.upstreams[0].servers[0].address = "[2001:DB8::0021]:80";
      c.upstreams[0].servers[1].address = "[2001:db8:0:0:0:0:0:21]:80";
    },
    /^upstreams\[0\]\.servers\[1\]\.address: server \[2001:db8:0:0:0:0:0:21\]:80 is listed twice/,
  ],
  ["two upstreams with one name", (c) => c.upstreams.push(structuredClone(c.upstreams[0])), /^upstreams\[1\]\.name: .*used twice/],
];
for (const [name, mutate, expected] of refused) {
  test(`refuses ${name}, naming the field`, () => {
    const c = base();
    mutate(c);
    assert.throws(
      () => renderUpstreams(c),
      (err: unknown) => {
        assert.ok(err instanceof UpstreamRenderError);
        assert.match(err.message, expected);
        return true;
      },
    );
  });
}

test("no refused value leaves a fragment of itself in any output", () => {
  // Belt and braces: whatever renders, no line holds two statements or stray braces.
  for (const [, config] of GOLDEN_CASES) {
    for (const line of renderUpstreams(config).split("\n")) {
      if (line.startsWith("#") || line === "") continue;
      assert.match(line, /^(upstream [A-Za-z0-9_.-]+ \{|\}| {4}[^;{}"'\s][^;{}"']*;)$/, line);
    }
  }
});
