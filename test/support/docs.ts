// Reads the repository's Markdown and its code for test/unit/docs-references.test.ts (and the CLI phrases
// for readme-commands.test.ts): what each doc names, and what the code has, both found by pattern, never
// typed in by hand.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Not the repository's own files: dependencies, build output, local data (.gitignore), git itself. */
const IGNORED = new Set([
  '.git',
  'node_modules',
  'dist',
  'cdk.out',
  '.data',
  'coverage',
  'scratch',
  'test-results',
]);

/** Every file and directory of the repository, relative and with `/`, directories with a trailing `/`. */
export const repoPaths: ReadonlySet<string> = (() => {
  const paths = new Set<string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
      if (IGNORED.has(entry.name)) continue;
      const relative = dir ? `${dir}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        paths.add(`${relative}/`);
        walk(relative);
      } else paths.add(relative);
    }
  };
  walk('');
  return paths;
})();

export const read = (relative: string) => readFileSync(path.join(ROOT, relative), 'utf8');

/** A text with its line numbers, so a finding can say where it is. */
export interface Found {
  doc: string;
  line: number;
  text: string;
}

export const where = (f: Found) => `${f.doc}:${f.line} ${f.text}`;

export interface Doc {
  path: string;
  text: string;
  /** The text outside fenced code blocks; the fences' lines are blank, so line numbers stay. */
  prose: string;
  /** Inline code (`…`, and `<code>…</code>` in HTML), whitespace runs made one space. */
  spans: Found[];
  /** Fenced code blocks' contents (same length and lines as the text, the rest blank). */
  fenced: string;
}

/** Every Markdown file of the repository (README.md, DEPLOYMENT.md, docs/, bench/README.md, …). */
export const docs: readonly Doc[] = [...repoPaths]
  .filter((p) => p.endsWith('.md'))
  .sort()
  .map((p) => parseDoc(p, read(p)));

function lineAt(text: string, index: number): number {
  return text.slice(0, index).split('\n').length;
}

function parseDoc(docPath: string, text: string): Doc {
  const lines = text.split('\n');
  let fence: string | undefined;
  const proseLines: string[] = [];
  const fencedLines: string[] = [];
  for (const line of lines) {
    const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
    if (fence === undefined && marker) {
      fence = marker;
      proseLines.push('');
      fencedLines.push('');
    } else if (fence !== undefined && marker?.startsWith(fence)) {
      fence = undefined;
      proseLines.push('');
      fencedLines.push('');
    } else if (fence !== undefined) {
      proseLines.push('');
      fencedLines.push(line);
    } else {
      proseLines.push(line);
      fencedLines.push('');
    }
  }
  const prose = proseLines.join('\n');
  const spans: Found[] = [];
  for (const m of prose.matchAll(/(?<!`)(`+)(?!`)([\s\S]*?[^`])\1(?!`)|<code>([\s\S]*?)<\/code>/g))
    spans.push({
      doc: docPath,
      line: lineAt(prose, m.index),
      text: (m[2] ?? m[3] ?? '').replace(/\s+/g, ' ').trim(),
    });
  return { path: docPath, text, prose, spans, fenced: fencedLines.join('\n') };
}

