// What a synthesized CloudWatch alarm does with given datapoints, so a test can state an alarm's behaviour
// (these hours of metrics page, those do not) instead of its JSON. A small metric-math evaluator for what
// the alarms use (FILL, IF, + - * /, comparisons, AND/OR/NOT) and CloudWatch's M-of-N evaluation. Anything
// else in an expression throws, so an alarm that starts using a new function cannot be judged wrongly here.

/** One period's datapoint of a metric, or undefined when the metric has none in that period. */
type Datapoint = number | undefined;

/**
 * Datapoints per period, oldest first, keyed `MetricName{dimension=value,…}` (dimensions sorted by name).
 * A metric left out has no datapoint in any period (what CloudWatch sees when nothing published it).
 */
export type Datapoints = Record<string, Datapoint[]>;

type AlarmState = 'OK' | 'ALARM';

interface Query {
  Id: string;
  Expression?: string;
  ReturnData?: boolean;
  MetricStat?: { Metric: { MetricName: string; Dimensions?: { Name: string; Value: unknown }[] } };
}

type Node =
  | { kind: 'number'; value: number }
  | { kind: 'id'; name: string }
  | { kind: 'call'; name: string; args: Node[] }
  | { kind: 'unary'; op: string; operand: Node }
  | { kind: 'binary'; op: string; left: Node; right: Node };

const TOKEN = /\s*(\d+(?:\.\d+)?|[A-Za-z_]\w*|==|!=|>=|<=|&&|\|\||[-+*/(),<>!])/y;

function tokenize(expression: string): string[] {
  const tokens: string[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < expression.trimEnd().length) {
    const at = TOKEN.lastIndex;
    const match = TOKEN.exec(expression);
    if (!match?.[1]) throw new Error(`cannot read ${JSON.stringify(expression)} at ${at}`);
    tokens.push(match[1]);
  }
  return tokens;
}

/** Precedence climbing, loosest first: OR, AND, comparison, + -, * /. */
const LEVELS = [
  ['OR', '||'],
  ['AND', '&&'],
  ['==', '!=', '>=', '<=', '>', '<'],
  ['+', '-'],
  ['*', '/'],
];

function parse(expression: string): Node {
  const tokens = tokenize(expression);
  let i = 0;
  const peek = () => tokens[i];
  const take = (expected?: string) => {
    const token = tokens[i++];
    if (token === undefined || (expected !== undefined && token !== expected))
      throw new Error(`expected ${expected ?? 'more'} in ${JSON.stringify(expression)}, got ${token}`);
    return token;
  };
  const binary = (level: number): Node => {
    const ops = LEVELS[level];
    if (!ops) return unary();
    let left = binary(level + 1);
    while (ops.includes(peek()?.toUpperCase() ?? '')) {
      const op = take().toUpperCase();
      left = { kind: 'binary', op, left, right: binary(level + 1) };
    }
    return left;
  };
  const unary = (): Node => {
    const op = peek()?.toUpperCase();
    if (op !== '-' && op !== '!' && op !== 'NOT') return primary();
    take();
    return { kind: 'unary', op, operand: unary() };
  };
  const primary = (): Node => {
    const token = take();
    if (token === '(') {
      const inner = binary(0);
      take(')');
      return inner;
    }
    if (/^\d/.test(token)) return { kind: 'number', value: Number(token) };
    if (peek() !== '(') return { kind: 'id', name: token };
    take('(');
    const args: Node[] = [];
    while (peek() !== ')') {
      args.push(binary(0));
      if (peek() === ',') take(',');
    }
    take(')');
    return { kind: 'call', name: token.toUpperCase(), args };
  };
  const tree = binary(0);
  if (i !== tokens.length) throw new Error(`unexpected ${tokens[i]} in ${JSON.stringify(expression)}`);
  return tree;
}

const truth = (b: boolean) => (b ? 1 : 0);
const BINARY: Record<string, (a: number, b: number) => number> = {
  '+': (a, b) => a + b,
  '-': (a, b) => a - b,
  '*': (a, b) => a * b,
  '/': (a, b) => a / b,
  '==': (a, b) => truth(a === b),
  '!=': (a, b) => truth(a !== b),
  '>=': (a, b) => truth(a >= b),
  '<=': (a, b) => truth(a <= b),
  '>': (a, b) => truth(a > b),
  '<': (a, b) => truth(a < b),
  AND: (a, b) => truth(a !== 0 && b !== 0),
  '&&': (a, b) => truth(a !== 0 && b !== 0),
  OR: (a, b) => truth(a !== 0 || b !== 0),
  '||': (a, b) => truth(a !== 0 || b !== 0),
};

/**
 * One period's value. Series combine datapoint by datapoint, so a period where any operand has no datapoint
 * has none (CloudWatch's behaviour, and why the alarms FILL their inputs). FILL fills a period only when some
 * metric of the alarm has a datapoint in it: the cautious reading of CloudWatch, where a query none of whose
 * metrics has data returns nothing, so an alarm must not count on a datapoint made from nothing.
 */
