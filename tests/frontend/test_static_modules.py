"""The pages' JavaScript is ES modules: each page script imports what it uses (api.js for requests and polling,
charts.js for charts) and sets no globals, and every template loads its scripts as modules."""

import re

from tests.conftest import REPO

STATIC = REPO / "frontend" / "static" / "frontend"
TEMPLATES = REPO / "frontend" / "templates"


def test_page_scripts_set_no_globals_and_import_what_they_use():
    scripts = sorted(STATIC.glob("*.js"))
    assert {"api.js", "charts.js", "runs.js", "annotate.js"} <= {s.name for s in scripts}
    for script in scripts:
        text = script.read_text()
        assert not re.search(r"\bwindow\.\w+\s*=[^=]", text), f"{script.name} sets a global"
        assert "VidPrefApi" not in text and "VidPrefCharts" not in text, script.name
        assert "setInterval(" not in text, f"{script.name}: poll with api.js's poll()"


def test_templates_load_scripts_as_modules():
    tags = [tag for template in TEMPLATES.rglob("*.html")
            for tag in re.findall(r"<script\b[^>]*\bsrc=[^>]*>", template.read_text())]
    assert tags and all('type="module"' in tag for tag in tags), tags
