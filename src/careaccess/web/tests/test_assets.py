"""The NHS.UK stylesheets `make assets` installs: every file they refer to is served beside them."""

import re
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders

URL = re.compile(r"url\(\s*['\"]?([^'\")]+)['\"]?\s*\)")


@pytest.mark.parametrize("name", ["nhsuk-frontend.min.css", "nhsuk-frontend-system-fonts.min.css"])
def test_stylesheet_references_resolve_to_served_files(name):
    path = finders.find(f"nhsuk/nhsuk/{name}")
    assert path, f"{name} is not among the static files: run `make assets`"
    css = Path(path).read_text()
    local = [u for u in URL.findall(css) if not u.startswith(("data:", "https:", "#"))]
    assert local, "the stylesheet refers to no icons: the pattern above no longer matches it"
    # A root-relative reference (/assets/...) would miss the static prefix and 404.
    assert not [u for u in local if u.startswith("/")], "root-relative references in the stylesheet"
    missing = [u for u in set(local) if not (Path(path).parent / u).is_file()]
    assert not missing, f"referred to but not installed: {missing}"
