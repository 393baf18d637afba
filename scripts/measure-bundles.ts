// `npm run measure:bundles [-- --json]`: bundles every Lambda (scripts/bundle.ts), then reports each bundle's
// size, its largest inputs from the esbuild metafile, and its cold import time: a fresh `node` process timing
// `await import(bundle)`, the median of several runs (RUNS, default 7). Module-level code runs too (config,
// clients), with a local DATABASE_URL and no secret ARNs so nothing reaches AWS. The CPU time of the import
// is reported beside it: on a shared machine it moves less with load than the wall-clock time does.
// Targets (issues #8, #11): ≤ 1.5 MB and ≤ 250 ms each. bench/ calls `measureBundles()`.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { LAMBDA_ENTRIES, type LambdaName } from '../lib/lambda-bundling.js';
import { bundle, kib } from './bundle.js';

const run = promisify(execFile);

/** 1.5 MB, read as decimal megabytes (the stricter reading: 1,500,000 bytes ≈ 1464.8 KiB). */
export const BUNDLE_BYTES_TARGET = 1_500_000;
export const IMPORT_MS_TARGET = 250;

const ENV = {
  PATH: process.env.PATH,
  NODE_ENV: 'production',
  LOG_LEVEL: 'SILENT',
  DATABASE_URL: 'postgres://measure@127.0.0.1:1/measure',
  PUBLIC_BASE_URL: 'https://example.execute-api.us-east-1.amazonaws.com',
};

export interface BundleMeasurement {
  name: LambdaName;
  bytes: number;
  /** Median wall-clock milliseconds of `await import(bundle)` in a fresh node process. */
  importMsMedian: number;
  importMsMin: number;
  importMsMax: number;
  /** Median user+system CPU milliseconds spent by that import. */
  importCpuMsMedian: number;
  /** Largest inputs by package, bytes in the output. */
  largest: { input: string; bytes: number }[];
  meetsTargets: boolean;
}

export interface MeasureOptions {
  runs?: number;
  names?: LambdaName[];
}

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

/** One cold import of `file` in a fresh node process: wall-clock and CPU milliseconds. */
export async function coldImport(file: string): Promise<{ ms: number; cpuMs: number }> {
  const script = `const c = process.cpuUsage(); const t = performance.now(); await import(${JSON.stringify(pathToFileURL(file).href)}); const ms = performance.now() - t; const u = process.cpuUsage(c); console.log(JSON.stringify({ ms, cpuMs: (u.user + u.system) / 1000 }));`;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { env: ENV });
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as { ms: number; cpuMs: number };
}

async function largestInputs(file: string, count = 5): Promise<{ input: string; bytes: number }[]> {
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
    .map(([input, bytes]) => ({ input, bytes }));
}

/** Bundles and measures each Lambda. Throws when a bundle cannot be imported. */
export async function measureBundles(options: MeasureOptions = {}): Promise<BundleMeasurement[]> {
  const runs = options.runs ?? Number(process.env.RUNS ?? 7);
  const names = options.names ?? (Object.keys(LAMBDA_ENTRIES) as LambdaName[]);
  const results: BundleMeasurement[] = [];
  for (const name of names) {
    const { file, bytes } = await bundle(name);
    const samples: { ms: number; cpuMs: number }[] = [];
    for (let i = 0; i < runs; i++) {
      try {
        samples.push(await coldImport(file));
      } catch (error) {
        const stderr = (error as { stderr?: string }).stderr ?? '';
        const line = stderr.split('\n').find((l) => /Error/.test(l)) ?? String(error);
        throw new Error(`${name}: importing ${file} failed: ${line}`);
      }
    }
    const ms = samples.map((s) => s.ms);
    const importMsMedian = median(ms);
    results.push({
      name,
      bytes,
      importMsMedian,
      importMsMin: Math.min(...ms),
      importMsMax: Math.max(...ms),
      importCpuMsMedian: median(samples.map((s) => s.cpuMs)),
      largest: await largestInputs(file),
      meetsTargets: bytes <= BUNDLE_BYTES_TARGET && importMsMedian <= IMPORT_MS_TARGET,
    });
  }
  return results;
}

const met = (ok: boolean) => (ok ? 'met' : 'NOT met');

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const json = process.argv.includes('--json');
  const runs = Number(process.env.RUNS ?? 7);
  const results = await measureBundles({ runs });
  const context = { node: process.version, cpus: os.cpus().length, loadAverage1m: os.loadavg()[0], runs };
  if (json) {
    console.log(JSON.stringify({ ...context, results }, null, 2));
  } else {
    console.log(
      `node ${context.node}, ${context.cpus} CPUs, load average ${context.loadAverage1m?.toFixed(2)}; ` +
        `${runs} cold imports per bundle: median wall ms (min–max), median CPU ms`,
    );
    console.log(`targets: ≤ ${BUNDLE_BYTES_TARGET.toLocaleString('en')} bytes, ≤ ${IMPORT_MS_TARGET} ms\n`);
    for (const r of results) {
      const size = `${kib(r.bytes).padStart(11)} (${met(r.bytes <= BUNDLE_BYTES_TARGET)})`;
      const time = `${r.importMsMedian.toFixed(1)} ms (${r.importMsMin.toFixed(1)}–${r.importMsMax.toFixed(1)}), cpu ${r.importCpuMsMedian.toFixed(1)} ms (${met(r.importMsMedian <= IMPORT_MS_TARGET)})`;
      console.log(`${r.name.padEnd(9)} ${size}  import ${time}`);
      console.log(
        `${''.padEnd(9)} largest: ${r.largest.map((l) => `${l.input} ${kib(l.bytes)}`).join(', ')}`,
      );
    }
  }
}
