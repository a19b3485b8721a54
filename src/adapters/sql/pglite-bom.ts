// Shared by the in-thread PGlite client and the PGlite worker thread (loaded by Node itself there: no imports
// but Node's own).

/**
 * PGlite's protocol reader decodes every text value with a TextDecoder made with the defaults, which strip a
 * leading byte order mark: a value starting with U+FEFF came back without it (found by the storable-values
 * fuzzer: a chat message of one U+FEFF was answered as ''). node-postgres keeps it. The reader makes its decoder
 * once, when the instance is created, so for that moment the global TextDecoder keeps BOMs; the start checks it.
 */
export async function withBomKeepingTextDecoder<T>(create: () => Promise<T>): Promise<T> {
  const Original = globalThis.TextDecoder;
  globalThis.TextDecoder = class extends Original {
    constructor(label?: string, options?: ConstructorParameters<typeof TextDecoder>[1]) {
      super(label, { ...options, ignoreBOM: true });
    }
  };
  try {
    return await create();
  } finally {
    globalThis.TextDecoder = Original;
  }
}
