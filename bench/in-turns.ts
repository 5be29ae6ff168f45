/** One round of each contender, by name. */
export type Contenders = Record<string, () => Promise<unknown>>;

/** Each contender's results, one a round, in round order. */
export type RoundResults<Each extends Contenders> = { [Name in keyof Each]: Awaited<ReturnType<Each[Name]>>[] };

/**
 * Runs `rounds` rounds of every contender, one after another in the order given, a round of each
 * before the next round of any: a busy neighbour on this shared machine weighs on all of them
 * alike, so the ratios of their medians mean something where any number alone does not.
 */
export async function inTurns<Each extends Contenders>(rounds: number, contenders: Each): Promise<RoundResults<Each>> {
  const results = Object.fromEntries(Object.keys(contenders).map((name) => [name, [] as unknown[]])) as Record<string, unknown[]>;
  for (let round = 0; round < rounds; round++) {
    for (const [name, run] of Object.entries(contenders)) results[name]!.push(await run());
  }
  return results as RoundResults<Each>;
}

/** The value at `fraction` (0.5: the median) of `values`, nearest rank. */
export function percentile(values: readonly number[], fraction: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))]!;
}

/** The round whose `measure` is the median of the rounds' (the middle one, for an odd count). */
export function medianRound<Round>(rounds: readonly Round[], measure: (round: Round) => number): Round {
  return [...rounds].sort((a, b) => measure(a) - measure(b))[Math.floor(rounds.length / 2)]!;
}
