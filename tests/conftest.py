"""Shared test configuration.

Under CI (CI=true), hypothesis runs derandomized: the same examples every run, so a red CI
means a regression rather than a lucky draw. Locally it keeps exploring new examples.
"""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI") == "true":
    settings.load_profile("ci")
