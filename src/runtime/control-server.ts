import { existsSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';

/** A control request could not be answered: no daemon there, or it said something we cannot read. */
export class ControlError extends Error {
  override readonly name = 'ControlError';
}

/** Requests are one line of text; answers are one line of JSON. */
const MAX_REQUEST = 256;

/**
 * The daemon's control socket (`vq status` asks through it): a unix socket where each connection sends one request
 * line and gets one JSON line back. Served on Node's own event loop; it knows no device, only its handler.
 */
export class ControlServer {
  readonly #server: Server;

  private constructor(
    readonly path: string,
    server: Server,
  ) {
    this.#server = server;
  }

  static async listen(path: string, handle: (request: string) => Promise<unknown>): Promise<ControlServer> {
    // A stale socket left by a daemon that died is replaced; a live one is refused (two daemons, one path).
    if (existsSync(path)) {
      if (await answers(path)) throw new ControlError(`a daemon already answers on ${path}`);
      unlinkSync(path);
    }
    const server = createServer((sock) => {
      let line = '';
      sock.setEncoding('utf8');
      sock.on('error', () => sock.destroy());
      sock.on('data', (chunk: string) => {
        line += chunk;
        const end = line.indexOf('\n');
        if (end < 0 && line.length <= MAX_REQUEST) return;
        sock.pause();
        const request = (end < 0 ? line : line.slice(0, end)).trim();
        handle(request).then(
          (answer) => sock.end(`${JSON.stringify(answer)}\n`),
          (e: unknown) => sock.end(`${JSON.stringify({ error: (e as Error).message })}\n`),
        );
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) =>
        reject(new ControlError(`cannot serve the control socket ${path}: ${e.code ?? e.message}`)),
      );
      server.listen(path, () => resolve());
    });
    // The control socket alone does not keep a daemon running: its ports do.
    server.unref();
    return new ControlServer(path, server);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

/** Whether something answers on a unix socket path. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(path, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

/** Sends one request to a daemon's control socket and returns its parsed JSON answer. */
export function askControl(path: string, request: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let text = '';
    const s = createConnection(path, () => s.write(`${request}\n`));
    s.setEncoding('utf8');
    s.on('data', (chunk: string) => (text += chunk));
    s.on('error', (e) => reject(new ControlError(`no daemon answers on ${path}: ${e.message}`)));
    s.on('end', () => {
      try {
        const answer = JSON.parse(text) as unknown;
        if (typeof answer === 'object' && answer !== null && 'error' in answer)
          reject(new ControlError(`the daemon at ${path} refused '${request}': ${String(answer.error)}`));
        else resolve(answer);
      } catch {
        reject(new ControlError(`the daemon at ${path} answered something that is not JSON`));
      }
    });
  });
}
