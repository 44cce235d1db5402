"""The Content-Security-Policy runs no inline script: no template of ours may rely on one."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INLINE = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+\s*=|javascript:", re.I)


def test_no_template_has_an_inline_script_or_event_handler():
    offenders = []
    for template in [*ROOT.glob("modules/*/templates/**/*.html"), *ROOT.glob("pos/templates/**/*.html"),
                     *ROOT.glob("templates/**/*.html")]:
        for number, line in enumerate(template.read_text().splitlines(), 1):
            if INLINE.search(line):
                offenders.append(f"{template.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []
