const binary: Readonly<Record<string, number>> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const decimal: Readonly<Record<string, number>> = { n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };

/**
 * The value of a Kubernetes resource quantity (`64Mi`, `1G`, `500m`, `1e9`, `128974848`), as a
 * number of base units (bytes for memory), or undefined when it is not one. The schema checks the
 * syntax already; this gives the kubelet's number.
 */
export function parseQuantity(quantity: string | number): number | undefined {
  if (typeof quantity === 'number') return quantity;
  const match = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$/.exec(quantity.trim());
  if (!match) return undefined;
  const number = Number(match[1]);
  if (match[2] !== undefined) return number * 10 ** Number(match[2].slice(1));
  const suffix = match[3] ?? '';
  return number * (binary[suffix] ?? decimal[suffix]!);
}
