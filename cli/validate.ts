/**
 * `keepvip validate FILE...` with several files: each file on its own (the
 * schema, as at a start), then, when all are valid, one coordinator config and
 * the agent configs together (shared/config/cluster.ts). Returns what to print
 * and the exit code; main.ts prints it. Reads the files, nothing else.
 */
import { readFileSync } from "node:fs";
import { agentConfigSchema, type AgentConfig } from "../shared/config/agent.js";
import { crossCheck, formatProblem, type ClusterFile, type ClusterProblem } from "../shared/config/cluster.js";
import { coordinatorConfigSchema, type CoordinatorConfig } from "../shared/config/coordinator.js";
import { ConfigError, parseConfigText } from "../shared/config/load.js";

export type ConfigKind = "coordinator" | "agent";

/** An agent config names its node (`node_id:` at the top level); anything else is taken for a coordinator config. */
export function guessKindOfText(text: string): ConfigKind {
  return /^node_id\s*:/m.test(text) ? "agent" : "coordinator";
}

export interface FileVerdict {
  file: string;
  /** undefined: the file could not be read. */
  kind?: ConfigKind;
  ok: boolean;
  /** `file:line:col path: message`, as a single-file validate prints them. */
  problems: string[];
}

export interface ClusterVerdict {
  /** 0 consistent (notes allowed), 1 a file is invalid or the files disagree, 2 not one coordinator config among them. */
  code: 0 | 1 | 2;
  /** The machine form (`--json`). */
  json: {
    ok: boolean;
    summary: string;
    files: FileVerdict[];
    /** The cross-checks' findings, errors first; empty when a file is invalid (they are not run). */
    problems: ClusterProblem[];
  };
  /** The text form: the summary line, then one indented line per problem and note. */
  text: string;
}

/** Validates the files one by one and, when every one is valid, together. */
export function validateCluster(files: readonly string[], read: (file: string) => string = (f) => readFileSync(f, "utf8")): ClusterVerdict {
  const verdicts: FileVerdict[] = [];
  let coordinator: ClusterFile<CoordinatorConfig> | undefined;
  const coordinators: string[] = [];
  const agents: Array<ClusterFile<AgentConfig>> = [];
  for (const file of files) {
    let text: string;
    try {
      text = read(file);
    } catch (err) {
      verdicts.push({ file, ok: false, problems: [`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`] });
      continue;
    }
    const kind = guessKindOfText(text);
    try {
      if (kind === "agent") agents.push({ config: parseConfigText(agentConfigSchema, text, file), source: file, text });
      else {
        coordinator ??= { config: parseConfigText(coordinatorConfigSchema, text, file), source: file, text };
        coordinators.push(file);
      }
      verdicts.push({ file, kind, ok: true, problems: [] });
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      if (kind === "coordinator") coordinators.push(file);
      verdicts.push({ file, kind, ok: false, problems: err.problems });
    }
  }

  const head = `${files.length} files: ${files.join(", ")}`;
  const invalid = verdicts.filter((v) => !v.ok);
  if (invalid.length > 0) {
    const lines = unique(invalid.flatMap((v) => v.problems));
    const summary = `${head}: ${count(invalid.length, "file")} invalid (${invalid.map((v) => v.file).join(", ")}); the files were not checked together`;
    return { code: 1, json: { ok: false, summary, files: verdicts, problems: [] }, text: [summary, ...lines.map((l) => `  ${l}`)].join("\n") };
  }
  if (coordinators.length !== 1 || coordinator === undefined) {
    const summary =
      coordinators.length === 0
        ? `${head}: no coordinator config among them (agent configs name node_id); give the coordinator's config with its agents' configs`
        : `${head}: ${coordinators.length} coordinator configs (${coordinators.join(", ")}); check one coordinator config with its agents' configs (replicas share the cluster config)`;
    return { code: 2, json: { ok: false, summary, files: verdicts, problems: [] }, text: summary };
  }

  const problems = crossCheck(coordinator, agents);
  const errors = problems.filter((p) => p.severity === "error").length;
  const notes = problems.length - errors;
  const summary =
    errors > 0
      ? `${head}: ${count(errors, "problem")}${notes > 0 ? `, ${count(notes, "note")}` : ""}`
      : `${head}: consistent${notes > 0 ? ` (${count(notes, "note")})` : ""}`;
  return {
    code: errors > 0 ? 1 : 0,
    json: { ok: errors === 0, summary, files: verdicts, problems },
    text: [summary, ...problems.map((p) => `  ${formatProblem(p)}`)].join("\n"),
  };
}

function count(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? "" : "s"}`;
}

function unique(lines: string[]): string[] {
  return [...new Set(lines)];
}
