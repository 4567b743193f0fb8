/**
 * Code metrics read from the TypeScript syntax tree (no regular expressions over source):
 *
 *   npx tsx tools/code-metrics.ts [dir...] [--json]      (default dirs: src commands)
 *
 * (a) Type assertions in the given dirs: AsExpression and TypeAssertion (`<T>x`) nodes, not
 *     counting `as const`. `x as unknown as T` is two nodes; it is also counted once as a
 *     double cast.
 * (b) Silent catches in the given dirs:
 *     - `catch {}` / `catch (e) {}` whose block has no statements (it may hold comments);
 *     - `.catch(handler)` where the handler is an arrow function or function expression whose
 *       body is an empty block, a block holding only `return;` or `return <literal>;`, or a
 *       single literal (`undefined`, `null`, `void 0`, a boolean, number or string, `[]`, `{}`).
 *       Such a body cannot read the error, so it neither logs nor rethrows.
 * (c) The longest function (declarations, methods, constructors, accessors, arrow functions and
 *     function expressions) of each file under src/platforms and of src/worker/processor.ts,
 *     and the ten longest functions in src. Lines run from the function's first token (after
 *     its doc comment) to its last: end line - start line + 1. Nested functions count on their
 *     own and inside the functions that hold them.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

interface Location {
  file: string;
  line: number;
}

interface Assertion extends Location {
  text: string;
  doubleCast: boolean;
}

interface SilentCatch extends Location {
  kind: 'catch block' | '.catch() handler';
  text: string;
}

interface FunctionLength extends Location {
  name: string;
  lines: number;
}

interface FileFacts {
  assertions: Assertion[];
  silentCatches: SilentCatch[];
  functions: FunctionLength[];
}

const SOURCE_EXTENSIONS = ['.ts', '.tsx', '.mts', '.cts'];
const SKIPPED_DIRS = new Set(['node_modules', 'dist', 'coverage', '.git']);

/** Every TypeScript source file under `root` (a file or a directory), as a posix path. */
function sourceFiles(root: string): string[] {
  const stat = statSync(root, { throwIfNoEntry: false });
  if (!stat) throw new Error(`No such file or directory: ${root}`);
  if (stat.isFile()) return [toPosix(root)];
  const files: string[] = [];
  for (const entry of readdirSync(root, { withFileTypes: true })) {
    const full = path.join(root, entry.name);
    if (entry.isDirectory()) {
      if (!SKIPPED_DIRS.has(entry.name)) files.push(...sourceFiles(full));
    } else if (
      SOURCE_EXTENSIONS.some((ext) => entry.name.endsWith(ext)) &&
      !entry.name.endsWith('.d.ts')
    ) {
      files.push(toPosix(full));
    }
  }
  return files.sort();
}

function toPosix(file: string): string {
  return path.relative(process.cwd(), file).split(path.sep).join('/');
}

function lineOf(sf: ts.SourceFile, pos: number): number {
  return sf.getLineAndCharacterOfPosition(pos).line + 1;
}

