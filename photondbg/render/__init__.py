"""Re-rendering a capture for people: the report.md sections of provenance and timeline
(:mod:`markdown`) and one self-contained HTML page (:mod:`html`, a jinja2 template shipped in
``templates/``, inline CSS, nothing fetched)."""
