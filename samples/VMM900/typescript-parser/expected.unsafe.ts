// Collects latency percentiles from a vLLM server for the load-test summary page.

export interface Bucket {
  le: number;
  count: number;
}

export function parsePrometheus(text: string, series: string): Bucket[] {
  const buckets: Bucket[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(series + '{')) continue;
    const le = /le="([^"]+)"/.exec(line)?.[1];
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (le !== undefined) buckets.push({ le: le === '+Inf' ? Infinity : Number(le), count: value });
  }
  return buckets.sort((a, b) => a.le - b.le);
}

export function quantile(q: number, buckets: Bucket[]): number {
  const total = buckets[buckets.length - 1]?.count ?? 0;
  const rank = q * total;
  const hit = buckets.find((b) => b.count >= rank);
  return hit ? hit.le : NaN;
}

export async function latencySummary(baseUrl: string) {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const itl = parsePrometheus(text, 'vllm:inter_token_latency_seconds_bucket');
  const ttft = parsePrometheus(text, 'vllm:time_to_first_token_seconds_bucket');
  return {
    itlP50: quantile(0.5, itl),
    itlP99: quantile(0.99, itl),
    ttftP99: quantile(0.99, ttft),
  };
}
