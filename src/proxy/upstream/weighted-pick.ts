// Envoy's weighted_clusters choice: one of several named targets in proportion to its weight.

/** Picks by cumulative weight with `random()` in [0, 1); `total` is the sum of the weights (> 0). */
export function pickWeighted<T extends { readonly weight: number }>(items: readonly T[], total: number, random: () => number): T {
  if (items.length === 1) return items[0]!;
  let x = random() * total;
  for (const item of items) {
    x -= item.weight;
    if (x < 0) return item;
  }
  return items[items.length - 1]!;
}
