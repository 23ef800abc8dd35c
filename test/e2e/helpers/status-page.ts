/**
 * The coordinator's status page in a real browser, inside the lab: Debian's Chromium,
 * headless, driven by puppeteer-core over a pipe. The lab's coordinator is reachable only
 * from its namespaces (deploy/lab/admin.ts, controlPoint), so Chromium runs in the admin
 * CLI's namespace through a small wrapper (`ip netns exec NS /usr/bin/chromium "$@"`).
 * Headless Chromium cannot present a client certificate without system policy files,
 * so a forwarding proxy (status-page-proxy.ts) in the same namespace listens on its
 * loopback and speaks mutual TLS to the page with the lab's reader certificate; the
 * browser opens http://127.0.0.1:PORT/. Both processes are ended by close().
 */
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { controlPoint } from "../../../deploy/lab/admin.js";
import { labRunner } from "../../../deploy/lab/lab.js";
import { readManifest } from "../../../deploy/lab/manifest.js";
import { CLI_BIN, REPO_ROOT, hostPrograms, labPaths } from "../../../deploy/lab/paths.js";
import { issueLabReader, labPki } from "../../../deploy/lab/pki.js";
import { STATUS_PAGE_PORT } from "../../../deploy/lab/topology.js";

/** Debian's chromium (deploy/ensure-deps.sh installs it). */
export const CHROMIUM = "/usr/bin/chromium";
/**
 * The browser and the proxy run at a lower CPU priority than the lab: on a 2-core machine a
 * Chromium starting or repainting must not delay the agents' 20 ms heartbeats (tuned timing)
 * and turn the drill it watches into a failover.
 */
const NICE = ["/usr/bin/nice", "-n", "10"];
const PROXY_SCRIPT = join(REPO_ROOT, "test", "e2e", "helpers", "status-page-proxy.ts");

export interface LabBrowser {
  browser: Browser;
  page: Page;
  /** What the browser opens: the proxy in the namespace. */
  url: string;
  /** The page behind the proxy. */
  upstream: string;
  /** The namespace Chromium and the proxy run in. */
  ns: string;
  /** How long the proxy and Chromium took to be ready (they start side by side), and the page to load. */
  timings: { proxyMs: number; chromiumMs: number; loadMs: number };
  /** Ends Chromium and the proxy (each by its own pid) and removes the temporary profile. */
  close(): Promise<void>;
}

