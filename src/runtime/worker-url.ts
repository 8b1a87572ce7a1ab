/**
 * The URL of a compiled worker module beside `here` (an import.meta.url). Under the test runner `here` is TypeScript
 * source; a worker thread cannot load TypeScript by itself, so it runs the build in dist/ (npm test builds first).
 */
export function compiledWorkerUrl(here: string, file: string): URL {
  if (!here.endsWith('.ts')) return new URL(file, here);
  const source = new URL(file, here).pathname;
  return new URL(`file://${source.replace('/src/', '/dist/')}`);
}
