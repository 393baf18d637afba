// A TCP proxy between node-postgres and the test's Postgres that loses the answer of one statement after
// the server committed it: the call runs and its implicit transaction commits at Sync, the server's
// ReadyForQuery (sent only after that commit) is the proxy's cue, and the client's connection is cut
// instead of hearing it. That is a connection lost between COMMIT and its answer, made exact. It can also
// cut a connection as a statement is sent, before the server sees it (a COMMIT that never arrives: the
// server rolls the transaction back), and hold one statement's answer back for a while (a COMMIT slow to be
// acknowledged: a stalled WAL flush, a synchronous standby), as the client sees it.
import net from 'node:net';

export interface PgFaultProxy {
  /** `databaseUrl` with host and port pointing at the proxy. */
  url: string;
  /**
   * Arms the proxy: the next statement whose bytes (its Parse or its named Bind) contain `marker` runs and
   * commits, and its client never hears back. Resolves once that connection is cut. With `thenRefuse`,
   * every connection after it is cut at once (the database unreachable) until `refuse(false)`.
   */
  loseAnswerOf(marker: string, options?: { thenRefuse?: boolean }): Promise<void>;
  /**
   * Arms the proxy: the connection that next sends a statement whose bytes contain `marker` is cut before
   * the statement reaches the server (which then rolls back the transaction it was in). Resolves once cut.
   */
  cutBefore(marker: string): Promise<void>;
  /**
   * The next statement whose bytes contain `marker` runs as usual, but its answer reaches the client only
   * `ms` later. Resolves once the answer has been passed on.
   */
  delayAnswerOf(marker: string, ms: number): Promise<void>;
  /** Cuts every new connection at once (true) or lets them through again (false). */
  refuse(on: boolean): void;
  /** Answers lost so far. */
  readonly lost: number;
  close(): Promise<void>;
}

const READY_FOR_QUERY = 'Z'.charCodeAt(0);

export async function startPgFaultProxy(databaseUrl: string): Promise<PgFaultProxy> {
  const target = new URL(databaseUrl);
  const sockets = new Set<net.Socket>();
  let refusing = false;
  let lost = 0;
  let armed: { marker: Buffer; thenRefuse: boolean; cut: () => void } | undefined;
  let delayArmed: { marker: Buffer; ms: number; passed: () => void } | undefined;
  let cutArmed: { marker: Buffer; cut: () => void } | undefined;

  const server = net.createServer((client) => {
    sockets.add(client);
    client.once('close', () => sockets.delete(client));
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = net.connect(Number(target.port || 5432), target.hostname);
    sockets.add(upstream);
    upstream.once('close', () => sockets.delete(upstream));
    const cutBoth = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', cutBoth).on('close', cutBoth);
    upstream.on('error', cutBoth).on('close', cutBoth);

    // Set once this connection carried the armed statement: the server's answer is read, never forwarded.
    let losing: { thenRefuse: boolean; cut: () => void } | undefined;
    let pending = Buffer.alloc(0);
    // Set while this connection's answers are held back: they are passed on, in order, when it ends.
    let holding: { chunks: Buffer[] } | undefined;
    client.on('data', (chunk: Buffer) => {
      if (cutArmed && chunk.includes(cutArmed.marker)) {
        const { cut } = cutArmed;
        cutArmed = undefined;
        cutBoth();
        cut();
        return;
      }
      if (armed && !losing && chunk.includes(armed.marker)) {
        losing = armed;
        armed = undefined;
      }
      if (delayArmed && !holding && chunk.includes(delayArmed.marker)) {
        const { ms, passed } = delayArmed;
        delayArmed = undefined;
        const held = { chunks: [] as Buffer[] };
        holding = held;
        setTimeout(() => {
          holding = undefined;
          for (const c of held.chunks) client.write(c);
          passed();
        }, ms);
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (holding) {
        holding.chunks.push(chunk);
        return;
      }
      if (!losing) {
        client.write(chunk);
        return;
      }
      // The server was idle before the armed call, so its answer starts on a message boundary:
      // type (1 byte), length (4 bytes, counting itself), body.
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 5) {
        const type = pending[0];
        const end = 1 + pending.readInt32BE(1);
        if (pending.length < end) break;
        pending = pending.subarray(end);
        if (type === READY_FOR_QUERY) {
          lost++;
          if (losing.thenRefuse) refusing = true;
          cutBoth();
          losing.cut();
          return;
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(databaseUrl);
  url.hostname = '127.0.0.1';
  url.port = String((server.address() as net.AddressInfo).port);

  return {
    url: url.toString(),
    loseAnswerOf(marker, options = {}) {
      return new Promise<void>((resolve) => {
        armed = { marker: Buffer.from(marker), thenRefuse: options.thenRefuse ?? false, cut: resolve };
      });
    },
    cutBefore(marker) {
      return new Promise<void>((resolve) => {
        cutArmed = { marker: Buffer.from(marker), cut: resolve };
      });
    },
    delayAnswerOf(marker, ms) {
      return new Promise<void>((resolve) => {
        delayArmed = { marker: Buffer.from(marker), ms, passed: resolve };
      });
    },
    refuse(on) {
      refusing = on;
    },
    get lost() {
      return lost;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
