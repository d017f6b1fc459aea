// A small fault-injecting HTTP proxy to put in front of an OpenStack API: it passes requests on,
// or answers 5xx for a while, or forwards a request and then loses the answer (the cloud did the
// work, the client never hears), or stops listening altogether (the API is down) and comes back
// on the same port. Every request is recorded, so a test can count what the client sent.
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export interface ProxiedRequest {
  readonly method: string;
  readonly path: string;
  readonly at: number;
  /** What the client got: the status, or `lost` / `refused-by-fault`. */
  outcome: string;
}

export interface FaultRule {
  readonly method?: string;
  readonly path?: RegExp;
  /** `status`: answer it without forwarding; `lose`: forward it, then answer 502 to the client. */
  readonly action: { status: number } | 'lose';
  /** How many matching requests it applies to; default: until cleared. */
  times?: number;
}

export class FaultProxy {
  readonly requests: ProxiedRequest[] = [];
  private rules: FaultRule[] = [];
  private server: Server;
  private readonly sockets = new Set<Socket>();
  private port = 0;

  private constructor(private readonly target: URL) {
    this.server = this.makeServer();
  }

  /** A proxy on a free loopback port in front of `target` (scheme, host and port). */
  static async start(target: string): Promise<FaultProxy> {
    const proxy = new FaultProxy(new URL(target));
    await proxy.listen();
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Adds a fault; the first matching rule applies. */
  inject(rule: FaultRule): void {
    this.rules.push(rule);
  }

  clear(): void {
    this.rules = [];
  }

  /** The API goes down: the port refuses connections and open ones are cut. */
  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The API comes back on the same port. */
  async resume(): Promise<void> {
    this.server = this.makeServer();
    await this.listen();
  }

  async close(): Promise<void> {
    await this.stop().catch(() => undefined);
  }

  count(method: string, path: RegExp, since = 0): number {
    return this.requests.filter((each) => each.method === method && path.test(each.path) && each.at >= since).length;
  }

  private async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, '127.0.0.1', () => resolve());
    });
    const address = this.server.address();
    if (address && typeof address === 'object') this.port = address.port;
  }

  private makeServer(): Server {
    const server = createServer((req, res) => this.handle(req, res));
    server.keepAliveTimeout = 1000;
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    return server;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const record: ProxiedRequest = { method: req.method ?? 'GET', path: req.url ?? '/', at: Date.now(), outcome: 'pending' };
    this.requests.push(record);
    const rule = this.rules.find((each) => (each.method === undefined || each.method === record.method) && (each.path === undefined || each.path.test(record.path)) && (each.times === undefined || each.times > 0));
    if (rule?.times !== undefined) rule.times--;
    if (rule && rule.action !== 'lose') {
      req.resume();
      record.outcome = String(rule.action.status);
      res.writeHead(rule.action.status, { 'content-type': 'application/json', connection: 'close' });
      res.end(JSON.stringify({ error: { message: `injected fault: ${rule.action.status}`, code: rule.action.status } }));
      return;
    }
    const headers = { ...req.headers, host: this.target.host };
    const upstream = httpRequest({ host: this.target.hostname, port: this.target.port, method: req.method, path: req.url, headers }, (answer) => {
      if (rule?.action === 'lose') {
        // The cloud did it; the answer is lost on the way back.
        answer.resume();
        answer.on('end', () => {
          record.outcome = 'lost';
          res.writeHead(502, { 'content-type': 'text/plain', connection: 'close' });
          res.end('injected fault: the answer was lost');
        });
        return;
      }
      record.outcome = String(answer.statusCode);
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', (error) => {
      record.outcome = `upstream error ${error.message}`;
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end();
    });
    req.pipe(upstream);
  }
}
