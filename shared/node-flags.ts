/**
 * The V8 flags the agent runs with: its bin's first line (`#!/usr/bin/env -S node --jitless --expose-gc`)
 * carries them, so systemd's ExecStart and a shell start it the same way, and the lab passes
 * them when it starts `node dist/agent/keepvip-agent.js` itself (a unit test keeps the three equal).
 *
 * --jitless: V8 interprets and never compiles to machine code. An agent's JavaScript is small
 * and cold (probes, reports, a command now and then; its time goes to system calls and child
 * processes), so it runs at the same CPU, and the compilers' code and memory stay out of its
 * RSS: 75 → 65 MB on an idle backup (docs/benchmarks.md, footprint). WebAssembly is off with
 * it; nothing the agent loads needs it (the `long` package falls back to plain JavaScript).
 *
 * --expose-gc: gc() on the global object, for the agent's full collection every 20 s
 * (agent/heap-trim.ts): V8 alone let an idle agent's old generation grow 8 MB past its live data.
 */
export const AGENT_NODE_FLAGS: readonly string[] = ["--jitless", "--expose-gc"];
