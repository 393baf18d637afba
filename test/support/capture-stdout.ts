// What the code under test prints (JSON logs, EMF metrics): each test's stdout chunks, captured instead of
// printed. Registers its own beforeEach/afterEach, so call it where those hooks belong (top level or a describe).
import { afterEach, beforeEach, vi } from 'vitest';

/**
 * The chunks written to process.stdout (and, with `stderr`, to process.stderr, in one list) during the
 * running test; emptied before each test.
 */
export function captureStdout(options: { stderr?: boolean } = {}): string[] {
  const chunks: string[] = [];
  beforeEach(() => {
    chunks.length = 0;
    const capture = ((chunk: unknown) => {
      chunks.push(String(chunk));
      return true;
    }) as never;
    vi.spyOn(process.stdout, 'write').mockImplementation(capture);
    if (options.stderr) vi.spyOn(process.stderr, 'write').mockImplementation(capture);
  });
  afterEach(() => vi.restoreAllMocks());
  return chunks;
}
