/** A one-line progress display: redrawn in place on a terminal, every 10% otherwise. */
export class Progress {
  private lastDecile = -1;
  private readonly started = Date.now();

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly out: NodeJS.WriteStream = process.stdout,
  ) {}

  update(done: number, extra = ''): void {
    const fraction = this.total === 0 ? 1 : Math.min(1, done / this.total);
    const seconds = (Date.now() - this.started) / 1000;
    const rate = seconds > 0 ? Math.round(done / seconds) : 0;
    const line = `${this.label} ${bar(fraction)} ${done}/${this.total} (${rate}/s)${extra ? ' ' + extra : ''}`;
    if (this.out.isTTY) {
      this.out.write(`\r${line}\x1b[K`);
      if (fraction >= 1) this.out.write('\n');
      return;
    }
    const decile = Math.floor(fraction * 10);
    if (decile !== this.lastDecile) {
      this.lastDecile = decile;
      this.out.write(`${line}\n`);
    }
  }
}

function bar(fraction: number, width = 24): string {
  const filled = Math.round(fraction * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}
