#!/usr/bin/env node
// Builds a Switchyard plugin written in JavaScript or TypeScript into a WebAssembly component:
//
//   switchyard-plugin build src/plugin.ts -o plugin.wasm [--wit DIR] [--no-check]
//   switchyard-plugin types [--wit DIR]
//
// `build` type-checks a .ts entry with tsc (unless --no-check), bundles it with the SDK into
// one ES module (rolldown; the contract's `switchyard:` and `wasi:` imports stay imports), and
// componentizes that with componentize-js against the WIT in DIR (default: the contract this
// SDK carries in wit/, or in the repository, the repository's wit/). Global `fetch` goes
// through wasi:http, so the gateway's allow-list decides it. The tools (componentize-js, jco,
// rolldown, typescript) are found as Node finds packages: beside the SDK when it is installed
// into a project, in its own node_modules in the repository.
// `types` writes the contract's TypeScript types into wit-types/ (build does it when they are
// missing or older than the contract).

import { componentize } from '@bytecodealliance/componentize-js';
import { rolldown } from 'rolldown';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const sdk = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const defaultWit = existsSync(join(sdk, 'wit/handler.wit')) ? join(sdk, 'wit') : resolve(sdk, '../../wit');

/** Where package `name` is installed, looking up from the SDK as Node's resolution does. */
function packageDir(name) {
  for (let dir = sdk; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dirname(dir) === dir) throw new Error(`${name} is not installed: run npm install in the project`);
  }
}

function usage(message) {
  if (message) console.error(`error: ${message}`);
  console.error('usage: switchyard-plugin build ENTRY -o OUT.wasm [--wit DIR] [--no-check]\n       switchyard-plugin types [--wit DIR]');
  process.exit(2);
}

function parse(argv) {
  const args = { positional: [], wit: defaultWit, out: undefined, check: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-o' || a === '--out') args.out = argv[++i];
    else if (a === '--wit') args.wit = resolve(argv[++i] ?? usage('--wit needs a directory'));
    else if (a === '--no-check') args.check = false;
    else if (a.startsWith('-')) usage(`unknown option ${a}`);
    else args.positional.push(a);
  }
  return args;
}

/** Writes the contract's TypeScript types (jco guest-types) into wit-types/. */
function types(wit) {
  const jco = join(packageDir('@bytecodealliance/jco'), 'dist/jco.js');
  const out = join(sdk, 'wit-types');
  execFileSync(process.execPath, [jco, 'guest-types', wit, '-n', 'handler', '-o', out, '-q'], { stdio: 'inherit' });
  return out;
}

/** Type-checks a TypeScript entry against the SDK's and the contract's types. */
function check(entry, wit) {
  const written = join(sdk, 'wit-types/handler.d.ts');
  const version = readFileSync(join(wit, 'handler.wit'), 'utf8').match(/^package\s+[^@\s]+@([^;\s]+);/m)?.[1] ?? '';
  // The types name the contract's version in their imports: stale ones are written again.
  if (!existsSync(written) || !readFileSync(written, 'utf8').includes(`@${version}'`)) types(wit);
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-tsc-'));
  const tsconfig = {
    compilerOptions: {
      strict: true, noEmit: true, skipLibCheck: true, target: 'ES2022', module: 'ES2022',
      moduleResolution: 'bundler', lib: ['ES2022', 'DOM'], types: [],
      paths: { '@switchyard/plugin-sdk': [join(sdk, 'index.d.ts')] },
    },
    files: [resolve(entry), join(sdk, 'wit-types/handler.d.ts')],
  };
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(tsconfig));
  try {
    execFileSync(process.execPath, [join(packageDir('typescript'), 'bin/tsc'), '-p', join(dir, 'tsconfig.json')], { stdio: 'inherit' });
  } catch {
    console.error('error: the plugin does not type-check (see above)');
    process.exit(1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One ES module: the entry with the SDK (and any relative imports) bundled in. */
async function bundle(entry, dir) {
  const build = await rolldown({
    input: resolve(entry),
    external: [/^switchyard:/, /^wasi:/],
    resolve: { alias: { '@switchyard/plugin-sdk': join(sdk, 'index.js') } },
    logLevel: 'warn',
  });
  const file = join(dir, 'plugin.js');
  await build.write({ file, format: 'esm' });
  await build.close();
  return file;
}

async function main() {
  const [command, ...rest] = process.argv.slice(2);
  const args = parse(rest);
  if (command === 'types') {
    console.log(`types written to ${types(args.wit)}`);
    return;
  }
  if (command !== 'build') usage(command ? `unknown command ${command}` : 'a command is needed');
  const [entry] = args.positional;
  if (!entry || !args.out) usage('build needs an entry and -o OUT.wasm');
  if (!existsSync(join(args.wit, 'handler.wit'))) usage(`${args.wit} has no handler.wit`);
  const started = Date.now();
  if (args.check && /\.(ts|mts)$/.test(entry)) check(entry, args.wit);
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-plugin-'));
  try {
    const sourcePath = await bundle(entry, dir);
    const { component } = await componentize({ sourcePath, witPath: args.wit, worldName: 'handler' });
    mkdirSync(dirname(resolve(args.out)), { recursive: true });
    writeFileSync(args.out, component);
    const size = (component.length / 1e6).toFixed(1);
    console.log(`built ${args.out} (${size} MB) from ${entry} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(`error: ${e?.message ?? e}`);
  process.exit(1);
});
