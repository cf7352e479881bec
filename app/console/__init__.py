"""The operator console: a static single-page app (plain HTML, ES modules and CSS, no build step).

This package owns the files under static/ and the small catalogue that serves them from memory;
handlers/console.py mounts it at /console/. Nothing here talks to the database: the console is a
client of the /api/v1/admin/... routes like any other; static/api.js is the one module that
names those routes. Its tests run in node: `node --test app/console/tests/` (a small DOM stand-in,
no packages), and against a running service with CONSOLE_E2E_BASE_URL and CONSOLE_E2E_OPERATOR.
"""
