"""A local OpenAI-compatible server for tests: files, fine-tuning jobs and chat completions, for
the real ``openai`` SDK (``AsyncOpenAI(base_url=server.base_url)``). Jobs advance one step per
``retrieve`` (validating_files → queued → running → succeeded), so tests need no sleeps. Faults:
``fail_next(status)`` answers the next request with 429/500; ``fail_jobs = True`` makes new jobs
fail; ``hang_next()`` makes the next request wait past the client's timeout; ``hold(method, path)``
stops a matching request before (or, ``after=True``, after) it is handled until released, and says
when one arrived: a test can kill the bot at that exact moment.
``chat_reply`` is the chat answer: a string, or a callable ``reply(messages) -> str`` to answer
per input (e.g. a classifier's label per text).
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import re
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

STEPS = ("validating_files", "queued", "running", "succeeded")


@dataclasses.dataclass
class FakeJob:
    id: str
    model: str
    training_file: str
    method: dict[str, Any] | None
    step: int = 0
    status: str = "validating_files"
    fine_tuned_model: str | None = None
    error: dict[str, Any] | None = None
    events: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    fail: bool = False

    def payload(self) -> dict[str, Any]:
        return {"id": self.id, "object": "fine_tuning.job", "created_at": int(time.time()), "model": self.model,
                "training_file": self.training_file, "validation_file": None, "status": self.status,
                "fine_tuned_model": self.fine_tuned_model, "finished_at": None, "error": self.error,
                "hyperparameters": {"n_epochs": 3}, "organization_id": "org-test", "result_files": [],
                "seed": 1, "trained_tokens": None, "method": self.method}


@dataclasses.dataclass
class Hold:
    """Requests matching ``method`` and ``pattern`` wait here (``skip`` matching ones pass first)."""

    method: str
    pattern: re.Pattern[str]
    after: bool
    skip: int = 0
    reached: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    """Set when a request is being held (for ``after``: once it was handled, its answer unsent)."""
    released: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)

    def release(self) -> None:
        self.released.set()


class OpenAIServer:
    def __init__(self) -> None:
        self.files: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, FakeJob] = {}
        self.chat_requests: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str]] = []
        self.fail_jobs = False
        self.chat_reply: str | Callable[[list[dict[str, Any]]], str] = "Hello from the test model."
        self._faults: list[int] = []
        self._holds: list[Hold] = []
        self.held: list[Hold] = []
        """Holds that caught a request (released at ``stop``, whoever held them)."""
        self._hang = 0
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def fail_next(self, status: int = 500, count: int = 1) -> None:
        self._faults.extend([status] * count)

    def hang_next(self) -> None:
        self._hang += 1

    def hold(self, method: str, path: str, *, after: bool = False, skip: int = 0) -> Hold:
        """Hold the next request ``method`` ``path`` (a regular expression matched against the whole
        path) after ``skip`` matching ones, before it is handled (or after, with its answer unsent),
        until ``release()``; ``await hold.reached.wait()`` to learn when."""
        held = Hold(method.upper(), re.compile(path), after, skip)
        self._holds.append(held)
        return held

    def _hold_for(self, request: web.Request) -> Hold | None:
        for held in self._holds:
            if held.method == request.method and held.pattern.fullmatch(request.path):
                if held.skip:
                    held.skip -= 1
                    return None
                self._holds.remove(held)
                return held
        return None

    def uploaded_jsonl(self, file_id: str | None = None) -> list[dict[str, Any]]:
        """The JSONL lines of an uploaded file (the last one by default)."""
        record = self.files[file_id] if file_id else list(self.files.values())[-1]
        return [json.loads(line) for line in record["content"].decode().splitlines() if line.strip()]

    async def start(self) -> None:
        app = web.Application(middlewares=[self._middleware])
        r = app.router
        r.add_post("/v1/files", self._create_file)
        r.add_get("/v1/files", self._list_files)
        r.add_get("/v1/files/{id}", self._get_file)
        r.add_delete("/v1/files/{id}", self._delete_file)
        r.add_get("/v1/files/{id}/content", self._file_content)
        r.add_post("/v1/fine_tuning/jobs", self._create_job)
        r.add_get("/v1/fine_tuning/jobs", self._list_jobs)
        r.add_get("/v1/fine_tuning/jobs/{id}", self._get_job)
        r.add_get("/v1/fine_tuning/jobs/{id}/events", self._events)
        r.add_post("/v1/fine_tuning/jobs/{id}/cancel", self._cancel)
        r.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        for held in [*self._holds, *self.held]:  # nothing stays held past the test (the runner would wait)
            held.release()
        if self._runner is not None:
            await self._runner.cleanup()

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        if self._hang:
            self._hang -= 1
            await asyncio.sleep(30)
        if self._faults:
            status = self._faults.pop(0)
            return web.json_response({"error": {"message": f"injected {status}", "type": "server_error",
                                                "code": None}}, status=status,
                                     headers={"retry-after-ms": "10"} if status == 429 else None)
        held = self._hold_for(request)
        if held is None:
            response: web.StreamResponse = await handler(request)
            return response
        self.held.append(held)
        if not held.after:
            held.reached.set()
            await held.released.wait()
            response = await handler(request)
            return response
        response = await handler(request)
        held.reached.set()
        await held.released.wait()
        return response

    async def _create_file(self, request: web.Request) -> web.Response:
        form = await request.post()
        upload = form["file"]
        file_id = f"file-{next(self._ids)}"
        content = upload.file.read()  # type: ignore[union-attr]
        self.files[file_id] = {"id": file_id, "object": "file", "bytes": len(content), "created_at": int(time.time()),
                               "filename": upload.filename, "purpose": form.get("purpose"),  # type: ignore[union-attr]
                               "status": "processed", "content": content}
        return web.json_response({k: v for k, v in self.files[file_id].items() if k != "content"})

    async def _get_file(self, request: web.Request) -> web.Response:
        record = self.files.get(request.match_info["id"])
        if record is None:
            return web.json_response({"error": {"message": "No such file", "type": "invalid_request_error"}},
                                     status=404)
        return web.json_response({k: v for k, v in record.items() if k != "content"})

    async def _list_files(self, request: web.Request) -> web.Response:
        purpose = request.query.get("purpose")
        listed = [{k: v for k, v in f.items() if k != "content"} for f in reversed(self.files.values())
                  if purpose is None or f["purpose"] == purpose]
        return web.json_response({"object": "list", "data": listed, "has_more": False})

    async def _delete_file(self, request: web.Request) -> web.Response:
        file_id = request.match_info["id"]
        if self.files.pop(file_id, None) is None:
            missing = {"error": {"message": "No such file", "type": "invalid_request_error"}}
            return web.json_response(missing, status=404)
        return web.json_response({"id": file_id, "object": "file", "deleted": True})

    async def _file_content(self, request: web.Request) -> web.Response:
        return web.Response(body=self.files[request.match_info["id"]]["content"])

    async def _create_job(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("training_file") not in self.files:
            return web.json_response({"error": {"message": f"invalid training_file: {body.get('training_file')}",
                                                "type": "invalid_request_error", "param": "training_file"}}, status=400)
        job = FakeJob(f"ftjob-{next(self._ids)}", body["model"], body["training_file"], body.get("method"),
                      fail=self.fail_jobs)
        job.events.append({"message": "Validating training file", "level": "info"})
        self.jobs[job.id] = job
        return web.json_response(job.payload())

    def _advance(self, job: FakeJob) -> None:
        if job.status in ("succeeded", "failed", "cancelled"):
            return
        if job.fail and job.step >= 1:
            job.status = "failed"
            job.error = {"code": "invalid_training_file", "param": "training_file",
                         "message": "Training file has too few examples of each class."}
            job.events.append({"message": "Job failed: training file invalid", "level": "error"})
            return
        job.step += 1
        job.status = STEPS[job.step]
        if job.status == "running":
            job.events.append({"message": "Step 10/30: training loss=0.42", "level": "info"})
        elif job.status == "succeeded":
            job.fine_tuned_model = f"ft:{job.model}:trainerbot:{job.id}"
            job.events.append({"message": "The job has successfully completed", "level": "info"})
        else:
            job.events.append({"message": f"Job {job.status.replace('_', ' ')}", "level": "info"})

    async def _get_job(self, request: web.Request) -> web.Response:
        job = self.jobs.get(request.match_info["id"])
        if job is None:
            return web.json_response({"error": {"message": "No such job", "type": "invalid_request_error"}}, status=404)
        self._advance(job)
        return web.json_response(job.payload())

    async def _list_jobs(self, request: web.Request) -> web.Response:
        newest_first = [j.payload() for j in reversed(self.jobs.values())]
        return web.json_response({"object": "list", "data": newest_first, "has_more": False})

    async def _events(self, request: web.Request) -> web.Response:
        job = self.jobs[request.match_info["id"]]
        data = [{"id": f"ftevent-{job.id}-{i}", "object": "fine_tuning.job.event", "created_at": 1000 + i,
                 "level": e["level"], "message": e["message"], "type": "message"} for i, e in enumerate(job.events)]
        return web.json_response({"object": "list", "data": list(reversed(data)), "has_more": False})

    async def _cancel(self, request: web.Request) -> web.Response:
        job = self.jobs[request.match_info["id"]]
        job.status = "cancelled"
        job.events.append({"message": "Job cancelled", "level": "info"})
        return web.json_response(job.payload())

    async def _chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.chat_requests.append(body)
        reply = self.chat_reply(body["messages"]) if callable(self.chat_reply) else self.chat_reply
        return web.json_response({
            "id": f"chatcmpl-{next(self._ids)}", "object": "chat.completion", "created": int(time.time()),
            "model": body["model"], "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                                                 "message": {"role": "assistant", "content": reply}}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}})
