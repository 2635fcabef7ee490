// Runs a wasm32-wasip1 program under Node's WASI (V8, the engine Envoy runs Wasm filters in).
// Usage: node run.mjs PROGRAM.wasm [ARGS...]
import { readFile } from 'node:fs/promises';
import { argv } from 'node:process';
import { WASI } from 'node:wasi';

process.removeAllListeners('warning'); // WASI is "experimental": say nothing about it.
const [program, ...args] = argv.slice(2);
const wasi = new WASI({ version: 'preview1', args: [program, ...args] });
const module = await WebAssembly.compile(await readFile(program));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
wasi.start(instance);
