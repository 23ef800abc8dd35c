/**
 * Reading a keepalived.conf as keepalived does before it parses: `@host`
 * conditional lines, `$NAME=value` parameters and their `$NAME` / `${NAME}`
 * uses, and `include PATTERN` (a glob, relative to the including file's
 * directory), recursively. Line numbers stay those of each file, so every
 * note and error can name the keepalived file, line and column.
 *
 * The preprocessing is pure (`preprocess`); reading and globbing go through
 * a small `Files` interface so tests give them from memory.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { type Statement, SyntaxProblem, parseBlocks, where } from "./syntax.js";

export interface SourceNote {
  where: string;
  what: string;
}

/** File access, injectable for tests. */
export interface Files {
  read(path: string): string;
  /** Entries of a directory (names), or [] when it cannot be read. */
  list(dir: string): string[];
}

export const diskFiles: Files = {
  read(path) {
    try {
      return readFileSync(path, "utf8");
    } catch (err) {
      throw new Error(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  },
  list(dir) {
    try {
      return readdirSync(dir);
    } catch {
      return [];
    }
  },
};

export interface ReadContext {
  /** keepalived's config-id (`-i`, by default the host name): which `@host` lines apply. undefined: none known. */
  configId?: string;
  /** Parameters defined so far (`$NAME=value`), shared with included files, as keepalived shares them. */
  params: Map<string, string>;
  notes: SourceNote[];
  files: Files;
}

/** Deeper include chains are refused (keepalived's own limit is of this order). */
export const MAX_INCLUDE_DEPTH = 8;

const PARAM_DEF = /^\s*\$([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)$/;
const PARAM_USE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g;

/**
 * One file's text as keepalived reads it: conditional lines kept or blanked,
 * parameter definitions recorded and blanked, uses replaced. Lines keep their
 * numbers (blanked, never removed). Throws a SyntaxProblem for an undefined
 * parameter or a conditional line with no config-id to test it against.
 */
export function preprocess(text: string, file: string, ctx: Pick<ReadContext, "configId" | "params" | "notes">): string {
  const lines = text.split("\n");
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i];
    const lineNo = i + 1;
    const cond = /^(\s*)@(\^?)([^\s]+)(\s+|$)/.exec(line);
    if (cond) {
      const [whole, indent, negate, id] = cond;
      if (ctx.configId === undefined)
        throw new SyntaxProblem(
          file,
          lineNo,
          indent.length + 1,
          `"@${negate}${id}" applies this line to some hosts only: pass --names so each file is read as its host (keepalived's config-id, by default the host name)`,
        );
      const applies = negate ? ctx.configId !== id : ctx.configId === id;
      // Kept lines lose only the condition; the columns after it shift, the line does not.
      line = applies ? indent + " ".repeat(whole.length - indent.length) + line.slice(whole.length) : "";
    }
    const def = PARAM_DEF.exec(line);
    if (def) {
      let value = def[2].trim();
      if (value.endsWith("\\")) {
        throw new SyntaxProblem(
          file,
          lineNo,
          1,
          `parameter $${def[1]} continues on the next line: multi-line parameters are not imported; write the lines out`,
        );
      }
      value = substitute(value, file, lineNo, ctx.params);
      ctx.params.set(def[1], value);
      out.push("");
      continue;
    }
    // Comments are not substituted: a "$" in a comment is not a parameter.
    const comment = commentStart(line);
    const code = comment < 0 ? line : line.slice(0, comment);
    out.push(comment < 0 ? substitute(code, file, lineNo, ctx.params) : substitute(code, file, lineNo, ctx.params) + line.slice(comment));
  }
  return out.join("\n");
}

/** Where a comment (# or !) begins outside quotes, or -1. */
function commentStart(line: string): number {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === "\\") i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === "#" || c === "!") return i;
  }
  return -1;
}

