/**
 * A small seeded PRNG (sfc32, seeded through splitmix32): the generator's output must be
 * byte-identical for the same seed on every machine, which Math.random() cannot give.
 */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spare: number | undefined;

  constructor(seed: number) {
    let s = seed >>> 0;
    const next = () => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** Uniform 32-bit unsigned integer. */
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.u32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Standard normal (Box-Muller, the second value kept for the next call). */
  normal(): number {
    if (this.spare !== undefined) {
      const s = this.spare;
      this.spare = undefined;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    const th = 2 * Math.PI * this.next();
    this.spare = r * Math.sin(th);
    return r * Math.cos(th);
  }

  /** Exponential with mean 1. */
  exponential(): number {
    return -Math.log(1 - this.next());
  }

  /** A child generator with its own stream (so adding draws in one part leaves the others unchanged). */
  fork(): Rng {
    return new Rng(this.u32());
  }
}

/** Index drawn from cumulative weights (`cum[i]` = sum of weights 0..i) by binary search. */
export function drawCumulative(cum: Float64Array, rng: Rng, lo = 0, hi = cum.length): number {
  const base = lo > 0 ? cum[lo - 1] : 0;
  const x = base + rng.next() * (cum[hi - 1] - base);
  while (lo < hi - 1) {
    const mid = (lo + hi) >>> 1;
    if (cum[mid - 1] > x) hi = mid;
    else lo = mid;
  }
  return lo;
}
