"""Tortoise config for its own CLI (makemigrations), built from the current settings."""

from app.config import load_settings
from app.db import tortoise_config

TORTOISE_ORM = tortoise_config(load_settings().database)
