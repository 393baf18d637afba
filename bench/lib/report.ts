// Rows of the benchmark table: each figure next to its baseline from the same run, with its target.
import { writeFile } from 'node:fs/promises';

export interface BenchRow {
  section: string;
  metric: string;
  value: number;
  unit: string;
  /** The same work done the simplest possible way, measured in this run. */
  baseline?: { label: string; value: number; unit: string };
  /** value ÷ baseline (or whichever ratio the target speaks of). */
  ratio?: number;
  target?: { text: string; met: boolean };
  note?: string;
}

const fmt = (n: number) =>
  Number.isInteger(n)
    ? n.toLocaleString('en-US')
    : n.toLocaleString('en-US', { maximumFractionDigits: n < 10 ? 3 : 1 });

export function renderTable(rows: BenchRow[]): string {
  const header = ['section', 'metric', 'value', 'baseline', 'ratio', 'target', 'met'];
  const body = rows.map((r) => [
    r.section,
    r.metric,
    `${fmt(r.value)} ${r.unit}`,
    r.baseline ? `${fmt(r.baseline.value)} ${r.baseline.unit} (${r.baseline.label})` : '',
    r.ratio === undefined ? '' : `${fmt(r.ratio)}×`,
    r.target?.text ?? '',
    r.target ? (r.target.met ? 'met' : 'NOT MET') : '',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]?.length ?? 0)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

export async function writeResults(
  file: string,
  rows: BenchRow[],
  meta: Record<string, unknown>,
): Promise<void> {
  await writeFile(file, `${JSON.stringify({ ...meta, rows }, null, 2)}\n`);
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}
