"""`uscd serve`: an OpenAI-compatible HTTP server that decodes with any uscd method.

    app.py        routes (/v1/models, /v1/completions, /v1/chat/completions, /health)
    schemas.py    the request bodies; responses.py the response objects and stream chunks
    method.py     the method of a request (the server's --method, the request's extra_body)
    chat.py       the chat template (the seam to uscd.prompts.chat)
    session.py    one HTTP request's choices, whole or streamed
    scheduler.py  the engine thread (BatchedDecoder.serve) and the bridge to asyncio
    errors.py     OpenAI-style errors

Needs the ``serve`` extra: ``pip install 'uscd[serve]'``.
"""

from uscd.serve.app import ServeConfig, create_app
from uscd.serve.method import ServerMethods

__all__ = ["ServeConfig", "ServerMethods", "create_app"]
