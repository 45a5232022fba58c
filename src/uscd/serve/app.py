"""The HTTP surface: ``GET /v1/models``, ``POST /v1/completions``, ``POST /v1/chat/completions``,
``GET /health`` — the OpenAI API subset that editors, agents and the official client use, with the
decoding method chosen per request through ``extra_body={"uscd": {...}}``."""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass, replace

from fastapi import APIRouter, FastAPI
from fastapi import Request as HttpRequest
from fastapi.responses import JSONResponse, StreamingResponse

from uscd.engine import GenerationConfig, Request, prepare
from uscd.errors import UscdError
from uscd.methods import Sampler
from uscd.search.subject import chat_subject, completion_subject
from uscd.serve import errors
from uscd.serve.chat import ChatTemplate, prepare_chat
from uscd.serve.errors import ApiError, from_engine
from uscd.serve.method import Method, ServerMethods
from uscd.serve.responses import Shape
from uscd.serve.scheduler import Choice, Scheduler
from uscd.serve.schemas import ChatRequest, CompletionRequest, Message, Sampling
from uscd.serve.search import search_completions, search_language
from uscd.serve.session import ChoicePlan, ClientGone, Reply

router = APIRouter()


@dataclass
class ServeConfig:
    model_id: str
    methods: ServerMethods
    batch_size: int
    max_waiting: int = 64
    deadline_s: float | None = 600.0  # a request still running after this is stopped (504)
    cells: int | None = None  # KV cells of the shared context (None: every slot at full length)
    aliases: tuple[str, ...] = ()  # other names clients may use for the model


class ServerState:
    """The one engine of a server and what every request needs from start-up."""

    def __init__(self, backend, config: ServeConfig) -> None:
        self.backend = backend
        self.config = config
        self.methods = config.methods
        self.template = ChatTemplate.from_backend(backend)  # read before the engine thread starts
        self.scheduler = Scheduler(
            backend, config.batch_size, max_waiting=config.max_waiting, cells=config.cells
        )

    def check_model(self, model: str) -> None:
        if model != self.config.model_id and model not in self.config.aliases:
            raise ApiError(
                404,
                f"the model {model!r} does not exist here; this server serves {self.config.model_id!r}",
                param="model",
                code="model_not_found",
            )


def create_app(backend, config: ServeConfig) -> FastAPI:
    """The server for one loaded backend; the engine thread runs while the app's lifespan does."""
    state = ServerState(backend, config)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state.scheduler.start()
        try:
            yield
        finally:
            state.scheduler.close()

    app = FastAPI(title="uscd", lifespan=lifespan)
    app.state.uscd = state
    errors.install(app)
    app.include_router(router)
    return app


def _state(request: HttpRequest) -> ServerState:
    return request.app.state.uscd


# -- routes --------------------------------------------------------------------------------------


@router.get("/health")
async def health(request: HttpRequest) -> dict:
    st = _state(request)
    health = st.scheduler.health()
    return {"status": "ok" if health["engine_alive"] else "down", "model": st.config.model_id, **health}


@router.get("/v1/models")
async def list_models(request: HttpRequest) -> dict:
    st = _state(request)
    model = {
        "id": st.config.model_id,
        "object": "model",
        "created": int(st.scheduler.started_at),
        "owned_by": "uscd",
        "uscd": {**st.methods.describe(), "n_ctx": st.backend.n_ctx, "batch": st.config.batch_size},
    }
    return {"object": "list", "data": [model]}


@router.post("/v1/completions")
async def completions(body: CompletionRequest, request: HttpRequest):
    st = _state(request)
    st.check_model(body.model)
    method = st.methods.resolve(body.uscd)
    prompts = body.prompts()
    if not prompts:
        raise ApiError(400, "prompt must not be an empty list", param="prompt")
    shape = Shape(False, st.config.model_id, method.describe())
    if method.rule.program_search:  # the branch method: a search over whole programs per choice
        language = search_language(method, body)
        searches = [
            replace(
                build_request(st, body, method, prompt, None, k, body.max_tokens),
                subject=completion_subject(prompt, language),
            )
            for prompt in prompts
            for k in range(body.n)
        ]
        return await search_completions(request, st, body, searches, shape)
    choices, plans = [], []
    for prompt in prompts:
        lame, notes = completion_lame(method, prompt)
        for k in range(body.n):
            choices.append(
                Choice(
                    build_request(st, body, method, prompt, lame, k, body.max_tokens), prepare, body.logprobs
                )
            )
            plans.append(ChoicePlan(prompt if body.echo else "", k == 0, notes))
    return await respond(request, st, body, shape, choices, plans)


