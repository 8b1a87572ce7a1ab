#!/usr/bin/env bash
# The packaging test: pack vqkit as npm would publish it, check what the tarball holds, install it into a fresh
# project, import it from ESM, and type-check and run a TypeScript consumer against the shipped .d.ts.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false

cd "$here"
tarball=$(npm pack --silent --pack-destination "$work" | tail -1)
echo "package: $tarball ($(du -k "$work/$tarball" | cut -f1) KiB packed)"

# What it holds: the command, the compiled library and its types, the explainer page (vq explain), the README and
# package.json; no sources, tests, benchmark figures, source maps or caches.
tar -tzf "$work/$tarball" | sed 's|^package/||' | sort >"$work/files"
echo "files: $(wc -l <"$work/files")"
bad=$(grep -E '^(src|test|docs|scripts|examples|node_modules|results|coverage|\.ci)/|\.map$|\.cache|\.tsbuildinfo$|bench.*\.json$' "$work/files" |
  grep -vE '^docs/explainer/(index\.html|style\.css|explainer\.js)$' || true)
if [ -n "$bad" ]; then
  echo "check-package: the tarball holds files it should not:" >&2
  echo "$bad" >&2
  exit 1
fi
for need in package.json README.md bin/vq.js dist/index.js dist/index.d.ts dist/runtime/pool-thread.js \
  docs/explainer/index.html docs/explainer/explainer.js; do
  grep -qx "$need" "$work/files" || { echo "check-package: the tarball lacks $need" >&2; exit 1; }
done
size=$(stat -c %s "$work/$tarball")
if [ "$size" -gt $((1024 * 1024)) ]; then
  echo "check-package: the tarball is $size bytes, more than 1 MiB" >&2
  exit 1
fi

# A fresh project that installs the tarball (and, for the consumer, TypeScript and Node's types at the versions
# vqkit itself pins).
mkdir "$work/consumer"
cp scripts/package-check/consumer.ts scripts/package-check/tsconfig.json "$work/consumer/"
ts=$(node -p "require('./package.json').devDependencies.typescript")
types=$(node -p "require('./package.json').devDependencies['@types/node']")
cd "$work/consumer"
echo '{ "name": "vqkit-consumer", "private": true, "type": "module" }' >package.json
npm install --silent --no-package-lock "$work/$tarball" "typescript@$ts" "@types/node@$types"

echo "== import('vqkit') from ESM"
node -e "import('vqkit').then((m) => {
  const names = Object.keys(m).sort();
  for (const need of ['createDriverQueue', 'createDeviceQueue', 'GuestMemory', 'VhostUserDaemon', 'openQueueUnit'])
    if (!names.includes(need)) throw new Error('vqkit does not export ' + need);
  console.log(names.length + ' exports: ' + names.join(' '));
})"
echo "== type-check and run a TypeScript consumer against the shipped .d.ts"
npx tsc -p tsconfig.json
node dist/consumer.js
echo "check-package: ok"
