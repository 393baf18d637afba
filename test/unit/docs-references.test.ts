// Every Markdown file names only what exists — links and anchors, repository paths, migrations, environment
// variables, stage settings, each Lambda's settings and secrets, metrics, HTTP routes, error codes, npm
// scripts, CLI commands and options, code symbols — and the tables that list all of a kind list all of it.
// The code is the source of truth each time (test/support/docs.ts finds both sides by pattern). Alarms and
// stack outputs need a synth: test/infra/docs-references.test.ts.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LAMBDA_ENVIRONMENT, loadStackSettings, SETTING_KEYS } from '../../lib/stack-settings.js';
import { CONFIG_NAMES, LAMBDA_NEEDS, SECRET_SOURCES } from '../../src/config.js';
import { LOCAL_MODE_NAMES } from '../../src/local/local-database.js';
import { MetricName, MetricService } from '../../src/metrics.js';
import {
  cliInSource,
  cliUsesIn,
  codeWords,
  commandTableRows,
  declaredNames,
  docs,
  environmentNamesInCode,
  type Found,
  headingAnchors,
  links,
  matches,
  npmScriptsIn,
  pathExists,
  pathsIn,
  read,
  repoPaths,
  tableRows,
  where,
} from '../support/docs.js';

/** Each check counts what it looked at, so a pattern that silently stops matching fails too. */
function expectChecked(found: readonly unknown[], atLeast: number) {
  expect(found.length).toBeGreaterThanOrEqual(atLeast);
}

const docByPath = new Map(docs.map((d) => [d.path, d]));

it('reads every Markdown file of the repository', () => {
  expect(docs.map((d) => d.path)).toEqual(
    expect.arrayContaining(['README.md', 'DEPLOYMENT.md', 'bench/README.md']),
  );
  expect(docs.filter((d) => d.path.startsWith('docs/')).length).toBeGreaterThanOrEqual(10);
});

describe('links', () => {
  const all = docs.flatMap((doc) => links(doc).map((l) => ({ ...l, from: doc })));
  const local = all.filter((l) => !/^[a-z][a-z0-9+.-]*:/i.test(l.target));

  it('point at files that exist, and at headings that exist in them', () => {
    expectChecked(local, 40);
    const broken = local.filter((l) => {
      const [file = '', anchor] = l.target.split('#');
      const target =
        file === ''
          ? l.from.path
          : path.posix.normalize(path.posix.join(path.posix.dirname(l.from.path), file));
      if (!repoPaths.has(target) && !repoPaths.has(`${target.replace(/\/$/, '')}/`)) return true;
      if (anchor === undefined) return false;
      const doc = docByPath.get(target);
      return doc === undefined || !headingAnchors(doc).has(decodeURIComponent(anchor));
    });
    expect(broken.map(where)).toEqual([]);
  });
});

describe('repository paths', () => {
  // In prose, code and fenced blocks alike: `src/…`, `lib/…`, `test/…`, `migrations/…`, `scripts/…`,
  // `bench/…`, `config/…`, `docs/…`, `.github/…`, `.ci/…`, `bin/…` (test/support/docs.ts, PATH_ROOTS).
  // `<placeholder>`, `*` and `{a,b}` are wildcards that must still match a path (`config/<stage>.json`).
  const named = docs.flatMap((doc) =>
    doc.text
      .split('\n')
      .flatMap((text, i) => pathsIn(text).map((p) => ({ doc: doc.path, line: i + 1, text: p }))),
  );

  // A stage's settings file is the operator's to write (only config/dev.json is committed), so
  // `config/prod.json` names one as `config/<stage>.json` does.
  const stageFile = /^config\/[a-z](?:-?[a-z0-9])*\.json$/;

  it('exist', () => {
    expectChecked(named, 250);
    expect(named.filter((p) => !pathExists(p.text) && !stageFile.test(p.text)).map(where)).toEqual([]);
  });
});

