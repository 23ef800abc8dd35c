/**
 * Pure planning of the nginx command lines the supervisor runs.
 *
 * Child mode runs `nginx [-p PREFIX] -c CONF -g 'daemon off; pid PIDFILE;'`.
 * nginx refuses a directive given both in the file and in -g ('"pid" directive
 * is duplicate'), and Debian's stock nginx.conf sets `pid /run/nginx.pid;`. So
 * when the main conf sets pid at top level, -g carries only `daemon off;` and
 * the conf's pid path must equal `nginx.pid_file` (the supervisor adopts and
 * checks readiness through that file); a mismatch is a config error naming both.
 * The conf must not set `daemon` itself (nginx -t says so if it does).
 */
import { isAbsolute, resolve } from "node:path";
import type { NginxConfig } from "../../shared/config/agent.js";

/** nginx's compiled-in prefix on Debian (`nginx -V`: --prefix=/usr/share/nginx). */
export const DEBIAN_NGINX_PREFIX = "/usr/share/nginx";

export interface ChildCommands {
  /** argv of the foreground master. */
  run: string[];
  /** argv of `nginx -t` against the same prefix, conf and globals. */
  test: string[];
}

/** Top-level directives of an nginx conf (comments stripped, blocks skipped). */
export function topLevelDirectives(confText: string): Array<{ name: string; args: string[] }> {
  const out: Array<{ name: string; args: string[] }> = [];
  let depth = 0;
  let words: string[] = [];
  const re = /#[^\n]*|"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|[{};]|[^\s{};"'#]+/g;
  for (const m of confText.matchAll(re)) {
    const token = m[0];
    if (token.startsWith("#")) continue;
    if (token === "{") {
      depth++;
      words = [];
    } else if (token === "}") {
      depth = Math.max(0, depth - 1);
      words = [];
    } else if (token === ";") {
      if (depth === 0 && words.length > 0) out.push({ name: words[0], args: words.slice(1) });
      words = [];
    } else {
      words.push(token.replace(/^(["'])(.*)\1$/s, "$2"));
    }
  }
  return out;
}

/**
 * The child-mode command lines for `cfg` given the main conf's text, or an
 * error sentence when the conf's own pid path differs from `nginx.pid_file`.
 */
export function planChildCommands(cfg: NginxConfig, confText: string): ChildCommands | string {
  const pidDirective = topLevelDirectives(confText).find((d) => d.name === "pid");
  let globals = "daemon off;";
  if (pidDirective) {
    const raw = pidDirective.args[0] ?? "";
    const effective = isAbsolute(raw) ? raw : resolve(cfg.prefix ?? DEBIAN_NGINX_PREFIX, raw);
    if (effective !== cfg.pid_file) {
      return `nginx.pid_file (${cfg.pid_file}) must match the pid directive in ${cfg.conf} (${effective}): the agent finds the master through that file`;
    }
  } else {
    globals += ` pid ${cfg.pid_file};`;
  }
  const common = [...(cfg.prefix ? ["-p", cfg.prefix] : []), "-c", cfg.conf, "-g", globals];
  return { run: [cfg.binary, ...common], test: [cfg.binary, "-t", "-q", ...common] };
}

/** External mode: the configured test_command, else `nginx -t -q [-p PREFIX] -c CONF`. */
export function externalTestCommand(cfg: NginxConfig): string[] {
  return cfg.test_command ?? [cfg.binary, "-t", "-q", ...(cfg.prefix ? ["-p", cfg.prefix] : []), "-c", cfg.conf];
}

/** The first `[emerg]`/`[alert]` line of nginx's output, trimmed of its "nginx: " prefix: the reason a start or test failed. */
export function nginxFailureReason(output: string): string {
  const lines = output
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  const line = lines.find((l) => /\[(emerg|alert|crit)\]/.test(l)) ?? lines.find((l) => !/test failed$/.test(l)) ?? lines[0] ?? "";
  return line.replace(/^nginx: /, "").replace(/^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d /, "");
}