function evaluate(node: Node, lookup: (id: string) => Datapoint, anyData: boolean): Datapoint {
  const recurse = (n: Node) => evaluate(n, lookup, anyData);
  switch (node.kind) {
    case 'number':
      return node.value;
    case 'id':
      return lookup(node.name);
    case 'unary': {
      const v = recurse(node.operand);
      if (v === undefined) return undefined;
      return node.op === '-' ? -v : truth(v === 0);
    }
    case 'binary': {
      const [a, b] = [recurse(node.left), recurse(node.right)];
      return a === undefined || b === undefined ? undefined : BINARY[node.op]?.(a, b);
    }
    case 'call': {
      const args = node.args.map(recurse);
      if (node.name === 'FILL' && args.length === 2 && node.args[1]?.kind === 'number')
        return args[0] ?? (anyData ? args[1] : undefined);
      if (node.name === 'IF' && args.length === 3) {
        const [condition, then, otherwise] = args;
        return condition === undefined ? undefined : condition !== 0 ? then : otherwise;
      }
      throw new Error(`the alarm simulator does not know ${node.name}/${args.length}`);
    }
  }
}

const metricKey = (metric: NonNullable<Query['MetricStat']>['Metric']) =>
  `${metric.MetricName}{${(metric.Dimensions ?? [])
    .map((d) => `${d.Name}=${String(d.Value)}`)
    .sort()
    .join(',')}}`;

/** The metrics an alarm reads, as `Datapoints` keys. */
export function alarmInputs(alarm: Record<string, unknown>): string[] {
  return ((alarm.Metrics ?? []) as Query[]).flatMap((q) =>
    q.MetricStat ? [metricKey(q.MetricStat.Metric)] : [],
  );
}

/** The value the alarm compares with its threshold, per period (one per datapoint given). */
function alarmValues(alarm: Record<string, unknown>, datapoints: Datapoints): Datapoint[] {
  const queries = (alarm.Metrics ?? []) as Query[];
  const inputs = alarmInputs(alarm);
  for (const key of Object.keys(datapoints))
    if (!inputs.includes(key))
      throw new Error(`the alarm does not read ${key}; it reads ${inputs.join(' ')}`);
  const periods = Math.max(0, ...Object.values(datapoints).map((d) => d.length));
  const byId = new Map(queries.map((q) => [q.Id, q]));
  const returned = queries.filter((q) => q.ReturnData !== false);
  if (returned.length !== 1 || !returned[0]?.Expression) throw new Error('expected one returned expression');
  const trees = new Map(queries.flatMap((q) => (q.Expression ? [[q.Id, parse(q.Expression)] as const] : [])));

  return Array.from({ length: periods }, (_, period) => {
    const anyData = Object.values(datapoints).some((d) => d[period] !== undefined);
    const lookup = (id: string): Datapoint => {
      const query = byId.get(id);
      if (!query) throw new Error(`unknown id ${id}`);
      if (query.MetricStat) return datapoints[metricKey(query.MetricStat.Metric)]?.[period];
      const tree = trees.get(id);
      if (!tree) throw new Error(`${id} is neither a metric nor an expression`);
      return evaluate(tree, lookup, anyData);
    };
    return lookup(returned[0]?.Id ?? '');
  });
}

const COMPARE: Record<string, (value: number, threshold: number) => boolean> = {
  GreaterThanOrEqualToThreshold: (v, t) => v >= t,
  GreaterThanThreshold: (v, t) => v > t,
  LessThanThreshold: (v, t) => v < t,
  LessThanOrEqualToThreshold: (v, t) => v <= t,
};

/**
 * The alarm's state after each period: ALARM when at least DatapointsToAlarm of the last EvaluationPeriods
 * datapoints breach. A period with no datapoint (before the first one too) breaches only when
 * TreatMissingData is `breaching`.
 */
export function alarmStates(alarm: Record<string, unknown>, datapoints: Datapoints): AlarmState[] {
  const compare = COMPARE[String(alarm.ComparisonOperator)];
  if (!compare) throw new Error(`unknown comparison ${String(alarm.ComparisonOperator)}`);
  const missing = String(alarm.TreatMissingData ?? 'missing');
  if (missing !== 'breaching' && missing !== 'notBreaching')
    throw new Error(`the alarm simulator does not model TreatMissingData ${missing}`);
  const threshold = Number(alarm.Threshold);
  const evaluationPeriods = Number(alarm.EvaluationPeriods);
  const toAlarm = Number(alarm.DatapointsToAlarm ?? evaluationPeriods);
  const breaches = alarmValues(alarm, datapoints).map((v) =>
    v === undefined ? missing === 'breaching' : compare(v, threshold),
  );
  return breaches.map((_, end) => {
    let count = 0;
    for (let i = end - evaluationPeriods + 1; i <= end; i++)
      if (i < 0 ? missing === 'breaching' : breaches[i]) count++;
    return count >= toAlarm ? 'ALARM' : 'OK';
  });
}
