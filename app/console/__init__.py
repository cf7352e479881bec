"""The operator console: a static single-page app (plain HTML, ES modules and CSS, no build step).

This package owns the files under static/ and the small catalogue that serves them from memory;
handlers/console.py mounts it at /console/. Nothing here talks to the database: the console is a
client of the /api/v1/admin/... routes like any other.
"""
