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
