// CEL for match conditions, as the engine declares it (internal/cel/boolexpr.go): two variables,
// `input` and `output`, both maps; `""` means `true`; the result counts only if it is `true`.

import { isCelError, parse, run } from "@bufbuild/cel";
import type { JsonObject } from "../transport/types.ts";

/** The outcome of evaluating one condition's expression. */
export type CelOutcome = { matched: boolean; error?: string };

const compileErrors = new Map<string, string | undefined>();

/** Why `expression` does not compile, or `undefined` when it does. */
export function celCompileError(expression: string): string | undefined {
  const expr = expression === "" ? "true" : expression;
  if (!compileErrors.has(expr)) {
    try {
      parse(expr);
      compileErrors.set(expr, undefined);
    } catch (err) {
      compileErrors.set(expr, err instanceof Error ? err.message : String(err));
    }
  }
  return compileErrors.get(expr);
}

/** Evaluates `expression` with `input` and `output` bound; errors never match. */
export function evalCel(expression: string, input: JsonObject, output: JsonObject): CelOutcome {
  const compileError = celCompileError(expression);
  if (compileError !== undefined) return { matched: false, error: compileError };
  const result = run(expression === "" ? "true" : expression, { input, output });
  if (isCelError(result)) return { matched: false, error: result.message };
  return { matched: result === true };
}
