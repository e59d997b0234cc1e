use serde::Deserialize;

/// One row of the nightly prefix-cache report, filled from a Prometheus range query.
#[derive(Debug, Deserialize)]
pub struct PrefixCacheRow {
    pub model_name: String,
    pub prompt_tokens_cached: u64,
    pub prompt_tokens_recomputed: u64,
}

pub const QUERY_SUFFIXES: [&str; 2] = ["prompt_tokens_cached_total", "prompt_tokens_recomputed_total"];
