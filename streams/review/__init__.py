"""The review pages: a queue picked by signals, a trajectory with its signals marked in the text,
labels in one key (Jinja2 templates, plain CSS, a few lines of vanilla JS; no build step).

Owns the pages (``pages``: view models and templates), where snippets sit in a text
(``highlight``), the aiohttp routes over a query backend (``routes``), the token check and login
(``auth``), and the `signals serve` server (``server``). The worker mounts the same routes on its
web server (``streams/worker/web.py``). Never does: SQL (every query is an op of
``sinks.service``), Faust, reading the environment.
"""

from __future__ import annotations

from streams.review.routes import Backend, Review, application, page_routes

__all__ = ["Backend", "Review", "application", "page_routes"]
