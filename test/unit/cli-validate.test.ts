/**
 * `keepvip validate FILE...` with several files (cli/validate.ts): each file on
 * its own, then together; the summary line, the problems each once, the exit
 * code and the machine form. Files come from a table (the reader is passed in),
 * and the seed's examples from disk.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { guessKindOfText, validateCluster } from "../../cli/validate.js";

const COORDINATOR = `insecure: true
groups:
  - name: VI_1
    vips: ["198.18.0.100/24"]
    service: { port: 10016 }
    members:
      - { node: lb1, priority: 100 }
      - { node: lb2, priority: 90 }
    tracks:
      - { name: chk_nginx, weight: -20 }
`;

const agent = (node: string, tracks = 'tracks:\n  chk_nginx: { script: ["/bin/true"] }\n') => `node_id: ${node}
coordinator: "127.0.0.1:7400"
insecure: true
groups:
  VI_1: { interface: eth0 }
${tracks}`;

function reader(files: Record<string, string>) {
  return (f: string) => {
    if (!Object.hasOwn(files, f)) throw Object.assign(new Error(`ENOENT: ${f}`), { code: "ENOENT" });
    return files[f];
  };
}

const FILES = {
  "coordinator.yaml": COORDINATOR,
  "agent-lb1.yaml": agent("lb1"),
  "agent-lb2.yaml": agent("lb2"),
  "agent-lb2-notrack.yaml": agent("lb2", ""),
  "bad.yaml": "node_id: lb1\ncoordinator: nowhere\ninsecure: true\ngroups: {}\n",
  "other-coordinator.yaml": COORDINATOR,
  "dual-stack.yaml": COORDINATOR.replace('vips: ["198.18.0.100/24"]', 'vips: ["198.18.0.100/24", "2001:DB8::0100/64"]'),
  "two-spellings.yaml":
    `${COORDINATOR}  - name: VI_2\n    vips: ["2001:db8::100/64"]\n    service: { port: 10016 }\n    members: [{ node: lb1, priority: 100 }]\n`.replace(
      'vips: ["198.18.0.100/24"]',
      'vips: ["198.18.0.100/24", "2001:DB8::0100/64"]',
    ),
};

interface Case {
  name: string;
  files: string[];
  code: 0 | 1 | 2;
  /** The text form's lines, exactly or by pattern. */
  text: Array<string | RegExp>;
}