/** The prose with inline code blanked out (same length), for what only counts outside code. */
function proseWithoutCode(doc: Doc): string {
  return doc.prose.replace(/(`+)[\s\S]*?[^`]\1(?!`)|<code>[\s\S]*?<\/code>/g, (s) =>
    s.replace(/[^\n]/g, ' '),
  );
}

/** Each match of `pattern` in `text` with its line, for reports. */
export function matches(doc: Doc, text: string, pattern: RegExp): (Found & { match: RegExpMatchArray })[] {
  return [...text.matchAll(pattern)].map((m) => ({
    doc: doc.path,
    line: lineAt(text, m.index ?? 0),
    text: m[0],
    match: m,
  }));
}

/**
 * The body rows of the first Markdown table whose header row matches `header` (`/^\| key /m`), each as its
 * trimmed cells.
 */
export function tableRows(text: string, header: RegExp): string[][] {
  return (text.split(header)[1]?.split('\n\n')[0] ?? '')
    .split('\n')
    .slice(2)
    .map((row) =>
      row
        .split(/(?<!\\)\|/)
        .slice(1, -1)
        .map((cell) => cell.trim()),
    );
}

// ── Headings and links ──

/**
 * GitHub's anchor for a heading: the rendered text lower-cased, punctuation dropped (letters, digits,
 * `_`, `-` and spaces stay), spaces made hyphens; a repeated anchor gets `-1`, `-2`, ….
 */
export function headingAnchors(doc: Doc): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const m of doc.prose.matchAll(/^#{1,6}[ \t]+(.+?)[ \t#]*$/gm)) {
    const rendered = (m[1] as string)
      .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
      .replace(/`([^`]*)`/g, '$1')
      .replace(/<[^>]+>/g, '');
    const slug = rendered
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
      .replace(/ /g, '-');
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}

/** Markdown links and images, `[text](target)`, outside code. */
export function links(doc: Doc) {
  return matches(
    doc,
    proseWithoutCode(doc),
    /!?\[(?:[^\]]|\][^(])*?\]\(<?([^)\s>]+)>?(?:\s+"[^"]*")?\)/g,
  ).map((f) => ({ ...f, target: f.match[1] as string }));
}

// ── Repository paths ──

/** Top-level folders whose paths docs name; a path is checked when it starts with one of them. */
const PATH_ROOTS = [
  'src',
  'lib',
  'bin',
  'test',
  'migrations',
  'scripts',
  'bench',
  'config',
  'docs',
  '.github',
  '.ci',
];

const PATH_PATTERN = new RegExp(
  `(?<![\\w./@~-])(?:${PATH_ROOTS.map((r) => r.replace('.', '\\.')).join('|')})/[^\\s\`'"()\\[\\];|]*`,
  'g',
);

/** Repository paths a text names (`src/config.ts`, `config/<stage>.json`, `migrations/*.ts`, `lib/`). */
export function pathsIn(text: string): string[] {
  return [...text.matchAll(PATH_PATTERN)].map((m) => m[0].replace(/[.,:]+$/, '')).filter((p) => p !== '');
}

/**
 * Whether a named path exists. `<placeholder>` stands for one path segment (`config/<stage>.json`), `*` for
 * any characters but `/`, `{a,b}` for either, `…` for anything: such a pattern must match at least one
 * path, so a glob naming nothing still fails.
 */
export function pathExists(named: string): boolean {
  if (repoPaths.has(named) || repoPaths.has(`${named}/`)) return true;
  if (!/[<*{…]/.test(named)) return false;
  const source = named
    .split(/(<[^>]*>|\*\*?|\{[^}]*\}|…)/)
    .map((part, i) => {
      if (i % 2 === 0) return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      if (part.startsWith('<') || part === '*') return '[^/]+';
      if (part === '**' || part === '…') return '.*';
      return `(?:${part
        .slice(1, -1)
        .split(',')
        .map((a) => a.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
        .join('|')})`;
    })
    .join('');
  const pattern = new RegExp(`^${source}/?$`);
  return [...repoPaths].some((p) => pattern.test(p));
}

// ── Code: what it declares, mentions and reads from the environment ──

/** Where the application's own code lives (the symbols docs may name). */
const CODE_ROOTS = ['src/', 'lib/', 'bin/', 'scripts/', 'bench/', 'migrations/'];
const isCode = (p: string) => /\.(ts|mjs|sh)$/.test(p) && CODE_ROOTS.some((r) => p.startsWith(r));

const codeFiles: ReadonlyMap<string, string> = new Map(
  [...repoPaths].filter(isCode).map((p) => [p, read(p)]),
);

/** Files that set or read environment variables besides the code: CI, the workflows, npm scripts. */
const ENVIRONMENT_FILES = [...repoPaths].filter(
  (p) =>
    !p.endsWith('/') && (p.startsWith('.github/workflows/') || p.startsWith('.ci/') || p === 'package.json'),
);

/**
 * Every identifier-like word anywhere in the code, its tests and tooling (comments and strings included):
 * what a doc may name in passing (a Twilio schema a contract test reads, an AWS metric the stack alarms on).
 */
export const codeWords: ReadonlySet<string> = (() => {
  const words = new Set<string>();
  for (const p of repoPaths)
    if (/\.(ts|mjs|sh|json|yml)$/.test(p) && p !== 'package-lock.json' && p !== 'bench/results.json')
      for (const word of read(p).split(/[^\w$]+/)) words.add(word);
  return words;
})();

/**
 * Names the code declares or imports: functions, classes, types, constants, variables, methods, object and
 * interface members, and the functions its migrations create in SQL.
 */
export const declaredNames: ReadonlySet<string> = (() => {
  const names = new Set<string>();
  const id = '[A-Za-z_$][\\w$]*';
  const patterns = [
    new RegExp(`\\b(?:function\\*?|class|interface|type|enum|const|let|var|namespace)\\s+(${id})`, 'g'),
    new RegExp(
      `^\\s*(?:(?:export|public|private|protected|readonly|static|async|override|get|set|declare)\\s+)*(${id})\\??\\s*(?:<[^>\\n]*>)?\\s*[(:]`,
      'gm',
    ),
    new RegExp(`import\\s+(?:type\\s+)?(?:\\*\\s+as\\s+)?(${id})\\s+from`, 'g'),
    /create\s+(?:or\s+replace\s+)?function\s+(?:\w+\.)?([a-z_][a-z0-9_]*)/gi,
  ];
  for (const text of codeFiles.values()) {
    for (const pattern of patterns) for (const m of text.matchAll(pattern)) names.add(m[1] as string);
    // `import { a, b as c }`, `const { a, b } =`: every name in the braces.
    for (const m of text.matchAll(/(?:import\s+(?:type\s+)?|(?:const|let)\s+)\{([^}]*)\}/g))
      for (const n of (m[1] as string).match(/[A-Za-z_$][\w$]*/g) ?? []) names.add(n);
  }
  return names;
})();

/**
 * Environment variables the code and its tooling read or set by name: `process.env.X`, `env.X`,
 * `env['X']`, `vars.X` (workflows), an `X:` key (a Lambda's environment in lib/, a workflow's env), an
 * `X=` assignment (npm scripts, shell).
 */
export const environmentNamesInCode: ReadonlySet<string> = (() => {
  const name = '([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)';
  const patterns = [
    new RegExp(`\\b(?:env|environment|vars)\\??\\.${name}\\b`, 'g'),
    new RegExp(`\\benv\\[['"]${name}['"]\\]`, 'g'),
    new RegExp(`^\\s*['"]?${name}['"]?\\s*:`, 'gm'),
    new RegExp(`(?:^|[\\s"'(])${name}=`, 'gm'),
  ];
  const names = new Set<string>();
  const texts = [...codeFiles.values(), ...[...ENVIRONMENT_FILES].map(read)];
  for (const text of texts)
    for (const pattern of patterns) for (const m of text.matchAll(pattern)) names.add(m[1] as string);
  return names;
})();

// ── The CLI and npm scripts ──

/** `npm run <script>`, `npm start`, `npm test` a text names. */
export function npmScriptsIn(text: string): string[] {
  return [...text.matchAll(/\bnpm (?:run ([a-z][a-z-]*(?::[a-z-]+)*)|(start|test)\b)/g)].map(
    (m) => (m[1] ?? m[2]) as string,
  );
}

/** `positivity <command>` and `positivity <command> <subcommand>` a text names (`--api …` first skipped). */
export function cliPhrasesIn(text: string): string[] {
  return cliUsesIn(text).map((use) => use.phrase);
}

/**
 * Each `positivity …` in a text: the command (and the word after it, which may be a subcommand) and the
 * `--options` written after it, up to the end of the line or a shell separator.
 */
export function cliUsesIn(text: string): { phrase: string; flags: string[] }[] {
  return [
    ...text.matchAll(/\bpositivity (?:--api (?:<[^>]*>|\S+) )?([a-z][a-z-]*(?: [a-z][a-z-]*)?)([^|;&#\n]*)/g),
  ].map((m) => ({
    phrase: m[1] as string,
    flags: [...(m[2] as string).matchAll(/(?<![\w-])--[a-z][a-z-]*/g)].map((f) => f[0]),
  }));
}

/** The first column of a command table: `| \`subscribers add <phone>\` | …` under a `| command |` header. */
export function commandTableRows(text: string): { phrase: string; flags: string[]; line: number }[] {
  return [...text.matchAll(/^\| `([a-z][a-z-]*(?: [a-z][a-z-]*)?)(?=[ `])([^`]*)`/gm)]
    .filter((m) => isCommandTableRow(text, m.index ?? 0))
    .map((m) => ({
      phrase: m[1] as string,
      flags: [...(m[2] as string).matchAll(/(?<![\w-])--[a-z][a-z-]*/g)].map((f) => f[0]),
      line: lineAt(text, m.index ?? 0),
    }));
}

/** A table row under a header whose first column is `command`. */
function isCommandTableRow(text: string, index: number): boolean {
  const before = text.slice(0, index).split('\n');
  for (let i = before.length - 2; i >= 0; i--) {
    const line = before[i] as string;
    if (!line.startsWith('|')) return false;
    if (/^\|\s*command\s*\|/.test(line)) return true;
  }
  return false;
}

export interface CliInSource {
  /** Top-level commands (`plan`, `subscribers`). */
  commands: string[];
  /** Each command's subcommands (`subscribers` → `add`, `list`, …). */
  subcommands: Record<string, string[]>;
  /** Each command's options, keyed `plan` or `subscribers add`; `''` holds the program's own (`--api`). */
  options: Record<string, string[]>;
}

/**
 * The CLI as src/local/cli.ts declares it (`program.command('plan')`, `subscribers.command('add <phone>')`,
 * `.option('--date <YYYY-MM-DD>', …)`, `jsonOption(…)` for `--json`; commander adds `--help`). Read from the
 * source because importing or running the CLI takes seconds; readme-commands.test.ts checks the commands
 * against `positivity --help`.
 */
export function cliInSource(): CliInSource {
  const source = read('src/local/cli.ts');
  // `const subscribers = program.command('subscribers')`: which variable holds which command.
  const holds = new Map(
    [...source.matchAll(/const (\w+) = program\s*\.command\('([a-z][a-z-]*)/g)].map((m) => [m[1], m[2]]),
  );
  const flagsIn = (text: string) =>
    [...text.matchAll(/\.option\(\s*'(--[a-z-]+)/g)].map((m) => m[1] as string);
  const starts = [...source.matchAll(/(jsonOption\(\s*)?\b(\w+)\s*\.command\('([a-z][a-z-]*)/g)];
  const cli: CliInSource = {
    commands: [],
    subcommands: {},
    options: { '': flagsIn(source.slice(source.indexOf("new Command('positivity')"), starts[0]?.index)) },
  };
  starts.forEach((m, i) => {
    const [, json, parent, name] = m as unknown as [string, string | undefined, string, string];
    const parentCommand = holds.get(parent) ?? '';
    if (parent === 'program') cli.commands.push(name);
    else cli.subcommands[parentCommand] = [...(cli.subcommands[parentCommand] ?? []), name];
    const segment = source.slice(m.index, starts[i + 1]?.index);
    cli.options[parent === 'program' ? name : `${parentCommand} ${name}`] = [
      ...(json ? ['--json'] : []),
      ...flagsIn(segment),
      '--help',
    ];
  });
  return cli;
}
