import { Command, InvalidArgumentError } from 'commander';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The built page: docs/explainer beside dist/ (in the repository and in the package alike). */
export const EXPLAINER_DIR = fileURLToPath(new URL('../../docs/explainer/', import.meta.url));
const FILES: Record<string, string> = {
  '/': 'index.html',
  '/index.html': 'index.html',
  '/style.css': 'style.css',
  '/explainer.js': 'explainer.js',
};
const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  css: 'text/css; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
};

/** Serves the page's three files on 127.0.0.1 until SIGINT; resolves with the port it listens on once it does. */
export function serveExplainer(port: number): Promise<{ port: number; close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    const name = FILES[new URL(req.url ?? '/', 'http://localhost').pathname];
    if (req.method !== 'GET' || name === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[name.split('.').pop()!] });
    res.end(readFileSync(EXPLAINER_DIR + name));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      resolve({
        port: typeof address === 'object' && address !== null ? address.port : port,
        close: () => new Promise((r) => server.close(() => r())),
      });
    });
  });
}

export function explainCommand(): Command {
  return new Command('explain')
    .description(
      'Open "IN_ORDER demystified": a page that runs vqkit\'s own driver and device step by step over an ' +
        'ArrayBuffer, drawing the rings from its bytes, with and without IN_ORDER. Without --port it opens the ' +
        'page from disk in the desktop browser (or prints where it is); with --port it serves it on 127.0.0.1.',
    )
    .option('--port <n>', 'serve the page on http://127.0.0.1:PORT (0: any free port) until Ctrl-C', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('port must be 0..65535');
      return n;
    })
    .action(async (flags: { port?: number }, cmd: Command) => {
      if (!existsSync(EXPLAINER_DIR + 'explainer.js')) {
        cmd.error(`error: the page is not built in ${EXPLAINER_DIR}: run npm run explainer`, { exitCode: 2 });
      }
      if (flags.port !== undefined) {
        const { port, close } = await serveExplainer(flags.port);
        process.stdout.write(`vq explain: serving http://127.0.0.1:${port}/ (Ctrl-C stops)\n`);
        await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
        await close();
        cmd.setOptionValue('exitCode', 0);
        return;
      }
      const url = pathToFileURL(EXPLAINER_DIR + 'index.html').href;
      const desktop = process.env.DISPLAY !== undefined || process.env.WAYLAND_DISPLAY !== undefined;
      if (desktop)
        spawn('xdg-open', [url], { stdio: 'ignore', detached: true })
          .on('error', () => {})
          .unref();
      process.stdout.write(
        desktop
          ? `vq explain: opening ${url}\n`
          : `vq explain: open ${url} in a browser (or: vq explain --port 8080)\n`,
      );
      cmd.setOptionValue('exitCode', 0);
    });
}
