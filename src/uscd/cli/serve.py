"""`uscd serve`: an OpenAI-compatible HTTP server (completions, chat, streaming) that decodes with
any uscd method, chosen per request through `extra_body={"uscd": {...}}`."""

from __future__ import annotations

import argparse
import socket

from uscd.cli._options import add_model_options, batch_size, check_threads, positive_int
from uscd.errors import UscdError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve", help="serve an OpenAI-compatible API that decodes with uscd", description=__doc__
    )
    add_model_options(p)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    p.add_argument(
        "--batch",
        type=batch_size,
        default="auto",
        help="requests decoded together in one llama.cpp context (default auto: measured once per model)",
    )
    p.add_argument(
        "--method",
        default="uscd",
        help="the server's methods, LABEL=RULE:knob=value,... or @PRESET (the model's measured method, "
        "e.g. @branch) as in `uscd eval --methods`; the first is the default, a request picks another "
        "with extra_body={'uscd': {'method': LABEL}} (default: uscd)",
    )
    p.add_argument(
        "--max-waiting", type=positive_int, default=64, help="queued requests before 429 (default 64)"
    )
    p.add_argument(
        "--deadline",
        type=float,
        default=600.0,
        help="seconds a request may run before it is stopped (0: none)",
    )
    p.add_argument(
        "--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"]
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from uscd.serve import ServeConfig, ServerMethods, create_app
    except ImportError as exc:
        raise UscdError(f"uscd serve needs {exc.name}: pip install 'uscd[serve]'") from None
    from uscd.engine import resolve_batch
    from uscd.engine.backends import load_backend
    from uscd.models import model_name, resolve

    check_threads(args.threads)
    if args.deadline < 0:
        raise UscdError(f"--deadline must be >= 0 seconds, got {args.deadline}")
    methods = ServerMethods(args.method, args.model)  # a bad method fails before the model loads
    check_port(args.host, args.port)
    path = resolve(args.model)
    backend = load_backend(args.backend, path, n_ctx=args.n_ctx, n_threads=args.threads, dtype=args.dtype)
    if not backend.capabilities.multi_sequence:
        raise UscdError(f"uscd serve needs a backend that batches requests; {backend.name} does not")
    config = ServeConfig(
        model_id=model_name(path),
        methods=methods,
        batch_size=resolve_batch(backend, args.batch),
        max_waiting=args.max_waiting,
        deadline_s=args.deadline or None,
        aliases=tuple({path.name, str(path), *([args.model] if args.model else []), "default"}),
    )
    app = create_app(backend, config)
    print(
        f"uscd serve: {config.model_id} on http://{args.host}:{args.port}/v1 (batch {config.batch_size})",
        flush=True,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


def check_port(host: str, port: int) -> None:
    """Refuse a port that is taken, in one line, before the model is loaded."""
    if not 0 < port < 65536:
        raise UscdError(f"--port must be in 1..65535, got {port}")
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise UscdError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
