// `npm run build`: bundles every Lambda entry exactly as the CDK stack does (lib/lambda-bundling.ts) into
// dist/lambda/<name>/index.mjs with an esbuild metafile beside it, and prints each bundle's size.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';
import {
  BUNDLE_OPTIONS,
  entryPath,
  LAMBDA_ENTRIES,
  type LambdaName,
  PROJECT_ROOT,
} from '../lib/lambda-bundling.js';

export const DIST = path.join(PROJECT_ROOT, 'dist', 'lambda');

export async function bundle(name: LambdaName): Promise<{ name: LambdaName; file: string; bytes: number }> {
  const outdir = path.join(DIST, name);
  await rm(outdir, { recursive: true, force: true });
  await mkdir(outdir, { recursive: true });
  const file = path.join(outdir, 'index.mjs');
  const result = await esbuild.build({
    entryPoints: [entryPath(name)],
    outfile: file,
    bundle: true,
    format: BUNDLE_OPTIONS.format,
    platform: BUNDLE_OPTIONS.platform,
    target: BUNDLE_OPTIONS.target,
    minify: BUNDLE_OPTIONS.minify,
    mainFields: [...BUNDLE_OPTIONS.mainFields],
    banner: { js: BUNDLE_OPTIONS.banner },
    external: [...BUNDLE_OPTIONS.external],
    metafile: true,
    logLevel: 'warning',
  });
  await writeFile(path.join(outdir, 'metafile.json'), JSON.stringify(result.metafile));
  const bytes = result.metafile.outputs[path.relative(process.cwd(), file)]?.bytes;
  if (bytes === undefined) throw new Error(`esbuild reported no output for ${name}`);
  return { name, file, bytes };
}

export const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const results = [];
  for (const name of Object.keys(LAMBDA_ENTRIES) as LambdaName[]) results.push(await bundle(name));
  for (const r of results)
    console.log(`${r.name.padEnd(10)} ${kib(r.bytes).padStart(12)}  ${path.relative(PROJECT_ROOT, r.file)}`);
}