describe('migrations', () => {
  // migrations/index.ts's keys, read rather than imported (importing loads Kysely: a quarter second).
  const names = [...read('migrations/index.ts').matchAll(/^\s*'(\d{4}-\d\d-\d\dT\d{4}_\w+)': \w+,$/gm)].map(
    (m) => m[1] as string,
  );
  // A migration renamed after it landed (src/db/migrator.ts, RENAMED) is still a name a database may hold.
  const renamed = [...read('src/db/migrator.ts').matchAll(/^\s*'(\d{4}-\d\d-\d\dT\d{4}_\w+)': '/gm)].map(
    (m) => m[1] as string,
  );

  it('are named by their full names', () => {
    expect(names).toHaveLength([...repoPaths].filter((p) => /^migrations\/\d{4}.*\.ts$/.test(p)).length);
    const named = docs.flatMap((doc) => matches(doc, doc.text, /\b\d{4}-\d\d-\d\dT\d{4}_[a-z0-9_]+/g));
    expectChecked(named, 15);
    expect(renamed.length).toBeGreaterThan(0);
    expect(named.filter((m) => !names.includes(m.text) && !renamed.includes(m.text)).map(where)).toEqual([]);
  });

  it('or by a short form that names exactly one (`migration 1350`, `migration 2026-12-01T1900`)', () => {
    const short = docs.flatMap((doc) => [
      ...matches(doc, doc.text, /\b[Mm]igrations? `?(\d{4}-\d\d-\d\dT\d{4}|\d{4})(?![\w-])/g),
      ...doc.spans
        .filter((s) => /^\d{4}-\d\d-\d\dT\d{4}$/.test(s.text))
        .map((s) => ({ ...s, match: [s.text, s.text] })),
    ]);
    expectChecked(short, 6);
    const unknown = short.filter((m) => {
      const prefix = m.match[1] as string;
      const of = names.filter((n) =>
        prefix.length === 4 ? n.slice(11, 15) === prefix : n.startsWith(`${prefix}_`),
      );
      return of.length !== 1;
    });
    expect(unknown.map(where)).toEqual([]);
  });
});

describe('environment variables', () => {
  // UPPER_SNAKE_CASE names in docs: config.ts's and local mode's variables, the names the code and its
  // tooling read or set (process.env, a Lambda's environment, the workflows, npm scripts), or constants the
  // code declares (`WEBHOOK_RETRY`).
  const known = new Set([
    ...CONFIG_NAMES,
    ...LOCAL_MODE_NAMES,
    ...environmentNamesInCode,
    // Node's own, which no code here reads: bench/README.md says why the bench's V8 flags cannot go in it.
    'NODE_OPTIONS',
  ]);
  // A CloudFormation stack status (`UPDATE_ROLLBACK_FAILED`) is upper snake case but no variable.
  const stackStatus = /^(?:[A-Z]+_)+(?:COMPLETE|FAILED|IN_PROGRESS)$/;
  const named = docs.flatMap((doc) =>
    matches(doc, doc.text, /(?<![\w/.-])[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+(?![\w/-])/g),
  );

  it('are ones the code knows', () => {
    expectChecked(named, 200);
    const unknown = named.filter(
      (n) => !known.has(n.text) && !declaredNames.has(n.text) && !stackStatus.test(n.text),
    );
    expect(unknown.map(where)).toEqual([]);
  });
});

describe('stage settings', () => {
  const rows = tableRows(docByPath.get('DEPLOYMENT.md')?.prose ?? '', /^\| key /m).map(
    ([keys = '', defaults = '', goesTo = '']) => ({
      keys: [...keys.matchAll(/`(\w+)`/g)].map((m) => m[1] as string),
      defaults,
      goesTo,
    }),
  );
  const documented = rows.flatMap((r) => r.keys);

  it("DEPLOYMENT.md's table has every key of lib/stack-settings.ts and only those", () => {
    expectChecked(documented, 20);
    expect([...documented].sort()).toEqual(SETTING_KEYS.filter((k) => k !== 'stage').sort());
  });

  it('says which variable each key becomes (LAMBDA_ENVIRONMENT), or CDK', () => {
    const wrong = rows.filter(({ keys, goesTo }) => {
      const variables = keys.map((k) => (LAMBDA_ENVIRONMENT as Record<string, string>)[k]);
      if (variables.every((v) => v === undefined)) return goesTo !== 'CDK';
      // `SEND_WINDOW_START/END` names SEND_WINDOW_START and SEND_WINDOW_END.
      const cell = goesTo.replace(/`/g, '').replace(/^(\w+_)(\w+)\/(\w+)$/, '$1$2 $1$3');
      return cell.split(/\s+/).sort().join(' ') !== [...variables].sort().join(' ');
    });
    expect(wrong.map((r) => `${r.keys.join(', ')}: ${r.goesTo}`)).toEqual([]);
  });

  it("gives each key's default as the stack resolves it", () => {
    const settings = loadStackSettings({
      stage: 'dev',
      overrides: { alertEmail: 'x@positivity.dev' },
      configDir: '/nonexistent',
    });
    const resolved = (key: string): string => {
      const variable = (LAMBDA_ENVIRONMENT as Record<string, string>)[key];
      if (variable) return settings.lambdaEnvironment[variable] ?? '—';
      if (key === 'alertEmail') return '— (required)';
      const value = (settings as unknown as Record<string, unknown>)[key];
      return value === undefined ? '—' : String(value);
    };
    const wrong = rows.filter(
      ({ keys, defaults }) => defaults.replace(/`/g, '') !== keys.map(resolved).join(', '),
    );
    expect(
      wrong.map(
        (r) => `${r.keys.join(', ')}: documented ${r.defaults}, resolved ${r.keys.map(resolved).join(', ')}`,
      ),
    ).toEqual([]);
  });

  it('are the only settings docs set (`-c key=value`, `--set key=value`, a stage file, "setting `key`")', () => {
    const keys = new Set<string>(SETTING_KEYS);
    const named: (Found & { key: string })[] = docs.flatMap((doc) => [
      ...matches(doc, doc.text, /(?:^|\s)(?:-c|--set) ([a-z]\w*)=/gm).map((m) => ({
        ...m,
        key: m.match[1] as string,
      })),
      ...matches(doc, doc.prose, /\bsetting `([a-z]\w*)`|`([a-z]\w*)` setting\b/g).map((m) => ({
        ...m,
        key: (m.match[1] ?? m.match[2]) as string,
      })),
      // A JSON object with any setting among its keys is a stage file: all its keys must be settings.
      ...matches(doc, doc.fenced, /\{[^{}]*\}/g)
        .filter((m) => [...m.text.matchAll(/"(\w+)":/g)].some((k) => keys.has(k[1] as string)))
        .flatMap((m) => [...m.text.matchAll(/"(\w+)":/g)].map((k) => ({ ...m, key: k[1] as string }))),
    ]);
    expectChecked(named, 25);
    expect(
      named.filter((n) => n.key !== 'key' && !keys.has(n.key)).map((n) => `${where(n)}: ${n.key}`),
    ).toEqual([]);
  });
});

describe("each Lambda's settings and secrets", () => {
  const configuration = docByPath.get('docs/configuration.md')?.prose ?? '';
  const lambdas = Object.keys(LAMBDA_NEEDS) as (keyof typeof LAMBDA_NEEDS)[];

  it("docs/configuration.md's table is LAMBDA_NEEDS: what each requires and which secrets it reads", () => {
    const rows = tableRows(configuration, /^\| Lambda /m).flatMap(
      ([names = '', requires = '', secrets = '']) =>
        names.split(/,\s*/).map((name) => ({
          name,
          // What a Lambda requires is outside parentheses; "(+ a Twilio sender)" notes are not LAMBDA_NEEDS.
          requires: [...requires.replace(/\([^)]*\)/g, '').matchAll(/`(\w+)`/g)]
            .map((m) => m[1] as string)
            .sort(),
          secrets: secrets.split(/,\s*/).sort(),
        })),
    );
    expect(rows.map((r) => r.name).sort()).toEqual([...lambdas].sort());
    expect(rows).toEqual(
      expect.arrayContaining(
        lambdas.map((name) => ({
          name,
          requires: [...LAMBDA_NEEDS[name].settings].sort(),
          secrets: [...LAMBDA_NEEDS[name].secrets].sort(),
        })),
      ),
    );
  });

  it("docs/configuration.md's secrets table is SECRET_SOURCES: each secret's ARN setting and local variables", () => {
    const rows = tableRows(configuration, /^\| secret /m).map(([kind = '', arn = '', , local = '']) => ({
      kind,
      arn: arn.replace(/`/g, ''),
      env: [...local.matchAll(/`(\w+)`/g)].map((m) => m[1]),
    }));
    expect(rows).toEqual(
      Object.entries(SECRET_SOURCES).map(([kind, { arn, env }]) => ({ kind, arn, env: [...env] })),
    );
  });

  it("DEPLOYMENT.md's secrets table names the Lambdas that read each", () => {
    const deployment = docByPath.get('DEPLOYMENT.md')?.prose ?? '';
    const rows = tableRows(deployment, /^\| secret \(name\) /m).filter(([name = '']) =>
      name.includes('/<stage>/'),
    );
    expect(rows.map(([name]) => /<stage>\/(\w+)/.exec(name ?? '')?.[1]).sort()).toEqual([
      'api',
      'openai',
      'twilio',
    ]);
    const wrong = rows.filter(([name = '', , readBy = '']) => {
      const kind = /<stage>\/(\w+)/.exec(name)?.[1] as string;
      const readers = lambdas.filter((l) => (LAMBDA_NEEDS[l].secrets as readonly string[]).includes(kind));
      return readBy.split(/,\s*/).sort().join(', ') !== readers.sort().join(', ');
    });
    expect(wrong.map((r) => r.join(' | '))).toEqual([]);
  });
});

