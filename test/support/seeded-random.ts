// One seeded generator and one seed for the fuzz and property tests: a printed seed replays a run.

/** The run's seed: KEFU_FUZZ_SEED when set (to replay a run), else a new random one. */
export function fuzzSeed(): number {
  const given = process.env.KEFU_FUZZ_SEED;
  return given ? Number(given) : Math.floor(Math.random() * 2 ** 31);
}

/** mulberry32: small, fast, and the same sequence in [0, 1) for the same seed on every machine. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