/** Waits for a child's exit, at most `ms`; true when it exited. */
function exited(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Starts the proxy in NS; resolves with its child and the loopback address it bound (bounded by `timeoutMs`). */
async function startProxy(ns: string, args: string[], timeoutMs: number): Promise<{ child: ChildProcess; address: string }> {
  const child = spawn(hostPrograms().ip, ["netns", "exec", ns, ...NICE, process.execPath, "--import", "tsx", PROXY_SCRIPT, ...args], {
    cwd: REPO_ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stderr?.setEncoding("utf8").on("data", (d: string) => (err += d));
  try {
    const address = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the status page proxy in ${ns} did not start within ${timeoutMs} ms: ${err.trim()}`)), timeoutMs);
      child.stdout?.setEncoding("utf8").on("data", (d: string) => {
        out += d;
        const line = /^\{"listening":"([^"]+)"\}$/m.exec(out);
        if (line) {
          clearTimeout(timer);
          resolve(line[1]);
        }
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`the status page proxy in ${ns} exited (${code}) before listening: ${err.trim()}`));
      });
    });
    return { child, address };
  } catch (e) {
    child.kill("SIGKILL");
    throw e;
  }
}

/**
 * Opens the lab's status page in headless Chromium. The caller closes it (in `finally`).
 * `viewport` is the page's first size (CSS pixels).
 */
export async function openStatusPage(prefix: string, viewport = { width: 1280, height: 900 }): Promise<LabBrowser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run bash deploy/ensure-deps.sh (Debian's chromium package)`);
  const at = await controlPoint(prefix);
  const paths = labPaths(prefix);
  const insecure = readManifest(paths.manifest)?.insecure ?? false;
  // The page listens beside the gRPC listener of the coordinator the CLI asks first (one, or the first replica).
  const host = at.addresses[0].slice(0, at.addresses[0].lastIndexOf(":"));
  const upstream = `${insecure ? "http" : "https"}://${host}:${STATUS_PAGE_PORT}`;
  const credentials: string[] = [];
  if (!insecure) {
    const reader = await issueLabReader(labRunner(), paths, CLI_BIN);
    credentials.push("--ca", labPki(paths).ca, "--cert", reader.cert, "--key", reader.key);
  }
  const dir = mkdtempSync(join(tmpdir(), "kvbrowser-"));
  let proxy: ChildProcess | undefined;
  let browser: Browser | undefined;
  const close = async () => {
    if (browser) {
      const proc = browser.process();
      // browser.close() asks Chromium to quit and waits for it. A hung one is killed by its pid, with its
      // own process group (puppeteer starts it as a group leader: its renderers go with it).
      await Promise.race([browser.close().catch(() => undefined), new Promise((r) => setTimeout(r, 5000))]);
      if (proc?.pid !== undefined && proc.exitCode === null && proc.signalCode === null) {
        try {
          process.kill(-proc.pid, "SIGKILL");
        } catch {
          proc.kill("SIGKILL");
        }
        await exited(proc, 5000);
      }
      browser = undefined;
    }
    if (proxy) {
      proxy.kill("SIGTERM");
      if (!(await exited(proxy, 3000))) {
        proxy.kill("SIGKILL");
        await exited(proxy, 3000);
      }
      proxy = undefined;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    // Chromium in the namespace: the wrapper is its executable for puppeteer (the pipe's fds 3 and 4 pass through exec).
    const wrapper = join(dir, "chromium-in-netns");
    writeFileSync(wrapper, `#!/bin/sh\nexec ${hostPrograms().ip} netns exec ${at.ns} ${NICE.join(" ")} ${CHROMIUM} "$@"\n`);
    chmodSync(wrapper, 0o755);
    // The proxy and Chromium start side by side; each is kept for close() as soon as it runs.
    const t0 = Date.now();
    let proxyMs = 0;
    let chromiumMs = 0;
    const [proxied, launched] = await Promise.allSettled([
      startProxy(at.ns, ["--upstream", upstream, ...credentials, "--listen", "127.0.0.1:0", "--max-ms", "300000"], 15_000).then((p) => {
        proxy = p.child;
        proxyMs = Date.now() - t0;
        return p;
      }),
      puppeteer
        .launch({
          executablePath: wrapper,
          pipe: true,
          headless: true,
          userDataDir: join(dir, "profile"),
          // Root in a test: no sandbox. Nothing to reach but the proxy on the namespace's loopback.
          args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars", "--force-color-profile=srgb"],
          defaultViewport: viewport,
          timeout: 30_000,
          protocolTimeout: 30_000,
          // The test ends it (close()); no signal handlers of puppeteer's own in the test runner.
          handleSIGINT: false,
          handleSIGTERM: false,
          handleSIGHUP: false,
        })
        .then((b) => {
          browser = b;
          chromiumMs = Date.now() - t0;
          return b;
        }),
    ]);
    if (proxied.status === "rejected") throw proxied.reason;
    if (launched.status === "rejected") throw new Error(`Chromium did not start in ${at.ns}: ${String(launched.reason)}`);
    const started = proxied.value;
    browser = launched.value;
    const page = (await browser.pages())[0] ?? (await browser.newPage());
    const url = `http://${started.address}/`;
    const t1 = Date.now();
    const res = await page.goto(url, { waitUntil: "load", timeout: 15_000 });
    if (!res?.ok()) throw new Error(`${url} (proxy for ${upstream}) answered ${res?.status()}: ${(await res?.text())?.slice(0, 500)}`);
    const loadMs = Date.now() - t1;
    return { browser, page, url, upstream, ns: at.ns, timings: { proxyMs, chromiumMs, loadMs }, close };
  } catch (e) {
    await close();
    throw e;
  }
}