@router.post("/v1/chat/completions")
async def chat_completions(body: ChatRequest, request: HttpRequest):
    st = _state(request)
    st.check_model(body.model)
    method = st.methods.resolve(body.uscd)
    messages = [as_template_message(m) for m in body.messages]
    prompt = render(st, messages)
    if method.rule.program_search:  # checks from the last user message, run on the reply's code
        search_language(method, body)
        subject = chat_subject(last_user_text(messages))
        limit = body.token_limit()
        searches = [
            replace(build_request(st, body, method, prompt, None, k, limit), subject=subject)
            for k in range(body.n)
        ]
        shape = Shape(True, st.config.model_id, method.describe())
        return await search_completions(request, st, body, searches, shape, prepare_chat)
    lame, notes = chat_lame(st, method, messages, prompt)
    limit = body.token_limit()
    choices = [
        Choice(build_request(st, body, method, prompt, lame, k, limit), prepare_chat, body.top())
        for k in range(body.n)
    ]
    plans = [ChoicePlan("", k == 0, notes) for k in range(body.n)]
    return await respond(
        request, st, body, Shape(True, st.config.model_id, method.describe()), choices, plans
    )


# -- building the engine's requests --------------------------------------------------------------


def build_request(
    st: ServerState, body: Sampling, method: Method, prompt: str, lame, k: int, limit
) -> Request:
    """The engine request of choice k: its own seed (seed + k), so n > 1 samples differ."""
    temperature = body.temperature
    if temperature is None:  # the method's default: greedy, except for the sampling rule
        temperature = 0.8 if method.rule_name == "sample" else 0.0
    seed = None if body.seed is None else body.seed + k
    try:
        sampler = Sampler(temperature=temperature, top_p=body.top_p or 1.0, seed=seed)
        config = GenerationConfig(max_new_tokens=limit or st.backend.n_ctx, stop=body.stops(), trace=False)
    except UscdError as exc:
        raise ApiError(400, str(exc)) from None
    return Request(prompt, lame if "lame" in method.rule.aux else None, method.rule, sampler, config)


def completion_lame(method: Method, prompt: str) -> tuple[str | None, dict]:
    """The lame prompt of a completion: the client's, else derived from the prompt."""
    if "lame" not in method.rule.aux:
        return None, {}
    if method.lame_prompt is not None:
        return method.lame_prompt, {"lame_prompt": "given", "lame_noop": method.lame_prompt == prompt}
    lame = derive_lame(prompt, method.language or "python")
    return lame, {"lame_prompt": "derived", "lame_noop": lame == prompt}


def last_user_text(messages: list[dict]) -> str:
    """The task text of a chat: its last user message ("" when it has none)."""
    users = [m["content"] for m in messages if m["role"] == "user"]
    return users[-1] if users else ""


def chat_lame(st: ServerState, method: Method, messages: list[dict], prompt: str) -> tuple[str | None, dict]:
    """The lame prompt of a chat: the last user message with its examples removed (or the client's
    ``lame_prompt`` in its place), and the conversation rendered again."""
    if "lame" not in method.rule.aux:
        return None, {}
    users = [i for i, m in enumerate(messages) if m["role"] == "user"]
    if not users:
        return prompt, {"lame_prompt": "derived", "lame_noop": True}
    last = users[-1]
    given = method.lame_prompt
    text = given if given is not None else chat_message_lame(messages[last]["content"], method.language)
    lame = render(st, [*messages[:last], {**messages[last], "content": text}, *messages[last + 1 :]])
    return lame, {"lame_prompt": "given" if given is not None else "derived", "lame_noop": lame == prompt}


def chat_message_lame(text: str, language: str | None) -> str:
    """A user message read as Python (doctests in a pasted function), else as prose ("Example:"
    blocks), unless the request names the language."""
    if language is not None:
        return derive_lame(text, language)
    lame = derive_lame(text, "python")
    return lame if lame != text else derive_lame(text, "text")


def derive_lame(text: str, language: str) -> str:
    from uscd.prompts.lame import derive

    try:
        return derive(text, language).lame
    except UscdError as exc:
        raise ApiError(400, f"cannot derive a lame prompt: {exc}", param="uscd.language") from None


def as_template_message(message: Message) -> dict:
    role = "system" if message.role == "developer" else message.role
    return {"role": role, "content": message.text()}


def render(st: ServerState, messages: list[dict]) -> str:
    try:
        return st.template.render(messages)
    except UscdError as exc:
        raise ApiError(400, str(exc), param="messages") from None


# -- answering -----------------------------------------------------------------------------------


async def respond(request: HttpRequest, st: ServerState, body: Sampling, shape: Shape, choices, plans):
    job = st.scheduler.job(choices, st.config.deadline_s)
    try:
        job.submit()
    except UscdError as exc:
        raise from_engine(exc) from None
    reply = Reply(shape, job, plans)
    try:
        await reply.started()
    except BaseException:
        job.cancel()
        raise
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return StreamingResponse(
            reply.stream(include_usage),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    try:
        return JSONResponse(await reply.collect(request))
    except ClientGone:
        return JSONResponse({}, status_code=499)
    finally:
        job.cancel()
