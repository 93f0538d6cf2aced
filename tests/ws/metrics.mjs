// Reads one sample from the Prometheus text exposition at /metrics.

/** The value of the sample named exactly `name` (labels included, as printed), or 0. */
export function metric(text, name) {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name} `)) return Number(line.slice(name.length + 1));
  }
  return 0;
}

/** The server's /metrics text. */
export async function metrics(origin) {
  return (await fetch(`${origin}/metrics`)).text();
}
