// GitHub Actions expressions (`${{ … }}` and `if:`), enough of them to read the workflows as GitHub would:
// which contexts an expression names, and what a condition evaluates to for a given event. Literals, context
// paths (`a.b`, `a['b']`), `!`, comparisons, `==`/`!=` with GitHub's loose equality (strings compared
// ignoring case, other types as numbers), and `&&`/`||` returning an operand. A function call throws:
// evaluating one wrongly would be worse than refusing.
type Value = string | number | boolean | null | Value[] | { [key: string]: Value };

type Token =
  | { kind: 'string'; value: string }
  | { kind: 'number'; value: number }
  | { kind: 'name'; value: string }
  | { kind: 'op'; value: string };

function tokenize(expression: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < expression.length) {
    const rest = expression.slice(i);
    const space = /^\s+/.exec(rest);
    if (space) {
      i += space[0].length;
      continue;
    }
    const string = /^'((?:[^']|'')*)'/.exec(rest);
    const number = /^-?\d+(\.\d+)?/.exec(rest);
    const name = /^[A-Za-z_][\w-]*/.exec(rest);
    const op = /^(==|!=|<=|>=|&&|\|\||[!<>().[\],*])/.exec(rest);
    if (string) tokens.push({ kind: 'string', value: (string[1] as string).replaceAll("''", "'") });
    else if (number) tokens.push({ kind: 'number', value: Number(number[0]) });
    else if (name) tokens.push({ kind: 'name', value: name[0] });
    else if (op) tokens.push({ kind: 'op', value: op[0] });
    else throw new SyntaxError(`unexpected ${JSON.stringify(rest.slice(0, 10))} in ${expression}`);
    i += (string ?? number ?? name ?? op)?.[0].length ?? 1;
  }
  return tokens;
}

const LITERALS: Record<string, Value> = { true: true, false: false, null: null };

/** The context paths an expression reads, e.g. [['matrix', 'node'], ['github', 'event', 'workflow_run']]. */
export function contextPaths(expression: string): string[][] {
  const tokens = tokenize(expression);
  const paths: string[][] = [];
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i] as Token;
    const before = tokens[i - 1];
    const after = tokens[i + 1];
    if (token.kind !== 'name' || token.value in LITERALS) continue;
    if (before?.kind === 'op' && before.value === '.') continue;
    if (after?.kind === 'op' && after.value === '(') continue; // a function's name
    const path = [token.value];
    while (tokens[i + 1]?.kind === 'op' && tokens[i + 1]?.value === '.' && tokens[i + 2]?.kind === 'name') {
      path.push(String(tokens[i + 2]?.value));
      i += 2;
    }
    paths.push(path);
  }
  return paths;
}

const truthy = (v: Value): boolean => !(v === false || v === 0 || v === '' || v === null || Number.isNaN(v));

function toNumber(v: Value): number {
  if (v === null) return 0;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number') return v;
  if (typeof v === 'string') return v.trim() === '' ? 0 : Number(v);
  return Number.NaN;
}

function looselyEqual(a: Value, b: Value): boolean {
  if (typeof a === 'string' && typeof b === 'string') return a.toLowerCase() === b.toLowerCase();
  if (typeof a === 'object' || typeof b === 'object') return a === b;
  return toNumber(a) === toNumber(b);
}

/** Evaluates `expression` (without `${{ }}`) against `contexts`; a missing property is null. */
export function evaluate(expression: string, contexts: Record<string, unknown>): Value {
  const tokens = tokenize(expression);
  let at = 0;
  const peek = () => tokens[at];
  const isOp = (value: string) => peek()?.kind === 'op' && peek()?.value === value;
  const expect = (value: string) => {
    if (!isOp(value)) throw new SyntaxError(`expected ${value} in ${expression}`);
    at++;
  };

  const member = (object: Value, key: Value): Value => {
    if (object === null || typeof object !== 'object' || Array.isArray(object)) return null;
    return object[String(key)] ?? null;
  };

  function primary(): Value {
    const token = tokens[at++];
    if (!token) throw new SyntaxError(`unexpected end of ${expression}`);
    let value: Value;
    if (token.kind === 'string' || token.kind === 'number') value = token.value;
    else if (token.kind === 'name' && token.value in LITERALS) value = LITERALS[token.value] as Value;
    else if (token.kind === 'name') {
      if (isOp('(')) throw new Error(`function ${token.value}() is not supported here: ${expression}`);
      value = (contexts[token.value] as Value | undefined) ?? null;
    } else if (token.value === '(') {
      value = or();
      expect(')');
    } else throw new SyntaxError(`unexpected ${token.value} in ${expression}`);
    for (;;) {
      if (isOp('.')) {
        at++;
        value = member(value, String(tokens[at++]?.value));
      } else if (isOp('[')) {
        at++;
        const key = or();
        expect(']');
        value = member(value, key);
      } else return value;
    }
  }
  function not(): Value {
    if (isOp('!')) {
      at++;
      return !truthy(not());
    }
    return primary();
  }
  function comparison(): Value {
    let left = not();
    for (;;) {
      const op = peek()?.kind === 'op' ? String(peek()?.value) : '';
      if (!['==', '!=', '<', '<=', '>', '>='].includes(op)) return left;
      at++;
      const right = not();
      if (op === '==') left = looselyEqual(left, right);
      else if (op === '!=') left = !looselyEqual(left, right);
      else {
        const [a, b] = [toNumber(left), toNumber(right)];
        left = op === '<' ? a < b : op === '<=' ? a <= b : op === '>' ? a > b : a >= b;
      }
    }
  }
  function and(): Value {
    let left = comparison();
    while (isOp('&&')) {
      at++;
      const right = comparison();
      left = truthy(left) ? right : left;
    }
    return left;
  }
  function or(): Value {
    let left = and();
    while (isOp('||')) {
      at++;
      const right = and();
      left = truthy(left) ? left : right;
    }
    return left;
  }

  const result = or();
  if (at !== tokens.length) throw new SyntaxError(`unexpected ${peek()?.value} in ${expression}`);
  return result;
}

/** The expressions inside `${{ … }}` in a string. */
export function embeddedExpressions(text: string): string[] {
  return [...text.matchAll(/\$\{\{([\s\S]*?)\}\}/g)].map((m) => (m[1] as string).trim());
}

/** An `if:` value as GitHub reads it: `${{ }}` is optional there. */
export function conditionExpression(text: string): string {
  const wrapped = /^\s*\$\{\{([\s\S]*)\}\}\s*$/.exec(text);
  return (wrapped ? (wrapped[1] as string) : text).trim();
}
