from prometheus_client.parser import text_string_to_metric_families


def recomputed(body: str) -> float:
    for family in text_string_to_metric_families(body):
        if family.name == "vllm:prompt_tokens_recomputed":
            return sum(s.value for s in family.samples
    return 0.0
