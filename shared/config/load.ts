/**
 * Reading a config file: YAML → schema → typed config, or a ConfigError whose
 * every line names the file, the line:column and the field path, e.g.
 *   coordinator.yaml:14:19 groups[0].members[1].priority: must be at most 254, got 300
 * Validation happens once, here at the edge; nothing else re-checks.
 */
import { readFileSync } from "node:fs";
import { LineCounter, parseDocument, isNode } from "yaml";
import type * as z from "zod";

export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`${source}: invalid config\n${problems.map((p) => `  ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/** `groups[0].members[1].priority` */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) {
    if (typeof p === "number") out += `[${p}]`;
    else out += out === "" ? String(p) : `.${String(p)}`;
  }
  return out === "" ? "(top level)" : out;
}

/** Parses YAML text and validates it; `source` names the file in messages. */
export function parseConfigText<S extends z.ZodType>(schema: S, text: string, source: string): z.output<S> {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      source,
      doc.errors.map((e) => {
        const pos = lines.linePos(e.pos[0]);
        return `${source}:${pos.line}:${pos.col} ${e.message.split("\n")[0]}`;
      }),
    );
  }
  let data: unknown;
  try {
    data = doc.toJS() ?? {};
  } catch (err) {
    // yaml throws (a ReferenceError) for an alias whose anchor is missing and for an alias bomb.
    throw new ConfigError(source, [`${source} ${oneLine((err as Error).message)}`]);
  }
  const result = schema.safeParse(data, { reportInput: true });
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const where = locate(doc, lines, issue.path);
    // Messages quote the input: a line break in a value must not start a line of its own.
    return `${source}${where} ${formatPath(issue.path)}: ${oneLine(describe(issue))}`;
  });
  throw new ConfigError(source, problems);
}

/**
 * For a program's start: the validated config, or the problems on stderr and
 * exit 1 (no stack trace, nothing touched).
 */
export function loadConfigOrExit<S extends z.ZodType>(schema: S, file: string): z.output<S> {
  try {
    return loadConfigFile(schema, file);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  }
}

/** Reads and validates a config file. */
export function loadConfigFile<S extends z.ZodType>(schema: S, file: string): z.output<S> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError(file, [`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`]);
  }
  return parseConfigText(schema, text, file);
}

/** A line and column, 1-based, as the messages print them. */
export interface TextPosition {
  line: number;
  col: number;
}

/**
 * Positions in a config's YAML text, for messages about a config that parsed:
 * `at(path)` is where the value at `path` (as formatPath names it, e.g.
 * `["groups", 0, "tracks", 1]`) starts, or its deepest parent that exists when it
 * does not (a default, a missing field), as parseConfigText reports single-file
 * problems. undefined only when nothing along the path has a position. Pure.
 */
export function yamlPositions(text: string): (path: readonly PropertyKey[]) => TextPosition | undefined {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  return (path) => position(doc, lines, path);
}

function position(doc: ReturnType<typeof parseDocument>, lines: LineCounter, path: readonly PropertyKey[]): TextPosition | undefined {
  // Walk up to the deepest node that exists (a missing field points at its parent).
  for (let n = path.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n) as unknown[], true);
    if (isNode(node) && node.range) return lines.linePos(node.range[0]);
  }
  return undefined;
}

function locate(doc: ReturnType<typeof parseDocument>, lines: LineCounter, path: readonly PropertyKey[]): string {
  const pos = position(doc, lines, path);
  return pos ? `:${pos.line}:${pos.col}` : "";
}

function oneLine(text: string): string {
  return text.replace(/\r/g, "\\r").replace(/\n/g, "\\n");
}

/** typeof, but arrays, null and non-finite numbers by name ("must be object, got array", "got Infinity"). */
function kindOf(value: unknown): string {
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  return Array.isArray(value) ? "array" : value === null ? "null" : typeof value;
}

function describe(issue: z.core.$ZodIssue): string {
  const got = (issue as { input?: unknown }).input;
  switch (issue.code) {
    case "invalid_type":
      return got === undefined ? `is required (${issue.expected})` : `must be ${issue.expected}, got ${kindOf(got)}`;
    case "unrecognized_keys":
      return `unknown field${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `"${k}"`).join(", ")}`;
    case "too_big":
      return `must be at most ${String(issue.maximum)}${got !== undefined && typeof got !== "object" ? `, got ${String(got)}` : ""}`;
    case "too_small":
      return issue.origin === "array"
        ? `needs at least ${String(issue.minimum)} entr${issue.minimum === 1 ? "y" : "ies"}`
        : `must be at least ${String(issue.minimum)}${got !== undefined && typeof got !== "object" ? `, got ${String(got)}` : ""}`;
    case "invalid_value":
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}${got !== undefined ? `, got ${JSON.stringify(got)}` : ""}`;
    default:
      return issue.message;
  }
}
