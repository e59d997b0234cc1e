from migrator.model import Finding, LineIndex, Severity, Span
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

    # Nothing to check in a parsed document: the engine asks for this finding when a handler
    # raises ParseError.
    def finding_for(self, path: str, text: str, err) -> Finding:
        offset = min(max(err.offset, 0), len(text))
        row, col = LineIndex(text).position(offset)
        return Finding(
            code=self.code,
            message=f"{err.message} (line {row}, column {col}); the file was not checked or changed",
            path=path,
            span=Span(offset, offset),
            severity=self.severity,
            matched="",
        )
