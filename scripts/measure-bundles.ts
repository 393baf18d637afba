// `npm run measure:bundles`: bundles every Lambda (scripts/bundle.ts), then reports each bundle's size, its
// largest inputs from the esbuild metafile, and its cold import time: a fresh `node` process timing
// `await import(bundle)`, the median of several runs. Module-level code runs too (config, clients), with a
// local DATABASE_URL and no secret ARNs so nothing reaches AWS.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { LAMBDA_ENTRIES, type LambdaName } from '../lib/lambda-bundling.js';
import { bundle, kib } from './bundle.js';

const run = promisify(execFile);
const RUNS = Number(process.env.RUNS ?? 7);
const ENV = {
  PATH: process.env.PATH,
  NODE_ENV: 'production',
  LOG_LEVEL: 'SILENT',
  DATABASE_URL: 'postgres://measure@127.0.0.1:1/measure',
  PUBLIC_BASE_URL: 'https://example.execute-api.us-east-1.amazonaws.com',
};

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

async function importMs(file: string): Promise<number> {
  const script = `const t = performance.now(); await import(${JSON.stringify(pathToFileURL(file).href)}); console.log(performance.now() - t);`;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { env: ENV });
  return Number(stdout.trim().split('\n').at(-1));
}

async function largestInputs(file: string, count = 4): Promise<string> {
  const meta = JSON.parse(await readFile(path.join(path.dirname(file), 'metafile.json'), 'utf8')) as {
    outputs: Record<string, { inputs: Record<string, { bytesInOutput: number }> }>;
  };
  const byPackage = new Map<string, number>();
  for (const output of Object.values(meta.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const m = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/);
      const key = m?.[1] ?? 'app code';
      byPackage.set(key, (byPackage.get(key) ?? 0) + bytesInOutput);
    }
  }
  return [...byPackage]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([k, v]) => `${k} ${kib(v)}`)
    .join(', ');
}

console.log(`node ${process.version}, ${RUNS} cold imports per bundle (median, min–max)\n`);
for (const name of Object.keys(LAMBDA_ENTRIES) as LambdaName[]) {
  const { file, bytes } = await bundle(name);
  const times: number[] = [];
  let failure = '';
  for (let i = 0; i < RUNS; i++) {
    try {
      times.push(await importMs(file));
    } catch (error) {
      failure =
        (error as { stderr?: string }).stderr?.split('\n').find((l) => /Error/.test(l)) ?? String(error);
      break;
    }
  }
  const timing = failure
    ? `import failed: ${failure}`
    : `${median(times).toFixed(1)} ms (${Math.min(...times).toFixed(1)}–${Math.max(...times).toFixed(1)})`;
  console.log(`${name.padEnd(9)} ${kib(bytes).padStart(11)}  import ${timing}`);
  console.log(`${''.padEnd(9)} largest: ${await largestInputs(file)}`);
}
