// Rebuilds a flat chain `a op b op c …` into a tree the way a yacc (LALR) parser with Loki's
// precedence declarations does: on each conflict between the operator on the stack and the next one,
// `shift` says whether yacc shifts (the next operator binds first) or reduces.
// lezer's LogQL grammar declares precedences for highlighting only (it reads `1 + 2 * 3` as
// `(1 + 2) * 3`), so the parser never trusts the shape of its operator trees, only their order.

import type { BinaryOp } from "./ast.ts";
export interface Associativity<Operand, Operator> {
  shift(top: Operator, next: Operator): boolean;
  combine(left: Operand, operator: Operator, right: Operand): Operand;
}

export function reassociate<Operand, Operator>(
  operands: readonly Operand[],
  operators: readonly Operator[],
  rules: Associativity<Operand, Operator>,
): Operand {
  if (operands.length !== operators.length + 1)
    throw new Error(`BUG: ${operands.length} operands for ${operators.length} operators`);
  const values: Operand[] = [operands[0]!];
  const pending: Operator[] = [];
  const reduce = () => {
    const right = values.pop()!;
    const left = values.pop()!;
    values.push(rules.combine(left, pending.pop()!, right));
  };
  for (let index = 0; index < operators.length; index++) {
    const next = operators[index]!;
    while (pending.length > 0 && !rules.shift(pending[pending.length - 1]!, next)) reduce();
    pending.push(next);
    values.push(operands[index + 1]!);
  }
  while (pending.length > 0) reduce();
  return values[0]!;
}

/** Binding strength of each binary operator, for the parser and the printer alike. Loki's yacc
 * declarations, lowest first: or; and unless; comparisons; + -; * / %; ^ (right). */
export const precedenceOf: Record<BinaryOp, number> = {
  "==": 3,
  "!=": 3,
  ">": 3,
  ">=": 3,
  "<": 3,
  "<=": 3,
  "+": 4,
  "-": 4,
  "*": 5,
  "/": 5,
  "%": 5,
  "^": 6,
};
