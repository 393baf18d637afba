// The alarms and stack outputs the docs name are the synthesized template's (the rest of what docs name is
// checked without a synth: test/unit/docs-references.test.ts). Every alarm being in docs/observability.md's
// table is monitoring.test.ts's check.
import { beforeAll, describe, expect, it } from 'vitest';
import { declaredNames, docs, type Found, matches, where } from '../support/docs.js';
import { resources, synthesize, TEMPLATE_VARIANTS } from './support.js';

const alarms = new Set<string>();
const outputs = new Set<string>();
const alarmCounts = new Set<number>();

beforeAll(() => {
  // Every variant, so an alarm or output only some stages have still counts.
  for (const context of Object.values(TEMPLATE_VARIANTS)) {
    const { stack, template: synthesized } = synthesize({ context });
    const template = synthesized();
    const prefix = `daily-positivity-${stack.node.tryGetContext('stage')}-`;
    const names = Object.values(resources(template, 'AWS::CloudWatch::Alarm')).map((a) =>
      String(a.Properties?.AlarmName).replace(prefix, ''),
    );
    for (const name of names) alarms.add(name);
    alarmCounts.add(names.length);
    for (const name of Object.keys(template.toJSON().Outputs ?? {})) outputs.add(name);
  }
});

describe('alarms', () => {
  // An alarm is named in inline code next to the word (`planner-work-left` alarm, alarm
  // `webhook-signature-refused`, "… pages"), as a Lambda's `<label>-errors`, in the alarm table, or in full
  // after `--alarm-name` / `ALARM:`.
  const named: Found[] = docs.flatMap((doc) => {
    const tableStart = doc.prose.search(/^\| alarm /m);
    const tableEnd = tableStart < 0 ? -1 : doc.prose.indexOf('\n\n', tableStart);
    return [
      ...matches(doc, doc.prose, /`([a-z0-9]+(?:-[a-z0-9]+)+)`/g)
        .filter((m) => {
          const at = m.match.index ?? 0;
          const around = doc.prose.slice(Math.max(0, at - 60), at + m.text.length + 60);
          const inAlarmTable = at > tableStart && at < tableEnd;
          return /alarm|pages|fires/i.test(around) || m.text.endsWith('-errors`') || inAlarmTable;
        })
        .map((m) => ({ ...m, text: m.match[1] as string })),
      ...matches(doc, doc.text, /(?:--alarm-name|ALARM:) daily-positivity-[a-z0-9]+-([a-z0-9-]+)/g).map(
        (m) => ({
          ...m,
          text: m.match[1] as string,
        }),
      ),
    ];
  });

  it('named in docs are alarms of the stack', () => {
    expect(named.length).toBeGreaterThanOrEqual(35);
    expect(alarms.size).toBeGreaterThan(10);
    expect(named.filter((n) => !alarms.has(n.text)).map(where)).toEqual([]);
  });

  it('are counted right where docs count them (the capacity report, the cost table)', () => {
    const counted = docs.flatMap((doc) => matches(doc, doc.text, /CloudWatch[,:] (\d+) alarms/g));
    expect(counted.length).toBeGreaterThan(0);
    expect([...alarmCounts]).toHaveLength(1);
    expect(counted.filter((c) => !alarmCounts.has(Number(c.match[1]))).map(where)).toEqual([]);
  });
});

describe('outputs', () => {
  // In inline code, alone or as a placeholder (`<PublicBaseUrl>`): a PascalCase name ending in Url, Arn or
  // Name that the code does not declare itself (`MetricName`). `<old …>` names what an earlier release had.
  const named = docs.flatMap((doc) =>
    doc.spans.flatMap((span) =>
      [
        ...span.text
          .replace(/<old [^>]*>/g, '')
          .matchAll(/(?<![\w.-])([A-Z][a-z]+[A-Za-z]*(?:Url|Arn|Name))(?![\w.-])/g),
      ]
        .map((m) => ({ ...span, text: m[1] as string }))
        .filter((n) => !declaredNames.has(n.text)),
    ),
  );

  it('named in docs are outputs of the stack', () => {
    expect(named.length).toBeGreaterThanOrEqual(20);
    expect(named.filter((n) => !outputs.has(n.text)).map(where)).toEqual([]);
  });

  it("are each in DEPLOYMENT.md's table of outputs", () => {
    const deployment = docs.find((d) => d.path === 'DEPLOYMENT.md')?.prose ?? '';
    const table = deployment.split(/^\s*\| output /m)[1]?.split('\n\n')[0] ?? '';
    const listed = table
      .split('\n')
      .flatMap((row) => [...(row.split('|')[1] ?? '').matchAll(/`(\w+)`/g)].map((m) => m[1]));
    expect([...listed].sort()).toEqual([...outputs].sort());
  });
});
