// Formats shared by the command line and the dashboard page (which loads it as is).

/** `850ms`, `12.3s`, `4m05s`, `2h03m`: as the tools' outputs write durations. */
export function duration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${(Math.round(ms / 100) / 10).toFixed(1)}s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)}m${String(Math.floor(ms / 1000) % 60).padStart(2, "0")}s`;
  return `${Math.floor(ms / 3_600_000)}h${String(Math.floor(ms / 60_000) % 60).padStart(2, "0")}m`;
}

/** A success rate, or `-` when nothing ended yet. */
export function percent(value: number | null | undefined): string {
  return value == null ? "-" : `${value}%`;
}

/** Tokens as the tools' outputs write them: `950`, `41k`, `1.2M`. */
export function tokens(n: number): string {
  if (n < 1000) return String(n);
  if (n < 999_500) return `${Math.floor((n + 500) / 1000)}k`;
  const tenths = Math.floor((n + 50_000) / 100_000);
  return `${Math.floor(tenths / 10)}.${tenths % 10}M`;
}

/** Money counted in millionths, to the cent: `$0.12`; `<$0.01` for less than a cent. */
export function money(micros: number): string {
  if (micros === 0) return "$0";
  if (micros < 10_000) return "<$0.01";
  const cents = Math.floor((micros + 5_000) / 10_000);
  return `$${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, "0")}`;
}
