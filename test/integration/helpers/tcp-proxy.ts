/**
 * A TCP proxy on 127.0.0.1 that a test can cut and heal: the partition of one
 * client from etcd (its keep-alives and writes stop, etcd stays up for the
 * others). cut() destroys every open connection and refuses new ones.
 */
import { createConnection, createServer, type Server, type Socket } from "node:net";

export class TcpProxy {
  private sockets = new Set<Socket>();
  private isCut = false;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    let proxy: TcpProxy | undefined;
    const server = createServer((client) => {
      if (!proxy || proxy.isCut) return void client.destroy();
      const upstream = createConnection(target);
      for (const s of [client, upstream]) {
        proxy.sockets.add(s);
        s.on("close", () => proxy!.sockets.delete(s));
        s.on("error", () => undefined);
      }
      client.pipe(upstream).pipe(client);
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    proxy = new TcpProxy(server, (server.address() as { port: number }).port);
    return proxy;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  cut(): void {
    this.isCut = true;
    for (const s of this.sockets) s.destroy();
  }

  heal(): void {
    this.isCut = false;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