describe('metrics', () => {
  const names: string[] = Object.values(MetricName);

  it('named with dimensions (`MessagesSent{sender}`, `RateLimitHits{budget}`) are in MetricName', () => {
    const named = docs.flatMap((doc) => matches(doc, doc.text, /(?<![\w/])([A-Z][A-Za-z]+)\{[\w=, /-]*\}/g));
    expectChecked(named, 15);
    expect(named.filter((m) => !names.includes(m.match[1] as string)).map(where)).toEqual([]);
  });

  it("are each listed in docs/observability.md's names and in its table of who publishes what", () => {
    const doc = docByPath.get('docs/observability.md');
    const list = doc?.prose.split('Names (`MetricName`):')[1]?.split('\n\n')[0] ?? '';
    // Each name, not what the parentheses after it mention (`PlanSummary`).
    const outsideParentheses = (text: string) => text.replace(/\([^()]*\)/g, '');
    const listed = [...outsideParentheses(list).matchAll(/`([A-Z]\w+)`/g)].map((m) => m[1]);
    expect([...new Set(listed)].sort()).toEqual([...names].sort());
    const table = tableRows(doc?.prose ?? '', /^\| Lambda \(`service` dimension\)/m);
    const published = table.flatMap(([, metrics = '']) =>
      [...outsideParentheses(metrics).matchAll(/`([A-Z]\w+)(?:\{[^}]*\})?`/g)].map((m) => m[1]),
    );
    expect([...new Set(published)].sort()).toEqual([...names].sort());
    // One row per `service` dimension value (MetricService).
    expect(table.map(([service]) => service).sort()).toEqual(Object.values(MetricService).sort());
  });
});

