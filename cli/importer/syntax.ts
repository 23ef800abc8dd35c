/**
 * The block syntax shared by keepalived.conf and nginx.conf: words, quoted
 * strings, `{` `}` blocks and comments; keepalived ends a statement at the end
 * of the line, nginx at `;`. Parses to a tree of statements with positions, or
 * throws a SyntaxProblem naming file, line and column. Pure.
 */

export interface Statement {
  name: string;
  args: string[];
  /** Present for a block (`name args { … }`). */
  children?: Statement[];
  line: number;
  col: number;
  /** The file it was read from (an included file's statements keep theirs). */
  file?: string;
}

/** `file:line:col` of a statement. */
export function where(s: Statement, file = s.file ?? "?"): string {
  return `${s.file ?? file}:${s.line}:${s.col}`;
}

export class SyntaxProblem extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly col: number,
    readonly reason: string,
  ) {
    super(`${file}:${line}:${col}: ${reason}`);
    this.name = "SyntaxProblem";
  }
}

type Token = { kind: "word" | "{" | "}" | ";" | "eol"; text: string; line: number; col: number };

export type Dialect = "keepalived" | "nginx";

function lex(text: string, file: string, dialect: Dialect): Token[] {
  const out: Token[] = [];
  let line = 1;
  let col = 1;
  let i = 0;
  const comment = dialect === "keepalived" ? /[#!]/ : /#/;
  while (i < text.length) {
    const c = text[i];
    if (c === "\n") {
      out.push({ kind: "eol", text: "\n", line, col });
      line++;
      col = 1;
      i++;
      continue;
    }
    // Any other white space too (a BOM, a no-break space pasted from a web page): the word
    // scan below stops at \s, so leaving one here made an empty word and looped forever.
    if (c === " " || c === "\t" || c === "\r" || /\s/.test(c)) {
      i++;
      col++;
      continue;
    }
    if (comment.test(c)) {
      while (i < text.length && text[i] !== "\n") i++;
      continue;
    }
    if (c === "{" || c === "}" || (c === ";" && dialect === "nginx")) {
      out.push({ kind: c as "{" | "}" | ";", text: c, line, col });
      i++;
      col++;
      continue;
    }
    if (c === '"' || c === "'") {
      const start = { line, col };
      let j = i + 1;
      let value = "";
      while (j < text.length && text[j] !== c) {
        if (text[j] === "\n") throw new SyntaxProblem(file, start.line, start.col, `unterminated ${c === '"' ? "double" : "single"}-quoted string`);
        // An escaped newline ends the line all the same (it was taken into the value, uncounted).
        if (text[j] === "\\" && j + 1 < text.length) {
          j++;
          if (text[j] === "\n") throw new SyntaxProblem(file, start.line, start.col, `unterminated ${c === '"' ? "double" : "single"}-quoted string`);
        }
        value += text[j];
        j++;
      }
      if (j >= text.length) throw new SyntaxProblem(file, start.line, start.col, "unterminated quoted string");
      out.push({ kind: "word", text: value, ...start });
      col += j + 1 - i;
      i = j + 1;
      continue;
    }
    const start = col;
    let j = i;
    while (j < text.length && !/[\s{};"'#]/.test(text[j]) && !(dialect === "keepalived" && text[j] === "!")) j++;
    if (dialect === "keepalived" && j < text.length && text[j] === ";") j++;
    out.push({ kind: "word", text: text.slice(i, j), line, col: start });
    col += j - i;
    i = j;
  }
  out.push({ kind: "eol", text: "", line, col });
  return out;
}

/** Deeper nesting is refused: real files nest a few levels, and the readers walk the tree recursively. */
export const MAX_DEPTH = 64;

/** Parses a whole file into top-level statements. */
export function parseBlocks(text: string, file: string, dialect: Dialect): Statement[] {
  const tokens = lex(text, file, dialect);
  let pos = 0;
  const stack: Array<{ list: Statement[]; opener?: Statement }> = [{ list: [] }];
  let words: Token[] = [];
  /** keepalived: the statement a line end just closed, which a "{" on a later line opens as a block. */
  let lastFlushed: Statement | undefined;
  const flush = (terminator: Token) => {
    if (words.length === 0) return;
    if (dialect === "nginx" && terminator.kind !== ";") {
      throw new SyntaxProblem(file, words[0].line, words[0].col, `"${words.map((w) => w.text).join(" ")}" is missing its ";"`);
    }
    const st: Statement = { name: words[0].text, args: words.slice(1).map((w) => w.text), line: words[0].line, col: words[0].col, file };
    stack[stack.length - 1].list.push(st);
    lastFlushed = terminator.kind === "eol" ? st : undefined;
    words = [];
  };
  for (; pos < tokens.length; pos++) {
    const t = tokens[pos];
    if (t.kind === "word") {
      words.push(t);
      lastFlushed = undefined;
    } else if (t.kind === "eol") {
      if (dialect === "keepalived") flush(t);
    } else if (t.kind === ";") {
      if (words.length === 0) throw new SyntaxProblem(file, t.line, t.col, 'unexpected ";"');
      flush(t);
    } else if (t.kind === "{") {
      if (stack.length > MAX_DEPTH) throw new SyntaxProblem(file, t.line, t.col, `blocks nested deeper than ${MAX_DEPTH} levels`);
      if (words.length === 0 && dialect === "keepalived" && lastFlushed && !lastFlushed.children) {
        // keepalived allows the "{" on a line of its own: it opens the statement above.
        lastFlushed.children = [];
        stack.push({ list: lastFlushed.children, opener: lastFlushed });
        lastFlushed = undefined;
        continue;
      }
      if (words.length === 0) throw new SyntaxProblem(file, t.line, t.col, '"{" without a block name before it');
      const block: Statement = { name: words[0].text, args: words.slice(1).map((w) => w.text), children: [], line: words[0].line, col: words[0].col, file };
      words = [];
      stack[stack.length - 1].list.push(block);
      stack.push({ list: block.children!, opener: block });
    } else if (t.kind === "}") {
      lastFlushed = undefined;
      if (dialect === "keepalived") flush(t);
      else if (words.length > 0) flush(t);
      if (stack.length === 1) throw new SyntaxProblem(file, t.line, t.col, 'unexpected "}" (no block is open)');
      stack.pop();
    }
  }
  if (words.length > 0) flush(tokens[tokens.length - 1]);
  if (stack.length > 1) {
    const open = stack[stack.length - 1].opener!;
    throw new SyntaxProblem(file, open.line, open.col, `block "${[open.name, ...open.args].join(" ")}" is never closed (missing "}")`);
  }
  return stack[0].list;
}

/** Children named `name` of a block (or of the top level). */
export function find(list: Statement[] | undefined, name: string): Statement[] {
  return (list ?? []).filter((s) => s.name === name);
}
