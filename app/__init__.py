"""The application core and composition root.

Boundaries: app/services holds use-cases (no sanic imports); app/adapters is the only code that
talks to outside parties; app/sandbox holds the in-project stand-ins for those parties;
handlers/ (top level) holds the HTTP layer; models/ holds Tortoise models.
"""
