import ts from 'typescript';

/** The global the instrumented code counts into: one byte per branch arm, as libFuzzer's 8-bit counters. */
export const COVERAGE_GLOBAL = '__vqkitCoverage';
const LOCAL = '__vqc';

/**
 * Adds branch coverage counters to a compiled ES module (the engine's coverage signal: the JavaScript analogue of
 * SanitizerCoverage's inline 8-bit counters). Every function body, both arms of each if, conditional and short-circuit
 * operator, each loop body, switch case and catch block gets `__vqc[n]++`, with n from `first` up. Returns the new
 * source and the next free counter.
 */
export function instrumentModule(source: string, fileName: string, first: number): { code: string; next: number } {
  // The source map comment names positions instrumenting moves, and the printer can attach it to a counted block
  // it synthesizes (an else after a module's last if), breaking the code: it goes.
  const code = source.replace(/\n\/\/# sourceMappingURL=.*\s*$/, '\n');
  const file = ts.createSourceFile(fileName, code, ts.ScriptTarget.ES2022, true, ts.ScriptKind.JS);
  const f = ts.factory;
  let next = first;
  const counter = (): ts.Expression =>
    f.createPostfixIncrement(
      f.createElementAccessExpression(f.createIdentifier(LOCAL), f.createNumericLiteral(next++)),
    );
  const counted = (s: ts.Statement | undefined): ts.Statement => {
    const bump = f.createExpressionStatement(counter());
    if (s === undefined) return f.createBlock([bump], true);
    return ts.isBlock(s) ? f.updateBlock(s, [bump, ...s.statements]) : f.createBlock([bump, s], true);
  };
  const countedExpr = (e: ts.Expression): ts.Expression =>
    f.createParenthesizedExpression(f.createCommaListExpression([counter(), e]));

  const visit = (node: ts.Node): ts.Node => {
    const n = ts.visitEachChild(node, visit, undefined);
    if (ts.isIfStatement(n))
      return f.updateIfStatement(n, n.expression, counted(n.thenStatement), counted(n.elseStatement));
    if (ts.isForStatement(n))
      return f.updateForStatement(n, n.initializer, n.condition, n.incrementor, counted(n.statement));
    if (ts.isForOfStatement(n))
      return f.updateForOfStatement(n, n.awaitModifier, n.initializer, n.expression, counted(n.statement));
    if (ts.isForInStatement(n)) return f.updateForInStatement(n, n.initializer, n.expression, counted(n.statement));
    if (ts.isWhileStatement(n)) return f.updateWhileStatement(n, n.expression, counted(n.statement));
    if (ts.isDoStatement(n)) return f.updateDoStatement(n, counted(n.statement), n.expression);
    if (ts.isCaseClause(n))
      return f.updateCaseClause(n, n.expression, [f.createExpressionStatement(counter()), ...n.statements]);
    if (ts.isDefaultClause(n))
      return f.updateDefaultClause(n, [f.createExpressionStatement(counter()), ...n.statements]);
    if (ts.isCatchClause(n)) return f.updateCatchClause(n, n.variableDeclaration, counted(n.block) as ts.Block);
    if (ts.isConditionalExpression(n)) {
      return f.updateConditionalExpression(
        n,
        n.condition,
        n.questionToken,
        countedExpr(n.whenTrue),
        n.colonToken,
        countedExpr(n.whenFalse),
      );
    }
    if (ts.isBinaryExpression(n)) {
      const op = n.operatorToken.kind;
      if (
        op === ts.SyntaxKind.AmpersandAmpersandToken ||
        op === ts.SyntaxKind.BarBarToken ||
        op === ts.SyntaxKind.QuestionQuestionToken
      ) {
        return f.updateBinaryExpression(n, n.left, n.operatorToken, countedExpr(n.right));
      }
    }
    if (
      (ts.isFunctionDeclaration(n) ||
        ts.isMethodDeclaration(n) ||
        ts.isConstructorDeclaration(n) ||
        ts.isFunctionExpression(n) ||
        ts.isGetAccessorDeclaration(n) ||
        ts.isSetAccessorDeclaration(n)) &&
      n.body !== undefined
    ) {
      return replaceBody(n, counted(n.body) as ts.Block);
    }
    if (ts.isArrowFunction(n)) {
      const body = ts.isBlock(n.body)
        ? (counted(n.body) as ts.Block)
        : f.createBlock([f.createExpressionStatement(counter()), f.createReturnStatement(n.body)], true);
      return f.updateArrowFunction(
        n,
        n.modifiers,
        n.typeParameters,
        n.parameters,
        n.type,
        n.equalsGreaterThanToken,
        body,
      );
    }
    return n;
  };

  const out = ts.visitEachChild(file, visit, undefined);
  const printed = ts.createPrinter().printFile(out);
  // Imports are hoisted, so the counter array is bound before any of the module's code runs.
  return { code: `const ${LOCAL} = globalThis.${COVERAGE_GLOBAL};\n${printed}`, next };
}

function replaceBody(n: ts.FunctionLikeDeclaration, body: ts.Block): ts.Node {
  const f = ts.factory;
  if (ts.isFunctionDeclaration(n))
    return f.updateFunctionDeclaration(
      n,
      n.modifiers,
      n.asteriskToken,
      n.name,
      n.typeParameters,
      n.parameters,
      n.type,
      body,
    );
  if (ts.isMethodDeclaration(n))
    return f.updateMethodDeclaration(
      n,
      n.modifiers,
      n.asteriskToken,
      n.name,
      n.questionToken,
      n.typeParameters,
      n.parameters,
      n.type,
      body,
    );
  if (ts.isConstructorDeclaration(n)) return f.updateConstructorDeclaration(n, n.modifiers, n.parameters, body);
  if (ts.isFunctionExpression(n))
    return f.updateFunctionExpression(
      n,
      n.modifiers,
      n.asteriskToken,
      n.name,
      n.typeParameters,
      n.parameters,
      n.type,
      body,
    );
  if (ts.isGetAccessorDeclaration(n))
    return f.updateGetAccessorDeclaration(n, n.modifiers, n.name, n.parameters, n.type, body);
  if (ts.isSetAccessorDeclaration(n)) return f.updateSetAccessorDeclaration(n, n.modifiers, n.name, n.parameters, body);
  return n;
}
