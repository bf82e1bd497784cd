// The catalogue of validation rules: every rule id a validator may report, with a summary and examples.
import type { RuleDef } from './kind.js';

const catalogue = new Map<string, RuleDef & { area: string }>();

/**
 * Declares the rules of one area (a kind, or `schema`/`common`). Called once at module load;
 * a duplicate id is a programming error.
 */
export function defineRules(area: string, rules: RuleDef[]): void {
  for (const r of rules) {
    if (catalogue.has(r.id)) throw new Error(`validation rule ${r.id} declared twice`);
    catalogue.set(r.id, { ...r, area });
  }
}

export function ruleById(id: string): (RuleDef & { area: string }) | undefined {
  return catalogue.get(id);
}

/** Every declared rule, in declaration order. */
export function allRules(): Array<RuleDef & { area: string }> {
  return [...catalogue.values()];
}
