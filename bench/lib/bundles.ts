// Lambda bundles: each entry bundled exactly as deployed (scripts/bundle.ts with lib/lambda-bundling.ts's
// options), its size, and its cold import time — a fresh `node` timing `await import(bundle)`, median of
// several runs — against an empty handler bundled the same way (what Node and the banner cost alone).
// When scripts/measure-bundles.ts exports measureBundles(), swap measureBundle() for it.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import * as esbuild from 'esbuild';
import { BUNDLE_OPTIONS, LAMBDA_ENTRIES, type LambdaName, PROJECT_ROOT } from '../../lib/lambda-bundling.js';
import { bundle } from '../../scripts/bundle.js';
import { type BenchRow, median } from './report.js';

const run = promisify(execFile);
const MB = 1_000_000;
const ENV = {
  PATH: process.env.PATH,
  NODE_ENV: 'production',
  LOG_LEVEL: 'SILENT',
  DATABASE_URL: 'postgres://bench@127.0.0.1:1/bench',
  PUBLIC_BASE_URL: 'https://bench.example.com',
};

async function importMs(file: string): Promise<number> {
  const script = `const t = performance.now(); await import(${JSON.stringify(pathToFileURL(file).href)}); console.log(performance.now() - t);`;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { env: ENV });
  const ms = Number(stdout.trim().split('\n').at(-1));
  if (!Number.isFinite(ms)) throw new Error(`no timing from importing ${file}: ${stdout}`);
  return ms;
}

async function medianImportMs(file: string, runs: number): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) times.push(await importMs(file));
  return median(times);
}

interface BundleMeasure {
  name: string;
  bytes: number;
  importMs: number;
}

async function measureBundle(name: LambdaName, runs: number): Promise<BundleMeasure> {
  const { file, bytes } = await bundle(name);
  return { name, bytes, importMs: await medianImportMs(file, runs) };
}

/** An empty handler, bundled with the same options. */
async function emptyBundle(runs: number): Promise<BundleMeasure> {
  const dir = await mkdtemp(path.join(PROJECT_ROOT, 'dist', 'bench-empty-'));
  try {
    const entry = path.join(dir, 'entry.ts');
    const outfile = path.join(dir, 'index.mjs');
    await writeFile(entry, 'export const handler = async () => ({ ok: true });\n');
    const result = await esbuild.build({
      entryPoints: [entry],
      outfile,
      bundle: true,
      format: BUNDLE_OPTIONS.format,
      platform: BUNDLE_OPTIONS.platform,
      target: BUNDLE_OPTIONS.target,
      minify: BUNDLE_OPTIONS.minify,
      banner: { js: BUNDLE_OPTIONS.banner },
      metafile: true,
      logLevel: 'warning',
    });
    const bytes = Object.values(result.metafile.outputs)[0]?.bytes ?? 0;
    return { name: 'empty', bytes, importMs: await medianImportMs(outfile, runs) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function benchBundles(runs: number): Promise<BenchRow[]> {
  await mkdir(path.join(PROJECT_ROOT, 'dist'), { recursive: true });
  const empty = await emptyBundle(runs);
  const rows: BenchRow[] = [];
  for (const name of Object.keys(LAMBDA_ENTRIES) as LambdaName[]) {
    const m = await measureBundle(name, runs);
    rows.push(
      {
        section: 'bundles',
        metric: `${name} size`,
        value: m.bytes / MB,
        unit: 'MB',
        baseline: { label: 'empty handler', value: empty.bytes / 1000, unit: 'kB' },
        target: { text: '≤ 1.5 MB', met: m.bytes <= 1.5 * MB },
      },
      {
        section: 'bundles',
        metric: `${name} cold import (median of ${runs})`,
        value: m.importMs,
        unit: 'ms',
        baseline: { label: 'empty handler', value: empty.importMs, unit: 'ms' },
        ratio: m.importMs / empty.importMs,
        target: { text: '≤ 250 ms', met: m.importMs <= 250 },
      },
    );
  }
  return rows;
}