describe('HTTP routes', () => {
  // What the deployed HTTP API routes (lib/constructs/webhook-api.ts, read rather than imported: CDK is slow to
  // load), as `METHOD /path`.
  const routes = [
    ...read('lib/constructs/webhook-api.ts').matchAll(/\{ path: '([^']+)', methods: \[([A-Z, ]+)\] \}/g),
  ].flatMap((m) => (m[2] as string).split(/,\s*/).map((method) => `${method} ${m[1]}`));
  const METHOD = '(?:GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS)';
  // `DELETE /api/subscribers/:phone`, `GET`, `HEAD /health`, `POST …/{phone}/send-now`.
  const named = docs.flatMap((doc) =>
    matches(
      doc,
      doc.prose,
      new RegExp(`\\b((?:${METHOD}\`?,\\s*\`?)*)(${METHOD}) ((?:/|…)[^\\s\`),|]*)`, 'g'),
    ).flatMap((m) => {
      const path = (m.match[3] as string).replace(/:(\w+)/g, '{$1}');
      const methods = [...(m.match[1] as string).matchAll(new RegExp(METHOD, 'g')), [m.match[2]]].map(
        (x) => x[0],
      );
      // The sentence it is in: docs name unrouted requests to say they get a 404.
      const at = m.match.index ?? 0;
      const sentence = doc.prose.slice(doc.prose.lastIndexOf('. ', at), doc.prose.indexOf('. ', at));
      return methods.map((method) => ({
        ...m,
        text: `${method} ${path}`,
        unrouted: sentence.includes('404'),
      }));
    }),
  );
  const isRoute = (text: string) => {
    const pattern = new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace('…', '.*')}$`);
    return routes.some((r) => pattern.test(r));
  };

  it('named in docs are routes of the HTTP API', () => {
    expect(routes.length).toBeGreaterThan(10);
    expectChecked(named, 30);
    // An abbreviated path that matches none of ours is another API's (Twilio's `GET …/Messages/{Sid}.json`).
    const ours = named.filter((n) => !n.unrouted && !n.text.includes(' …'));
    expect(ours.filter((n) => !isRoute(n.text)).map(where)).toEqual([]);
  });

  it('are each described in a doc', () => {
    const described = new Set(named.map((n) => n.text));
    expect(routes.filter((r) => !described.has(r))).toEqual([]);
  });
});

describe('error codes', () => {
  // Read from the source (src/services/operator-views.ts does not export the CLI's schema).
  const views = read('src/services/operator-views.ts');
  const cli = read('src/local/cli.ts');
  const enumOf = (name: string) =>
    [
      ...(new RegExp(`const ${name} = z\\.enum\\(\\[([^\\]]*)\\]`).exec(views)?.[1] ?? '').matchAll(
        /'(\w+)'/g,
      ),
    ].map((m) => m[1] as string);
  const cliCodes = enumOf('ErrorCodeSchema');
  const apiCodes = enumOf('ApiErrorCodeSchema');
  const exitTwo = [
    ...(/BAD_INPUT_CODES[^=]*= new Set\(\[([^\]]*)\]/.exec(cli)?.[1] ?? '').matchAll(/'(\w+)'/g),
  ].map((m) => m[1] as string);
  const operations = docByPath.get('docs/operations.md')?.prose ?? '';
  const rowsUnder = (header: RegExp) => tableRows(operations, header);

  it("docs/operations.md's exit code table has every CLI error code, each with its exit code", () => {
    expect(cliCodes.length).toBeGreaterThan(8);
    expect(exitTwo).toContain('bad_input');
    const rows = rowsUnder(/^\| exit /m).flatMap(([exit = '', codes = '']) =>
      [...codes.matchAll(/`(\w+)`/g)].map((m) => `${m[1]} ${exit}`),
    );
    expect(rows.sort()).toEqual(cliCodes.map((c) => `${c} ${exitTwo.includes(c) ? 2 : 1}`).sort());
  });

  it("docs/operations.md's API error table has every code the API answers with", () => {
    expect(apiCodes.length).toBeGreaterThan(5);
    const rows = rowsUnder(/^\| code /m).map(([code = '']) => code.replace(/`/g, ''));
    expect(rows.sort()).toEqual([...apiCodes].sort());
  });

  it("docs/local-mode.md names every code the CLI's own errors map to, and only CLI codes", () => {
    const explain = cli.slice(
      cli.indexOf('function explain('),
      cli.indexOf('\n}\n', cli.indexOf('function explain(')),
    );
    const mapped = [...explain.matchAll(/(?:bad|refused)\('(\w+)'\)|code: '(\w+)'/g)].map(
      (m) => m[1] ?? m[2],
    );
    expect(mapped.length).toBeGreaterThan(4);
    const local = docByPath.get('docs/local-mode.md')?.prose ?? '';
    const listed = [...(/`code` one of ([^.]*)\./.exec(local)?.[1] ?? '').matchAll(/`(\w+)`/g)].map(
      (m) => m[1] as string,
    );
    expect(listed.filter((c) => !cliCodes.includes(c))).toEqual([]);
    expect(mapped.filter((c) => !listed.includes(c as string))).toEqual([]);
  });
});

