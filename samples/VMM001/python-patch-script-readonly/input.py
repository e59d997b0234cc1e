"""Backport of the metrics fix onto our pinned vLLM 0.18 image (applied at build time)."""

import pathlib
import sys

OLD_SOURCE = '''
        self.counter_prompt_tokens_recomputed = make_per_engine(
            counter_prompt_tokens_recomputed, engine_indexes, model_name
        )
'''

NEW_SOURCE = '''
'''

QUERY_EXAMPLE = "sum(rate(vllm:prompt_tokens_recomputed_total[5m]))"


def main(root: str) -> None:
    path = pathlib.Path(root) / "vllm/v1/metrics/loggers.py"
    text = path.read_text()
    if OLD_SOURCE not in text:
        sys.exit("already patched")
    path.write_text(text.replace(OLD_SOURCE, NEW_SOURCE))