/** Source text on one line, shortened for a listing. */
function snippet(sf: ts.SourceFile, node: ts.Node, max = 70): string {
  const text = node.getText(sf).replace(/\s+/g, ' ');
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function skipParentheses(node: ts.Expression): ts.Expression {
  let inner = node;
  while (ts.isParenthesizedExpression(inner)) inner = inner.expression;
  return inner;
}

function isAssertion(node: ts.Node): node is ts.AsExpression | ts.TypeAssertion {
  return ts.isAsExpression(node) || ts.isTypeAssertionExpression(node);
}

function isAsConst(node: ts.AsExpression | ts.TypeAssertion): boolean {
  return (
    ts.isTypeReferenceNode(node.type) &&
    ts.isIdentifier(node.type.typeName) &&
    node.type.typeName.text === 'const'
  );
}

/** `x as unknown as T`: an assertion whose operand is itself an assertion to `unknown`. */
function isDoubleCast(node: ts.AsExpression | ts.TypeAssertion): boolean {
  const inner = skipParentheses(node.expression);
  return isAssertion(inner) && inner.type.kind === ts.SyntaxKind.UnknownKeyword;
}

/** A value that cannot depend on the caught error: a literal, `undefined`, `void 0`, `[]`, `{}`. */
function isLiteral(node: ts.Expression): boolean {
  const inner = skipParentheses(node);
  if (ts.isIdentifier(inner)) return inner.text === 'undefined';
  if (ts.isVoidExpression(inner)) return isLiteral(inner.expression);
  if (ts.isArrayLiteralExpression(inner)) return inner.elements.length === 0;
  if (ts.isObjectLiteralExpression(inner)) return inner.properties.length === 0;
  switch (inner.kind) {
    case ts.SyntaxKind.NullKeyword:
    case ts.SyntaxKind.TrueKeyword:
    case ts.SyntaxKind.FalseKeyword:
    case ts.SyntaxKind.NumericLiteral:
    case ts.SyntaxKind.BigIntLiteral:
    case ts.SyntaxKind.StringLiteral:
    case ts.SyntaxKind.NoSubstitutionTemplateLiteral:
      return true;
    default:
      return false;
  }
}

function isEmptyBlock(block: ts.Block): boolean {
  return block.statements.every((s) => ts.isEmptyStatement(s));
}

/** A handler body that neither reads the error, logs, nor rethrows. */
function isSilentBody(body: ts.ConciseBody): boolean {
  if (!ts.isBlock(body)) return isLiteral(body);
  if (isEmptyBlock(body)) return true;
  const [only, ...others] = body.statements;
  return (
    others.length === 0 &&
    only !== undefined &&
    ts.isReturnStatement(only) &&
    (only.expression === undefined || isLiteral(only.expression))
  );
}

/**
 * For a `.catch(handler)` call that swallows the error: the handler, and the `catch` word
 * (whose line is reported, rather than the start of a long call chain).
 */
function silentCatchCall(
  node: ts.Node,
): { handler: ts.Expression; catchWord: ts.Identifier } | undefined {
  if (!ts.isCallExpression(node)) return undefined;
  const callee = node.expression;
  if (!ts.isPropertyAccessExpression(callee) || callee.name.text !== 'catch') return undefined;
  const [handler, ...others] = node.arguments;
  if (handler === undefined || others.length > 0) return undefined;
  const fn = skipParentheses(handler);
  const silent = (ts.isArrowFunction(fn) || ts.isFunctionExpression(fn)) && isSilentBody(fn.body);
  return silent && ts.isIdentifier(callee.name) ? { handler, catchWord: callee.name } : undefined;
}

type FunctionNode =
  | ts.FunctionDeclaration
  | ts.MethodDeclaration
  | ts.ConstructorDeclaration
  | ts.GetAccessorDeclaration
  | ts.SetAccessorDeclaration
  | ts.ArrowFunction
  | ts.FunctionExpression;

function isFunctionNode(node: ts.Node): node is FunctionNode {
  return (
    ts.isFunctionDeclaration(node) ||
    ts.isMethodDeclaration(node) ||
    ts.isConstructorDeclaration(node) ||
    ts.isGetAccessorDeclaration(node) ||
    ts.isSetAccessorDeclaration(node) ||
    ts.isArrowFunction(node) ||
    ts.isFunctionExpression(node)
  );
}

function propertyName(sf: ts.SourceFile, name: ts.PropertyName): string {
  if (ts.isComputedPropertyName(name)) return `[${snippet(sf, name.expression, 30)}]`;
  return name.text;
}

/** The name a class or object literal is known by, for `Owner.method`. */
function ownerName(sf: ts.SourceFile, owner: ts.Node): string | undefined {
  if ((ts.isClassDeclaration(owner) || ts.isClassExpression(owner)) && owner.name)
    return owner.name.text;
  let parent = owner.parent;
  while (ts.isParenthesizedExpression(parent) || ts.isAsExpression(parent)) parent = parent.parent;
  if (ts.isVariableDeclaration(parent) && ts.isIdentifier(parent.name)) return parent.name.text;
  if (ts.isPropertyAssignment(parent)) return propertyName(sf, parent.name);
  return undefined;
}

/** A readable name for a function: its own, or what it is assigned to or passed to. */
function functionName(sf: ts.SourceFile, node: FunctionNode): string {
  if (ts.isFunctionDeclaration(node)) return node.name?.text ?? 'default export function';
  if (ts.isConstructorDeclaration(node)) {
    const owner = ownerName(sf, node.parent);
    return owner ? `${owner}.constructor` : 'class constructor';
  }
  if (ts.isMethodDeclaration(node) || ts.isGetAccessor(node) || ts.isSetAccessor(node)) {
    const prefix = ts.isGetAccessor(node) ? 'get ' : ts.isSetAccessor(node) ? 'set ' : '';
    const owner = ownerName(sf, node.parent);
    const name = propertyName(sf, node.name);
    return `${prefix}${owner ? `${owner}.` : ''}${name}`;
  }
  if (ts.isFunctionExpression(node) && node.name) return node.name.text;
  const kind = ts.isArrowFunction(node) ? 'arrow function' : 'function expression';
  let child: ts.Node = node;
  let parent = node.parent;
  while (
    ts.isParenthesizedExpression(parent) ||
    ts.isAsExpression(parent) ||
    ts.isSatisfiesExpression(parent)
  ) {
    child = parent;
    parent = parent.parent;
  }
  if (ts.isVariableDeclaration(parent) && ts.isIdentifier(parent.name)) return parent.name.text;
  if (ts.isPropertyDeclaration(parent)) {
    const owner = ownerName(sf, parent.parent);
    return `${owner ? `${owner}.` : ''}${propertyName(sf, parent.name)}`;
  }
  if (ts.isPropertyAssignment(parent)) {
    const owner = ownerName(sf, parent.parent);
    return `${owner ? `${owner}.` : ''}${propertyName(sf, parent.name)}`;
  }
  if (ts.isBinaryExpression(parent) && parent.right === child) return snippet(sf, parent.left, 40);
  if (ts.isCallExpression(parent) || ts.isNewExpression(parent)) {
    const callee = snippet(sf, parent.expression, 40);
    return `${kind} passed to ${ts.isNewExpression(parent) ? 'new ' : ''}${callee}()`;
  }
  if (ts.isExportAssignment(parent)) return `default export ${kind}`;
  if (ts.isReturnStatement(parent)) return `${kind} returned`;
  return `${kind}`;
}

/** `outer > inner` for a function nested in others. */
function qualifiedName(sf: ts.SourceFile, node: FunctionNode): string {
  const names = [functionName(sf, node)];
  for (let up = node.parent; !ts.isSourceFile(up); up = up.parent)
    if (isFunctionNode(up)) names.unshift(functionName(sf, up));
  return names.join(' > ');
}

function analyse(file: string): FileFacts {
  const text = readFileSync(file, 'utf8');
  const kind = file.endsWith('.tsx') ? ts.ScriptKind.TSX : ts.ScriptKind.TS;
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, kind);
  const facts: FileFacts = { assertions: [], silentCatches: [], functions: [] };
  const visit = (node: ts.Node): void => {
    const start = node.getStart(sf);
    if (isAssertion(node) && !isAsConst(node)) {
      facts.assertions.push({
        file,
        line: lineOf(sf, start),
        text: snippet(sf, node),
        doubleCast: isDoubleCast(node),
      });
    }
    if (ts.isCatchClause(node) && isEmptyBlock(node.block)) {
      facts.silentCatches.push({
        file,
        line: lineOf(sf, start),
        kind: 'catch block',
        text: snippet(sf, node),
      });
    }
    const call = silentCatchCall(node);
    if (call) {
      facts.silentCatches.push({
        file,
        line: lineOf(sf, call.catchWord.getStart(sf)),
        kind: '.catch() handler',
        text: `.catch(${snippet(sf, call.handler)})`,
      });
    }
    if (isFunctionNode(node) && node.body !== undefined) {
      const line = lineOf(sf, start);
      facts.functions.push({
        file,
        line,
        name: qualifiedName(sf, node),
        lines: lineOf(sf, node.getEnd()) - line + 1,
      });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return facts;
}

function longest(functions: FunctionLength[]): FunctionLength | undefined {
  return [...functions].sort(byLength)[0];
}

function byLength(a: FunctionLength, b: FunctionLength): number {
  return b.lines - a.lines || a.file.localeCompare(b.file) || a.line - b.line;
}

function isUnder(file: string, dir: string): boolean {
  return file === dir || file.startsWith(`${dir}/`);
}

function main(argv: string[]): void {
  const json = argv.includes('--json');
  const unknownFlag = argv.find((a) => a.startsWith('-') && a !== '--json');
  if (unknownFlag) throw new Error(`Unknown option ${unknownFlag}. Usage: [dir...] [--json]`);
  const given = argv.filter((a) => !a.startsWith('-'));
  const dirs = (given.length > 0 ? given : ['src', 'commands']).map(toPosix);

  const cache = new Map<string, FileFacts>();
  const factsOf = (file: string): FileFacts => {
    let facts = cache.get(file);
    if (!facts) {
      facts = analyse(file);
      cache.set(file, facts);
    }
    return facts;
  };

  const files = [...new Set(dirs.flatMap(sourceFiles))].sort();
  const assertions = files.flatMap((f) => factsOf(f).assertions);
  const doubleCasts = assertions.filter((a) => a.doubleCast);
  const silentCatches = files.flatMap((f) => factsOf(f).silentCatches);
  const counts = new Map<string, number>();
  for (const a of assertions) counts.set(a.file, (counts.get(a.file) ?? 0) + 1);
  const assertionsByFile = [...counts]
    .map(([file, count]) => ({ file, count }))
    .sort((a, b) => b.count - a.count || a.file.localeCompare(b.file));

  // (c) always reads the same places, whatever dirs were given.
  const srcFiles = statSync('src', { throwIfNoEntry: false }) ? sourceFiles('src') : [];
  const focus = srcFiles.filter(
    (f) => isUnder(f, 'src/platforms') || f === 'src/worker/processor.ts',
  );
  const longestByFile = focus.map((file) => ({ file, longest: longest(factsOf(file).functions) }));
  const top10 = srcFiles
    .flatMap((f) => factsOf(f).functions)
    .sort(byLength)
    .slice(0, 10);

  if (json) {
    const report = {
      dirs,
      files: files.length,
      assertions: {
        nodes: assertions.length,
        doubleCasts: doubleCasts.length,
        byFile: assertionsByFile,
        list: assertions,
      },
      silentCatches: { count: silentCatches.length, list: silentCatches },
      longestByFile,
      top10,
    };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return;
  }

  const out: string[] = [];
  const at = (l: Location): string => `${l.file}:${l.line}`;
  out.push(`Code metrics for ${dirs.join(', ')} (${files.length} files)`, '');
  out.push(
    `(a) Type assertions (AsExpression/TypeAssertion nodes, not as const): ${assertions.length}`,
  );
  out.push(
    `    as unknown as (double casts, two nodes each): ${doubleCasts.length}` +
      ` -> ${assertions.length - doubleCasts.length} assertion sites`,
  );
  for (const a of doubleCasts) out.push(`      ${at(a)}  ${a.text}`);
  out.push('    by file:');
  for (const { file, count } of assertionsByFile)
    out.push(`      ${String(count).padStart(4)}  ${file}`);
  out.push('', `(b) Silent catches: ${silentCatches.length}`);
  for (const c of silentCatches) out.push(`      ${at(c)}  ${c.kind}: ${c.text}`);
  out.push('', '(c) Longest function per file (src/platforms, src/worker/processor.ts):');
  for (const { file, longest: fn } of longestByFile) {
    out.push(
      fn
        ? `    ${String(fn.lines).padStart(4)}  ${at(fn)}  ${fn.name}`
        : `       -  ${file}  (no functions)`,
    );
  }
  out.push('', '    Top 10 longest functions in src:');
  for (const fn of top10) out.push(`    ${String(fn.lines).padStart(4)}  ${at(fn)}  ${fn.name}`);
  process.stdout.write(`${out.join('\n')}\n`);
}

main(process.argv.slice(2));
