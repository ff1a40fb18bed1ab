"""Worker pool and result cache of the web server.

Simulations run in worker processes, never in the server's event loop, on two lanes: ``quick``
(plans, milliseconds) and ``long`` (run, train, infer, collective, reliability: seconds), each its own
process pool, so a plan keeps answering while every long worker is busy.  A job is handed to a pool
only when one of its workers is free (jobs wait in the server, in order), so a job nobody waits for
any more (the browser moved on) is dropped before it starts.  Identical requests share one result:
a finished one from an LRU cache, a running one by waiting on the same job.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import json
import multiprocessing
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from fabricsim.errors import FabricsimError
from fabricsim.web import work


class Busy(Exception):
    """Too many simulations queued (HTTP 503)."""


class Disconnected(Exception):
    """The client left before its result was ready."""


def request_key(endpoint: str, *parts) -> str:
    """A canonical key of a request: endpoint and its JSON-encoded parts with sorted keys."""
    return endpoint + ":" + json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)


@dataclass
class _Job:
    future: asyncio.Future  # the outcome, for every waiter
    task: asyncio.Task | None = None
    waiters: int = 0
    started: bool = False  # handed to a worker process (cannot be taken back)


@dataclass
class Jobs:
    """Two process pools, a cache of finished documents and a table of running jobs.

    workers: processes of the long lane (the quick lane has one).
    cache_entries: documents kept (errors that come from the input, FabricsimError, are kept too).
    queued_jobs: jobs running or waiting at once before :class:`Busy`.
    """

    workers: int = 1
    cache_entries: int = 256
    queued_jobs: int = 32
    hits: int = 0
    misses: int = 0
    _pools: dict = field(default_factory=dict)
    _slots: dict = field(default_factory=dict)
    _cache: OrderedDict = field(default_factory=OrderedDict)
    _running: dict = field(default_factory=dict)

    def start(self) -> None:
        for lane, size in (("quick", 1), ("long", self.workers)):
            self._pools[lane] = self._pool(size)
            self._slots[lane] = (asyncio.Semaphore(size), size)

    @staticmethod
    def _pool(size: int) -> cf.ProcessPoolExecutor:
        context = multiprocessing.get_context("spawn")  # no fork of a process with running threads
        return cf.ProcessPoolExecutor(size, mp_context=context, initializer=work.warm)

    def stop(self) -> None:
        """Stop the workers (a running simulation is ended, not waited for)."""
        for pool in self._pools.values():
            processes = list((getattr(pool, "_processes", None) or {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for process in processes:
                if process.is_alive():
                    process.terminate()
        self._pools.clear()

    @property
    def pending(self) -> int:
        return len(self._running)

    async def submit(self, key: str, lane: str, fn: Callable, *args,
                     disconnected: Callable[[], Awaitable[bool]] | None = None) -> tuple[dict, str]:
        """The document of ``fn(*args)``, and how it was found: 'hit', 'shared' or 'miss'.

        A FabricsimError of the work is raised here (as is one from the cache)."""
        if key in self._cache:
            self._cache.move_to_end(key)
            self.hits += 1
            return self._unpack(self._cache[key]), "hit"
        job = self._running.get(key)
        how = "shared"
        if job is None:
            if len(self._running) >= self.queued_jobs:
                raise Busy(f"server busy: {len(self._running)} simulations running or queued "
                           f"(limit queued_jobs = {self.queued_jobs}); try again shortly")
            self.misses += 1
            how = "miss"
            job = self._launch(key, lane, fn, args)
        job.waiters += 1
        try:
            while True:
                done, _ = await asyncio.wait({job.future}, timeout=0.25)
                if done:
                    return self._unpack(job.future.result()), how
                if disconnected is not None and await disconnected():
                    raise Disconnected()
        finally:
            job.waiters -= 1
            if job.waiters == 0 and not job.started and not job.future.done():  # nobody wants it: drop it
                job.task.cancel()
                if self._running.get(key) is job:
                    del self._running[key]

    def _launch(self, key: str, lane: str, fn: Callable, args) -> _Job:
        job = _Job(asyncio.get_running_loop().create_future())
        job.task = asyncio.create_task(self._run(key, lane, job, fn, args))
        self._running[key] = job
        return job

    async def _run(self, key: str, lane: str, job: _Job, fn: Callable, args) -> None:
        try:
            async with self._slots[lane][0]:
                job.started = True
                outcome = await asyncio.wrap_future(self._submit(lane, fn, args))
        except asyncio.CancelledError:
            job.future.cancel()
            raise
        except Exception as exc:  # not the input's fault (a worker died, a bug): not cached
            job.future.set_exception(exc)
            job.future.exception()  # retrieved: nobody may be waiting any more
        else:
            self._cache[key] = outcome
            while len(self._cache) > self.cache_entries:
                self._cache.popitem(last=False)
            job.future.set_result(outcome)
        finally:
            if self._running.get(key) is job:
                del self._running[key]

    def _submit(self, lane: str, fn: Callable, args) -> cf.Future:
        try:
            return self._pools[lane].submit(_guarded, fn, *args)
        except cf.process.BrokenProcessPool:  # a worker died (killed, out of memory): a new pool for the lane
            self._pools[lane] = self._pool(self._slots[lane][1])
            return self._pools[lane].submit(_guarded, fn, *args)

    @staticmethod
    def _unpack(outcome):
        kind, value = outcome
        if kind == "error":
            raise value
        return value


def _guarded(fn: Callable, *args):
    """Run in a worker: ('ok', document) or ('error', FabricsimError) - bad input is a result to cache."""
    try:
        return "ok", fn(*args)
    except FabricsimError as exc:
        return "error", exc
