"""Adapters: the only code that talks to outside parties (HTTP, Redis, WeChat, channels).

Each implements a protocol from app/ports.py and is built from settings in app/factory.py.
"""
