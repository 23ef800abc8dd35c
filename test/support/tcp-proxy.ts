/**
 * A TCP proxy on 127.0.0.1 for component tests: agents dial it instead of the coordinator,
 * and a test can break every connection through it at once with a TCP reset on both sides
 * (what a crashed host or a dropped NAT entry looks like to the coordinator).
 */
import { connect, createServer, type Server, type Socket } from "node:net";

export class TcpProxy {
  private readonly server: Server;
  private readonly pairs = new Set<[Socket, Socket]>();
  /** "127.0.0.1:port" to dial instead of the target, once listening. */
  address = "";

  /** @param target where new connections go ("host:port"); it may change (a coordinator restarted on another port). */
  constructor(public target: string) {
    this.server = createServer((client) => {
      const target = this.target;
      const [host, port] = [target.slice(0, target.lastIndexOf(":")), Number(target.slice(target.lastIndexOf(":") + 1))];
      const upstream = connect(port, host);
      const pair: [Socket, Socket] = [client, upstream];
      this.pairs.add(pair);
      client.pipe(upstream).pipe(client);
      const forget = () => {
        this.pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      for (const s of pair) {
        s.on("error", forget);
        s.on("close", forget);
      }
    });
  }

  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.address = `127.0.0.1:${(this.server.address() as { port: number }).port}`;
    return this;
  }

  /** Connections through the proxy now. */
  get connections(): number {
    return this.pairs.size;
  }

  /** Resets every connection through the proxy (RST to both ends); new ones are still let through. */
  resetAll(): void {
    for (const [client, upstream] of [...this.pairs]) {
      client.resetAndDestroy();
      upstream.resetAndDestroy();
    }
    this.pairs.clear();
  }

  async close(): Promise<void> {
    this.resetAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
