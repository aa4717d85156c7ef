"""The pages' JavaScript is ES modules: each page script imports what it uses (api.js for requests and polling,
charts.js for charts) and sets no globals, and every template loads its scripts as modules."""

import json
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


def test_collectstatic_points_every_module_import_at_the_hashed_file(settings, tmp_path):
    """In production a page's module and the modules it imports are cached under hashed names together: a deploy
    that changes api.js changes the name runs.js imports, so a browser never mixes an old api.js with a new runs.js."""
    from django.core.management import call_command

    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": "config.static_storage.StaticStorage"}}
    call_command("collectstatic", interactive=False, verbosity=0)
    paths = json.loads((tmp_path / "staticfiles.json").read_text())["paths"]
    hashed_runs = (tmp_path / paths["frontend/runs.js"]).read_text()
    assert f'from "./{paths["frontend/api.js"].rsplit("/", 1)[1]}"' in hashed_runs
    hashed_modules = {paths[n].rsplit("/", 1)[1] for n in paths if n.startswith("frontend/") and n.endswith(".js")}
    for name in (n for n in paths if n.startswith("frontend/") and n.endswith(".js")):
        imports = re.findall(r'from "\./([^"]+)"', (tmp_path / paths[name]).read_text())
        assert set(imports) <= hashed_modules, (name, imports)
