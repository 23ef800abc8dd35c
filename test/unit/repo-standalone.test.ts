/**
 * The repository stands alone: no tracked file cites a document that lives
 * outside it or an issue-tracker number, and the design it relies on is in
 * docs/design.md with the sections comments point at. Also: every relative
 * link in the Markdown pages resolves, and the README keeps the test command
 * CI runs. Reads files only (git ls-files for the list).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Documents that exist only outside the repository. */
const OUTSIDE_DOC = /\b(?:DESIGN|STYLE|TOOLCHAIN)\.md\b/;
/** The word "issue" or "issues" followed by a number, with or without a hash. */
const ISSUE_WORD = /\bissues? #?\d+/i;
/**
 * "#12" as an issue reference: a hash right before digits, at the start of
 * the line or after a space or an opening bracket. Not "5336#5336" (nginx's
 * pid#tid), not "&#123;", not a URL fragment.
 */
const ISSUE_HASH = /(?:^|[\s([{,;])#\d+\b/;

/** What a line cites that the repo cannot resolve (empty: nothing). */
function citations(line: string): string[] {
  const found: string[] = [];
  for (const re of [OUTSIDE_DOC, ISSUE_WORD, ISSUE_HASH]) {
    const m = re.exec(line);
    if (m) found.push(m[0].trim());
  }
  return found;
}

/** Every citation in a text, as "path:line: what". */
function scan(path: string, text: string): string[] {
  const out: string[] = [];
  text.split("\n").forEach((line, i) => {
    for (const c of citations(line)) out.push(`${path}:${i + 1}: cites "${c}"`);
  });
  return out;
}

/** Tracked files that must stand alone: everything but the lock file and test fixtures. */
function trackedFiles(): string[] {
  const listed = execFileSync("git", ["ls-files", "-z"], { cwd: ROOT, encoding: "utf8" })
    .split("\0")
    .filter((f) => f !== "");
  return listed.filter((f) => f !== "package-lock.json" && !f.startsWith("test/fixtures/") && existsSync(join(ROOT, f)));
}

function readText(path: string): string | undefined {
  const buf = readFileSync(join(ROOT, path));
  return buf.subarray(0, 8000).includes(0) ? undefined : buf.toString("utf8");
}

// Built from parts so this file does not cite what it looks for.
const DOC = (name: string) => `${name}.md`;
const HASH = (n: number) => `#${n}`;
const ISSUE = (n: number) => `${"iss"}ue ${n}`;

test("the matcher finds outside documents and issue references", () => {
  const positives = [
    `see ${DOC("DESIGN")} for the rules`,
    `// (${DOC("STYLE")} 9)`,
    ` * pure-JS sd_notify (${DOC("TOOLCHAIN")}): we run`,
    `found by the fuzz, ${ISSUE(7)}`,
    `${ISSUE(5).replace("i", "I")} end to end`,
    `fixed in ${HASH(12)}`,
    `(${HASH(3)}) the flood`,
    `${HASH(42)} at the start of a line`,
    `the list in ${ISSUE(3)}'s description`,
  ];
  for (const s of positives) assert.notDeepEqual(citations(s), [], `should be flagged: ${s}`);
  const negatives = [
    "see docs/design.md, Invariants, 3",
    "design.md and style guides in general",
    '[emerg] 5336#5336: "pid" directive is duplicate',
    "&#123; is an HTML entity",
    "https://example.org/page#1",
    "# a shell comment with 3 words",
    "issued 3 certificates",
    "the tissue 3 times",
    "F11, invariant-free text, priority 1..254",
  ];
  for (const s of negatives) assert.deepEqual(citations(s), [], `should not be flagged: ${s}`);
});

test("scan names the file and the line of each citation", () => {
  const text = ["line one", `a ${DOC("DESIGN")} cite`, "line three", `and ${HASH(9)}`].join("\n");
  assert.deepEqual(scan("x/y.ts", text), [`x/y.ts:2: cites "${DOC("DESIGN")}"`, `x/y.ts:4: cites "${HASH(9)}"`]);
});

test("no tracked file cites a document outside the repo or an issue number", () => {
  const files = trackedFiles();
  // The list is real: it holds the files this check exists for, itself included.
  for (const f of ["README.md", "docs/design.md", "package.json", "test/unit/repo-standalone.test.ts"]) {
    assert.ok(files.includes(f), `git ls-files does not list ${f}`);
  }
  assert.ok(files.length > 100, `only ${files.length} tracked files`);
  const found = files.flatMap((f) => {
    const text = readText(f);
    return text === undefined ? [] : scan(f, text);
  });
  assert.deepEqual(found, [], `cite docs/design.md (or another page under docs/) instead:\n${found.join("\n")}`);
});

/** The text under a heading, up to the next heading of the same or a higher level. */
function section(md: string, heading: RegExp): string | undefined {
  const lines = md.split("\n");
  const start = lines.findIndex((l) => /^#{1,6} /.test(l) && heading.test(l));
  if (start < 0) return undefined;
  const level = /^#+/.exec(lines[start])![0].length;
  const end = lines.findIndex((l, i) => i > start && /^#+ /.test(l) && /^#+/.exec(l)![0].length <= level);
  return lines.slice(start + 1, end < 0 ? undefined : end).join("\n");
}

test("docs/design.md holds the sections the code points at", () => {
  const path = join(ROOT, "docs/design.md");
  assert.ok(existsSync(path), "docs/design.md is missing");
  const md = readFileSync(path, "utf8");
  const need = (name: string, heading: RegExp) => {
    const s = section(md, heading);
    assert.ok(s !== undefined && s.trim().length > 200, `docs/design.md lacks a section "${name}" with content`);
    return s;
  };
  const arch = need("Architecture", /^## Architecture$/);
  for (const layer of ["shared/", "agent/", "coordinator/", "cli/"]) assert.ok(arch.includes(`\`${layer}\``), `Architecture does not name the layer ${layer}`);
  const election = need("Election", /^## Election$/);
  for (const word of ["priority", "track", "preempt", "nopreempt", "epoch", "tie", "sync group"])
    assert.match(election, new RegExp(word, "i"), `Election does not cover ${word}`);
  const moves = need("Moves and safety", /^## Moves and safety$/);
  for (const word of ["make-before-break", "verif", "majority"]) assert.match(moves, new RegExp(word, "i"), `Moves and safety does not cover ${word}`);
  const witness = need("The witness rule", /witness rule/i);
  for (const word of ["lan_fresh", "cooldown", "never a witness"]) assert.match(witness, new RegExp(word, "i"), `the witness rule does not cover ${word}`);

  const inv = need("Invariants", /^## Invariants$/);
  const numbers = [...inv.matchAll(/^(\d+)\. /gm)].map((m) => Number(m[1]));
  assert.deepEqual(numbers, [1, 2, 3, 4, 5, 6, 7, 8], "Invariants are numbered 1 to 8, in order");
  assert.match(inv, /^8\. A fault on a standby never costs clients/m);

  const matrix = need("Fault matrix", /^## Fault matrix$/);
  const rows = new Map([...matrix.matchAll(/^\| (F\d+) \|(.*)$/gm)].map((m) => [m[1], m[2]]));
  for (const id of ["F1", "F2", "F3", "F4", "F5", "F6", "F7", "F8", "F9", "F10", "F11", "F17", "F18"]) {
    const row = rows.get(id);
    assert.ok(row !== undefined, `the fault matrix has no row ${id}`);
    const file = /`(test\/[\w/.-]+\.test\.ts)`/.exec(row)?.[1];
    assert.ok(file !== undefined, `row ${id} names no test file`);
    assert.ok(existsSync(join(ROOT, file)), `row ${id} names ${file}, which does not exist`);
  }
  need("Lab", /^## Lab$/);
});

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
function anchors(md: string): Set<string> {
  const out = new Set<string>();
  let fence = false;
  for (const line of md.split("\n")) {
    if (line.startsWith("```")) fence = !fence;
    const m = fence ? null : /^#{1,6} (.*)$/.exec(line);
    if (m)
      out.add(
        m[1]
          .trim()
          .toLowerCase()
          .replace(/[^\p{L}\p{N}\s_-]/gu, "")
          .replace(/\s/g, "-"),
      );
  }
  return out;
}

test("every relative link in the Markdown pages resolves", () => {
  const pages = trackedFiles().filter((f) => f.endsWith(".md"));
  assert.ok(pages.includes("docs/design.md") && pages.includes("README.md"));
  const broken: string[] = [];
  for (const page of pages) {
    const text = readFileSync(join(ROOT, page), "utf8");
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const link = m[1];
      if (/^[a-z]+:/i.test(link)) continue;
      const [path, anchor] = link.split("#");
      const target = path === "" ? page : normalize(join(dirname(page), path));
      if (!existsSync(join(ROOT, target))) broken.push(`${page}: ${link} (no ${target})`);
      else if (anchor !== undefined && target.endsWith(".md") && !anchors(readFileSync(join(ROOT, target), "utf8")).has(anchor))
        broken.push(`${page}: ${link} (no heading #${anchor} in ${target})`);
    }
  }
  assert.deepEqual(broken, []);
});

test("the README keeps the test command CI runs", () => {
  const ci = readFileSync(join(ROOT, ".ci/run"), "utf8");
  assert.match(ci, /^npm ci && npm test$/m);
  assert.match(readFileSync(join(ROOT, "README.md"), "utf8"), /^npm ci && npm test\b/m);
});
