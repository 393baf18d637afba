// Servers that never answer, for proving that a client gives up within its bound. `startSilentServer`
// accepts every connection and reads what is sent without ever replying: a hung service, or a connection
// whose other end has gone (a half-open TCP connection looks the same from here). `startUnacceptingServer`
// never completes a connection: its process is stopped with a full accept queue, so the kernel drops every
// further SYN, as it would for a blackholed address (which a test machine without a network cannot reach).
import { spawn } from 'node:child_process';
import net from 'node:net';

export interface SilentServer {
  /** http://127.0.0.1:<port> */
  url: string;
  port: number;
  /** Connections accepted so far (each one an attempt the client made). */
  readonly accepted: number;
  close(): Promise<void>;
}

export async function startSilentServer(): Promise<SilentServer> {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('data', () => {}); // read and drop: the request is received, never answered
    socket.on('error', () => {});
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    get accepted() {
      return accepted;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export async function startUnacceptingServer(): Promise<Omit<SilentServer, 'accepted'>> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      "require('net').createServer().listen({ port: 0, host: '127.0.0.1', backlog: 1 }, function () { console.log(this.address().port) })",
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.stdout.once('data', (data: Buffer) => resolve(Number(String(data).trim())));
  });
  // Stopped, it accepts nothing: the kernel queues backlog + 1 handshakes, then drops SYNs.
  process.kill(child.pid as number, 'SIGSTOP');
  const fillers: net.Socket[] = [];
  for (let i = 0; i < 2; i++) {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => {});
    fillers.push(socket);
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    async close() {
      for (const socket of fillers) socket.destroy();
      child.kill('SIGKILL');
      await new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) resolve();
        else child.once('exit', () => resolve());
      });
    },
  };
}

/** How long `call` took to settle, and how it settled. */
export async function timed<T>(call: () => Promise<T>): Promise<{ ms: number; value?: T; error?: unknown }> {
  const started = performance.now();
  try {
    const value = await call();
    return { ms: performance.now() - started, value };
  } catch (error) {
    return { ms: performance.now() - started, error };
  }
}

/**
 * fetch that sends what is addressed to `host` (api.twilio.com) to `to` instead, path and all: the adapters
 * keep their real base URL and the test still decides where the bytes go.
 */
export function redirectingFetch(host: string, to: string, fetchImpl: typeof fetch = fetch): typeof fetch {
  return (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (url.host !== host) return fetchImpl(input, init);
    const target = new URL(`${url.pathname}${url.search}`, to);
    return fetchImpl(target, init);
  };
}

export interface HangingProxy {
  /** `targetUrl` with host and port pointing at the proxy. */
  url: string;
  /**
   * From now on nothing passes either way and new connections are held open unanswered: every connection
   * through the proxy hangs, as one to a database whose host vanished (a failover) does.
   */
  hang(): void;
  close(): Promise<void>;
}

/** A TCP proxy to `targetUrl`'s host and port that passes everything until told to hang. */
export async function startHangingProxy(targetUrl: string): Promise<HangingProxy> {
  const target = new URL(targetUrl);
  const sockets = new Set<net.Socket>();
  let hanging = false;
  const track = (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.once('close', () => sockets.delete(socket));
  };
  const server = net.createServer((client) => {
    track(client);
    if (hanging) return; // accepted, never answered
    const upstream = net.connect(Number(target.port || 5432), target.hostname);
    track(upstream);
    client.on('data', (chunk: Buffer) => {
      if (!hanging) upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!hanging) client.write(chunk);
    });
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(targetUrl);
  url.hostname = '127.0.0.1';
  url.port = String((server.address() as net.AddressInfo).port);
  return {
    url: url.toString(),
    hang() {
      hanging = true;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** AWS SDK settings that send every AWS call of this process to `endpoint` with fixed test credentials. */
export function awsEnvAt(endpoint: string): Record<string, string> {
  return {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
    AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    AWS_ENDPOINT_URL: endpoint,
  };
}
