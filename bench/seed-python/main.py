"""The seed's design (FastAPI + uvicorn), written from its description for the benchmark only.

What it does, as the seed describes it: an AppState with an in-flight counter under an
asyncio lock, a `shutting_down` flag and an event; a middleware that counts *every*
request (probes included) and raises a 503 while shutting down; a lifespan that sets the
flag and waits up to 30 s for the counter to reach zero; GET /health, GET /ready, POST /hello.
Its known defects are kept on purpose (that is what lameduck is compared with): /ready
counts itself, so at max_concurrency = 1 it is always 503, and the middleware's 503 is
an exception outside the error handler. POST /hello validates the same body as the
Fastify route: name a string of 1-100 characters, work_ms an integer 0-600000, nothing else.
"""
import asyncio
import os
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Optional

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Extra, StrictInt, StrictStr, conint, constr


@dataclass
class AppState:
    active_requests: int = 0
    shutting_down: bool = False
    shutdown_event: asyncio.Event = field(default_factory=asyncio.Event)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    max_concurrency: int = int(os.environ.get("MAX_CONCURRENCY", "1"))


state = AppState()


@asynccontextmanager
async def lifespan(app: FastAPI):
    yield
    state.shutting_down = True
    if state.active_requests > 0:
        try:
            await asyncio.wait_for(state.shutdown_event.wait(), timeout=30)
        except asyncio.TimeoutError:
            pass


app = FastAPI(lifespan=lifespan)


@app.middleware("http")
async def track_requests(request: Request, call_next):
    if state.shutting_down:
        raise HTTPException(status_code=503, detail="shutting down")
    async with state.lock:
        state.active_requests += 1
    try:
        return await call_next(request)
    finally:
        async with state.lock:
            state.active_requests -= 1
            if state.shutting_down and state.active_requests == 0:
                state.shutdown_event.set()


class HelloBody(BaseModel, extra=Extra.forbid):
    name: Optional[constr(strict=True, min_length=1, max_length=100)] = None
    work_ms: Optional[conint(strict=True, ge=0, le=600_000)] = None


@app.post("/hello")
async def hello(body: Optional[HelloBody] = None):
    body = body or HelloBody()
    if body.work_ms:
        await asyncio.sleep(body.work_ms / 1000)
    return {"message": f"Hello, {body.name or 'World'}!"}


@app.get("/health")
async def health():
    return {"status": "healthy"}


@app.get("/ready")
async def ready():
    shape = {"active_requests": state.active_requests, "max_concurrency": state.max_concurrency}
    if state.shutting_down:
        return JSONResponse({"status": "shutting_down", **shape}, status_code=503)
    if state.active_requests >= state.max_concurrency:
        return JSONResponse({"status": "at_capacity", **shape}, status_code=503)
    return {"status": "ready", **shape}