function substitute(text: string, file: string, lineNo: number, params: ReadonlyMap<string, string>): string {
  if (!text.includes("$")) return text;
  return text.replace(PARAM_USE, (whole, braced: string | undefined, bare: string | undefined, offset: number) => {
    const name = braced ?? bare ?? "";
    const value = params.get(name);
    if (value === undefined) {
      // Shell variables inside a quoted script ("$1", "$HOME") are the script's, not keepalived's.
      if (insideQuotes(text, offset)) return whole;
      throw new SyntaxProblem(
        file,
        lineNo,
        offset + 1,
        `${whole} is not defined: keepalived would stop here; define it with "$${name}=value" before its first use`,
      );
    }
    return value;
  });
}

function insideQuotes(text: string, offset: number): boolean {
  let quote: string | undefined;
  for (let i = 0; i < offset; i++) {
    const c = text[i];
    if (quote) {
      if (c === "\\") i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
  }
  return quote !== undefined;
}

/** A file's statements with its includes read in place (recursively); every statement knows its file. */
export function readConfigTree(file: string, ctx: ReadContext, chain: string[] = []): Statement[] {
  const text = preprocess(ctx.files.read(file), file, ctx);
  const tree = parseBlocks(text, file, "keepalived");
  return expand(tree, file, ctx, [...chain, resolve(file)]);
}

function expand(list: Statement[], file: string, ctx: ReadContext, chain: string[]): Statement[] {
  const out: Statement[] = [];
  for (const s of list) {
    if (s.name !== "include") {
      out.push(s.children ? { ...s, children: expand(s.children, file, ctx, chain) } : s);
      continue;
    }
    if (s.args.length === 0) throw new SyntaxProblem(s.file ?? file, s.line, s.col, "include without a file name");
    for (const pattern of s.args) {
      const full = isAbsolute(pattern) ? pattern : join(dirname(s.file ?? file), pattern);
      const matches = glob(full, ctx.files);
      if (matches.length === 0) {
        // keepalived logs it and goes on.
        ctx.notes.push({ where: where(s, file), what: `include ${pattern}: no file matches (keepalived goes on without it, so does the import)` });
        continue;
      }
      for (const m of matches) {
        if (chain.includes(resolve(m)))
          throw new SyntaxProblem(s.file ?? file, s.line, s.col, `include ${pattern}: ${m} includes itself (through ${chain.join(" → ")})`);
        if (chain.length >= MAX_INCLUDE_DEPTH)
          throw new SyntaxProblem(s.file ?? file, s.line, s.col, `include ${pattern}: includes nested deeper than ${MAX_INCLUDE_DEPTH}`);
        out.push(...readConfigTree(m, ctx, chain));
      }
    }
  }
  return out;
}

/** glob(3) for the patterns keepalived configs use: `*`, `?` and `[…]` in any path segment; sorted, files and directories alike. */
export function glob(pattern: string, files: Files): string[] {
  const absolute = pattern.startsWith("/");
  const segments = pattern.split("/").filter((x) => x !== "");
  let paths = [absolute ? "/" : "."];
  for (const [i, seg] of segments.entries()) {
    const last = i === segments.length - 1;
    if (!/[*?[]/.test(seg)) {
      paths = paths.map((p) => join(p, seg));
      if (last) paths = paths.filter((p) => exists(p, files));
      continue;
    }
    const re = segmentRegex(seg);
    paths = paths.flatMap((p) =>
      files
        .list(p)
        .filter((name) => re.test(name) && (seg.startsWith(".") || !name.startsWith(".")))
        .sort()
        .map((name) => join(p, name)),
    );
  }
  return paths;
}

function exists(path: string, files: Files): boolean {
  const name = path.split("/").pop() ?? "";
  return files.list(dirname(path)).includes(name);
}

function segmentRegex(seg: string): RegExp {
  let re = "";
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i];
    if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "[") {
      const close = seg.indexOf("]", i + 2);
      if (close < 0) re += "\\[";
      else {
        const body = seg.slice(i + 1, close);
        re += `[${body.startsWith("!") ? `^${body.slice(1)}` : body}]`;
        i = close;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}
