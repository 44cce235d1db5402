"""12-factor: every environment variable the code reads is documented in .env.example."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READ = re.compile(r"""\benv\.\w+\(\s*f?["']([A-Z][A-Z0-9_]+)["']""")


def test_every_setting_read_from_the_environment_is_in_env_example():
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    read = set(READ.findall((ROOT / "config" / "settings.py").read_text()))
    assert len(read) > 30
    assert sorted(read - documented) == []
