"""The README's example runs as written, against the server under test."""

from __future__ import annotations

import contextlib
import io
import os
import re
import unittest

from support import server_settings

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


class ReadmeExample(unittest.TestCase):
    def test_the_example_submits_a_run_over_a_folder_and_prints_what_it_says(self) -> None:
        server_settings()  # CAIRN_SERVER and CAIRN_TOKEN, which the example reads
        with open(README, encoding="utf-8") as file:
            [example] = re.findall(r"^```python\n(.*?)^```", file.read(), re.MULTILINE | re.DOTALL)
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(example, README, "exec"), {"__name__": "readme_example"})
        output = printed.getvalue()
        self.assertIn("run.state succeeded\n", output)
        self.assertIn("\nsucceeded\n", output)
        self.assertIn("stdout HELLO\n", output)
        self.assertIn("+++ b/loud.txt", output)
        self.assertIn("CAIRN_NOT_FOUND runId ", output)


if __name__ == "__main__":
    unittest.main()
