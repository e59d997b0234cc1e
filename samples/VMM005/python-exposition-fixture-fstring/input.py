import pytest

from scraper import parse_engine_metrics

SAMPLE_LINE = "vllm:prompt_tokens_recomputed_total{{{labels}}} {value}\n"


def exposition(e: int, recomputed: float) -> str:
    return (
        f"# HELP vllm:prompt_tokens_recomputed_total Number of cached tokens recomputed for forward pass.\n"
        f"# TYPE vllm:prompt_tokens_recomputed_total counter\n"
        f'vllm:prompt_tokens_recomputed_total{{engine="{e}",model_name="m"}} {recomputed}\n'
        + SAMPLE_LINE.format(labels=f'engine="{e}",model_name="other"', value=recomputed)
    )


@pytest.mark.parametrize("engine", [0, 1])
def test_parse_recomputed(engine: int) -> None:
    metrics = parse_engine_metrics(exposition(engine, 3.0))
    assert metrics.recomputed == 3.0
