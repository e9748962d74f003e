"""Piccolo's conventional conf module; `engine.use_database` swaps DB for the configured one."""

from piccolo.conf.apps import AppRegistry
from piccolo.engine.sqlite import SQLiteEngine

__all__ = ["APP_REGISTRY", "DB"]

# A placeholder so piccolo's tooling can import this module; never used to serve.
DB = SQLiteEngine(path="polyroute.db")

APP_REGISTRY = AppRegistry(apps=["app.db.piccolo_app"])