describe('commands', () => {
  const scripts = Object.keys(JSON.parse(read('package.json')).scripts);
  const { commands, subcommands, options } = cliInSource();

  it('name only npm scripts package.json has', () => {
    const named = docs.flatMap((doc) =>
      doc.text
        .split('\n')
        .flatMap((text, i) => npmScriptsIn(text).map((s) => ({ doc: doc.path, line: i + 1, text: s }))),
    );
    expectChecked(named, 20);
    expect(named.filter((n) => !scripts.includes(n.text)).map(where)).toEqual([]);
  });

  // In code only: prose says "a positivity note" too.
  const uses = docs.flatMap((doc) => [
    ...doc.spans.flatMap((s) => cliUsesIn(s.text).map((use) => ({ ...s, ...use }))),
    ...doc.fenced
      .split('\n')
      .flatMap((line, i) =>
        cliUsesIn(line).map((use) => ({ doc: doc.path, line: i + 1, text: line.trim(), ...use })),
      ),
    ...commandTableRows(doc.prose).map((use) => ({ doc: doc.path, text: use.phrase, ...use })),
  ]);
  /** `subscribers add` for a subcommand, else the command alone (the next word is prose or an argument). */
  const commandOf = (phrase: string) => {
    const [command = '', sub = ''] = phrase.split(' ');
    return subcommands[command] ? `${command} ${sub}`.trim() : command;
  };

  it('name only positivity commands src/local/cli.ts has', () => {
    expect(commands).toContain('capacity');
    expect(subcommands.subscribers).toContain('add');
    expectChecked(uses, 45);
    const unknown = uses.filter(({ phrase }) => {
      const [command = '', sub] = phrase.split(' ');
      if (!commands.includes(command)) return true;
      const subs = subcommands[command];
      return subs !== undefined && sub !== undefined && !subs.includes(sub);
    });
    expect(unknown.map(where)).toEqual([]);
  });

  it("give each command only options it has (its own, the program's, --help)", () => {
    const flagged = uses.filter((u) => u.flags.length > 0);
    expectChecked(flagged, 10);
    const wrong = flagged.filter(
      (u) =>
        !u.flags.every((f) => [...(options[commandOf(u.phrase)] ?? []), ...(options[''] ?? [])].includes(f)),
    );
    expect(wrong.map((u) => `${where(u)}: ${u.flags.join(' ')}`)).toEqual([]);
  });

  it('run only the bench sections bench/run.ts has, and bench/README.md describes each', () => {
    const sections = JSON.parse(
      (/const SECTIONS = (\[[^\]]*\])/.exec(read('bench/run.ts'))?.[1] ?? '[]').replace(/'/g, '"'),
    ) as string[];
    expect(sections.length).toBeGreaterThan(3);
    const only = docs.flatMap((doc) => matches(doc, doc.text, /--only ([a-z,]+)/g));
    expectChecked(only, 5);
    expect(
      only.filter((o) => !(o.match[1] as string).split(',').every((s) => sections.includes(s))).map(where),
    ).toEqual([]);
    const described = tableRows(docByPath.get('bench/README.md')?.prose ?? '', /^\| section /m).map(
      ([section]) => section,
    );
    expect(sections.filter((s) => !described.includes(s))).toEqual([]);
  });
});