const cases: Case[] = [
  {
    name: "consistent: one summary line naming the files",
    files: ["coordinator.yaml", "agent-lb1.yaml", "agent-lb2.yaml"],
    code: 0,
    text: ["3 files: coordinator.yaml, agent-lb1.yaml, agent-lb2.yaml: consistent"],
  },
  {
    name: "a subset: consistent, with the member left out as a note",
    files: ["coordinator.yaml", "agent-lb2.yaml"],
    code: 0,
    text: [
      "2 files: coordinator.yaml, agent-lb2.yaml: consistent (1 note)",
      "  note: coordinator.yaml:7:9 groups[0].members[0]: lb1 is a member of VI_1, but no agent file for lb1 was given: its agent config is not checked",
    ],
  },
  {
    name: "the order of the files does not matter (the coordinator config is found by its fields)",
    files: ["agent-lb1.yaml", "agent-lb2.yaml", "coordinator.yaml"],
    code: 0,
    text: ["3 files: agent-lb1.yaml, agent-lb2.yaml, coordinator.yaml: consistent"],
  },
  {
    name: "a track an agent does not run: exit 1, the problem with both places",
    files: ["coordinator.yaml", "agent-lb1.yaml", "agent-lb2-notrack.yaml"],
    code: 1,
    text: [
      "3 files: coordinator.yaml, agent-lb1.yaml, agent-lb2-notrack.yaml: 1 problem",
      /^ {2}agent-lb2-notrack\.yaml:1:1 tracks: lb2's agent does not run track chk_nginx, which group VI_1 lists \(coordinator\.yaml:10:9 groups\[0\]\.tracks\[0\]\) and lb2 is a member of \(coordinator\.yaml:8:9 groups\[0\]\.members\[1\]\)/,
    ],
  },
  {
    name: "the same agent file twice: an error, the rest once",
    files: ["coordinator.yaml", "agent-lb1.yaml", "agent-lb2.yaml", "agent-lb1.yaml"],
    code: 1,
    text: [
      "4 files: coordinator.yaml, agent-lb1.yaml, agent-lb2.yaml, agent-lb1.yaml: 1 problem",
      "  agent-lb1.yaml:1:10 node_id: agent-lb1.yaml is given twice (node lb1)",
    ],
  },
  {
    name: "an invalid file: its problems as a single-file validate prints them; the files are not checked together",
    files: ["coordinator.yaml", "bad.yaml", "agent-lb2-notrack.yaml"],
    code: 1,
    text: [
      "3 files: coordinator.yaml, bad.yaml, agent-lb2-notrack.yaml: 1 file invalid (bad.yaml); the files were not checked together",
      /^ {2}bad\.yaml:2:14 coordinator: "nowhere" must be host:port/,
    ],
  },
  {
    name: "an unreadable file says so",
    files: ["coordinator.yaml", "missing.yaml"],
    code: 1,
    text: ["2 files: coordinator.yaml, missing.yaml: 1 file invalid (missing.yaml); the files were not checked together", "  cannot read missing.yaml: ENOENT"],
  },
  {
    name: "an invalid file given twice: its problems once",
    files: ["coordinator.yaml", "bad.yaml", "bad.yaml"],
    code: 1,
    text: [/: 2 files invalid \(bad\.yaml, bad\.yaml\)/, /^ {2}bad\.yaml:2:14 coordinator:/],
  },
  {
    name: "a dual-stack group (an IPv6 VIP next to the IPv4 one): consistent",
    files: ["dual-stack.yaml", "agent-lb1.yaml", "agent-lb2.yaml"],
    code: 0,
    text: ["3 files: dual-stack.yaml, agent-lb1.yaml, agent-lb2.yaml: consistent"],
  },
  {
    name: "one IPv6 VIP in two groups, spelt two ways: the coordinator config is invalid",
    files: ["two-spellings.yaml", "agent-lb1.yaml"],
    code: 1,
    text: [
      /: 1 file invalid \(two-spellings\.yaml\)/,
      /^ {2}two-spellings\.yaml:\d+:\d+ groups\[1\]\.vips\[0\]: VIP 2001:db8::100 is already in group "VI_1"$/,
    ],
  },
  {
    name: "no coordinator config: bad usage (exit 2)",
    files: ["agent-lb1.yaml", "agent-lb2.yaml"],
    code: 2,
    text: [/^2 files: agent-lb1\.yaml, agent-lb2\.yaml: no coordinator config among them/],
  },
  {
    name: "two coordinator configs: bad usage (exit 2)",
    files: ["coordinator.yaml", "other-coordinator.yaml", "agent-lb1.yaml"],
    code: 2,
    text: [/: 2 coordinator configs \(coordinator\.yaml, other-coordinator\.yaml\); check one coordinator config with its agents' configs/],
  },
];

for (const c of cases) {
  test(`validate several files: ${c.name}`, () => {
    const v = validateCluster(c.files, reader(FILES));
    const lines = v.text.split("\n");
    assert.equal(v.code, c.code, v.text);
    assert.equal(lines.length, c.text.length, v.text);
    c.text.forEach((want, i) => (typeof want === "string" ? assert.equal(lines[i], want) : assert.match(lines[i], want)));
    assert.equal(v.json.ok, c.code === 0);
    assert.equal(v.json.summary, lines[0]);
  });
}

test("validate several files: the machine form lists each file's kind and the structured problems", () => {
  const v = validateCluster(["coordinator.yaml", "agent-lb1.yaml", "agent-lb2-notrack.yaml"], reader(FILES));
  assert.deepEqual(
    v.json.files.map((f) => [f.file, f.kind, f.ok]),
    [
      ["coordinator.yaml", "coordinator", true],
      ["agent-lb1.yaml", "agent", true],
      ["agent-lb2-notrack.yaml", "agent", true],
    ],
  );
  assert.equal(v.json.problems.length, 1);
  const p = v.json.problems[0];
  assert.equal(p.severity, "error");
  assert.equal(p.check, "track-not-run");
  assert.deepEqual(p.at, { source: "agent-lb2-notrack.yaml", line: 1, col: 1, path: "tracks", keys: ["tracks"] });
  assert.deepEqual(p.also[0], { source: "coordinator.yaml", line: 10, col: 9, path: "groups[0].tracks[0]", keys: ["groups", 0, "tracks", 0] });
  assert.deepEqual(JSON.parse(JSON.stringify(v.json)), v.json, "plain JSON");
});

test("validate several files: the seed's examples, from disk, are consistent", () => {
  const files = ["deploy/examples/coordinator.yaml", "deploy/examples/agent-lb1.yaml", "deploy/examples/agent-lb2.yaml"];
  const v = validateCluster(files);
  assert.equal(v.code, 0, v.text);
  assert.equal(v.text, `3 files: ${files.join(", ")}: consistent`);
});

test("validate several files: the example of docs/configuration.md (the seed's lb2 with its track renamed)", () => {
  const disk = (f: string) => readFileSync(`deploy/examples/${f}`, "utf8");
  const files: Record<string, string> = {
    "coordinator.yaml": disk("coordinator.yaml"),
    "agent-lb1.yaml": disk("agent-lb1.yaml"),
    "agent-lb2.yaml": disk("agent-lb2.yaml").replace("chk_nginx:", "chk_ngnix:"),
  };
  const v = validateCluster(Object.keys(files), reader(files));
  assert.equal(v.code, 1);
  assert.deepEqual(v.text.split("\n"), [
    "3 files: coordinator.yaml, agent-lb1.yaml, agent-lb2.yaml: 1 problem, 1 note",
    "  agent-lb2.yaml:31:3 tracks: lb2's agent does not run track chk_nginx, which group VI_1 lists (coordinator.yaml:47:9 groups[0].tracks[0]) and lb2 is a member of (coordinator.yaml:42:9 groups[0].members[1]): the coordinator would hold lb2 ineligible; add tracks.chk_nginx to agent-lb2.yaml, or drop the track from the group",
    "  note: agent-lb2.yaml:32:5 tracks.chk_ngnix: lb2's agent runs track chk_ngnix, which no group of lb2 lists (VI_1): the coordinator ignores it",
  ]);
});

test("a config's kind: node_id at the top level makes it an agent's", () => {
  assert.equal(guessKindOfText(agent("lb1")), "agent");
  assert.equal(guessKindOfText(COORDINATOR), "coordinator");
  assert.equal(guessKindOfText("groups: []\n  node_id: x\n"), "coordinator");
});
