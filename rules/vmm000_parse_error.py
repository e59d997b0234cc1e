from migrator.model import Severity
from migrator.rule import Rule


class ParseErrorRule(Rule):
    """A file in a supported format (JSON, YAML, Python) that cannot be parsed.

    ## What it does
    Reports a file that contains a reference candidate but is not valid JSON, YAML or Python,
    with the line and column where parsing failed.

    ## Why is this bad?
    A file that cannot be parsed cannot be checked: references to removed vLLM metrics in it
    stay hidden. The tool never writes such a file.

    ## Example
    ```json
    {"panels": [ {"expr": "rate(vllm:prompt_tokens_recomputed_total[5m])"} }
    ```

    ## Fix safety
    No fix. Repair the syntax error; the file is checked on the next run.

    Only files that pass the byte prefilter (they mention a name some rule looks for) are
    parsed, so an unrelated broken file is not reported.
    """

    code = "VMM000"
    name = "parse-error"
    severity = Severity.ERROR
    formats_label = "all"
    # Emitted by the engine when a handler raises ParseError; nothing to check here.
