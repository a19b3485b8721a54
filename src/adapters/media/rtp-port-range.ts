/**
 * Even UDP ports (RTP convention; the odd one above is RTCP's) from a range, handed out round-robin so a
 * port just freed is not reused at once (late packets of the old call would reach the new one).
 */
export class RtpPortRange {
  private readonly first: number;
  private readonly count: number;
  private readonly inUse = new Set<number>();
  private cursor = 0;

  constructor(portMin: number, portMax: number) {
    if (!Number.isInteger(portMin) || !Number.isInteger(portMax) || portMin < 1 || portMax > 65535 || portMin > portMax) {
      throw new Error(`bad RTP port range ${portMin}-${portMax} (expected 1 <= portMin <= portMax <= 65535)`);
    }
    this.first = portMin % 2 === 0 ? portMin : portMin + 1;
    this.count = Math.max(0, Math.floor((portMax - this.first) / 2) + 1);
    if (this.count === 0) throw new Error(`RTP port range ${portMin}-${portMax} holds no even port`);
  }

  get size(): number {
    return this.count;
  }

  /** The next even port not handed out, or null when all are taken. */
  take(): number | null {
    for (let i = 0; i < this.count; i++) {
      const port = this.first + 2 * ((this.cursor + i) % this.count);
      if (!this.inUse.has(port)) {
        this.cursor = (this.cursor + i + 1) % this.count;
        this.inUse.add(port);
        return port;
      }
    }
    return null;
  }

  release(port: number): void {
    this.inUse.delete(port);
  }
}