describe('code symbols', () => {
  // A compound identifier (camelCase with a capital, snake_case, or PascalCase of two words) in inline
  // code names something of ours; plain words (`get()`, `cron(…)`) are left alone.
  const compound = /^(?:[a-z][a-z0-9]*[A-Z]\w*|[a-z][a-z0-9]*(?:_[a-z0-9]+)+|[A-Z][a-z0-9]+[A-Z]\w*)$/;
  const spans = docs.flatMap((doc) => doc.spans);

  it('called as `name(…)` are declared in src/, lib/, bin/, scripts/, bench/ or a migration', () => {
    const calls = spans
      .map((s) => ({ ...s, name: /^(?:await |new )?([A-Za-z_$][\w$]*)\(/.exec(s.text)?.[1] ?? '' }))
      .filter((s) => compound.test(s.name));
    expectChecked(calls, 8);
    expect(calls.filter((c) => !declaredNames.has(c.name)).map(where)).toEqual([]);
  });

  it('named alone (`planDay`, `receive_inbound_sms`, `MetricsSink`) occur in the code', () => {
    const keys = new Set<string>([
      ...SETTING_KEYS,
      // Outside names the docs explain and no code here spells: PostgreSQL's (bench/README.md), the RDS Proxy
      // metric and the CDK property DEPLOYMENT.md points to, and the secret releases before the split had.
      'pg_stat_wal',
      'commit_delay',
      'DatabaseConnectionsCurrentlySessionPinned',
      'allowMajorVersionUpgrade',
      'AppSecret',
    ]);
    const alone = spans.filter((s) => compound.test(s.text));
    expectChecked(alone, 400);
    expect(alone.filter((s) => !keys.has(s.text) && !codeWords.has(s.text)).map(where)).toEqual([]);
  });

  it('said to be in a file (`checkMessage` in `src/domain/message-quality.ts`) are in that file', () => {
    const placed = docs.flatMap((doc) =>
      matches(
        doc,
        doc.prose,
        /`([A-Za-z_$][\w$.]*)(?:\([^`]*\))?` (?:in|from|\(|of) `?((?:src|lib|bin|scripts|bench|migrations|test)\/[\w./-]+\.\w+)`?/g,
      ),
    );
    expectChecked(placed, 8);
    const missing = placed.filter((p) => {
      const file = p.match[2] as string;
      const name = (p.match[1] as string).split('.')[0] as string;
      return !repoPaths.has(file) || !new RegExp(`\\b${name.replace(/\$/g, '\\$')}\\b`).test(read(file));
    });
    expect(missing.map(where)).toEqual([]);
  });
});
