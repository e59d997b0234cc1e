package com.example.llmgateway.metrics;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** Scrapes a vLLM engine's /metrics page and keeps the load signals the router balances on. */
public final class VllmScraper {

    static final String KV_CACHE_USAGE = "vllm:kv_cache_usage_perc";
    static final String REQUESTS_WAITING = "vllm:num_requests_waiting";
    static final String PREFIX_CACHE_HITS = "vllm:prefix_cache_hits_total";
    static final String PREFIX_CACHE_QUERIES = "vllm:prefix_cache_queries_total";

    private static final List<String> WANTED =
            List.of(KV_CACHE_USAGE, REQUESTS_WAITING, PREFIX_CACHE_HITS, PREFIX_CACHE_QUERIES);

    private final HttpClient client =
            HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

    public Map<String, Double> scrape(URI metricsUri) throws IOException, InterruptedException {
        HttpRequest request = HttpRequest.newBuilder(metricsUri).timeout(Duration.ofSeconds(5)).GET().build();
        String body = client.send(request, HttpResponse.BodyHandlers.ofString()).body();
        Map<String, Double> totals = new HashMap<>();
        for (String line : body.split("\n")) {
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            int brace = line.indexOf('{');
            int space = line.lastIndexOf(' ');
            String name = brace >= 0 ? line.substring(0, brace) : line.substring(0, space);
            if (WANTED.contains(name)) {
                totals.merge(name, Double.parseDouble(line.substring(space + 1)), Double::sum);
            }
        }
        return totals;
    }

    public static double prefixHitRatio(Map<String, Double> scrape) {
        double queries = scrape.getOrDefault(PREFIX_CACHE_QUERIES, 0.0);
        return queries == 0 ? 0 : scrape.getOrDefault(PREFIX_CACHE_HITS, 0.0) / queries;
    }
}
