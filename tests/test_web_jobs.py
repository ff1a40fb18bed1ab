"""The web server's worker pool: a job nobody waits for is cancelled before it starts, a full queue is
refused, bad input is cached like a result, identical requests share one job."""

import asyncio
import time

import pytest

from fabricsim.errors import FabricsimError
from fabricsim.units import parse_bytes
from fabricsim.web.jobs import Busy, Disconnected, Jobs, request_key


async def _never():
    return False


async def _gone():
    return True


def test_queue_cancel_busy_and_cached_errors(tmp_path):
    marker = tmp_path / "ran"  # the job whose client leaves would write it (in its worker process) if it ran
    jobs = Jobs(workers=1, queued_jobs=2)
    jobs.start()
    try:
        async def scenario():
            # the long lane's only worker sleeps; a second job waits behind it
            first = asyncio.create_task(jobs.submit(request_key("sleep", 1), "long", time.sleep, 1.0,
                                                    disconnected=_never))
            await asyncio.sleep(0.05)
            with pytest.raises(Disconnected):  # its client leaves: the queued job is cancelled, never run
                await jobs.submit(request_key("write", 2), "long", marker.write_text, "ran", disconnected=_gone)
            assert jobs.pending == 1
            second = asyncio.create_task(jobs.submit(request_key("sleep", 3), "long", time.sleep, 0.1,
                                                     disconnected=_never))
            await asyncio.sleep(0.05)
            with pytest.raises(Busy):  # two jobs running or queued: the limit
                await jobs.submit(request_key("sleep", 4), "long", time.sleep, 0.1)
            assert (await first)[1] == "miss" and (await second)[1] == "miss"
            assert not marker.exists()  # queued before the second job on the one worker: dropped, never run
            # a plan keeps its own lane; bad input comes back as the CLI's error, then from the cache
            for how in ("miss", "hit"):
                with pytest.raises(FabricsimError, match="not a size"):
                    await jobs.submit(request_key("size", "x"), "quick", parse_bytes, "x", "--sizes")
            shared = await asyncio.gather(*[jobs.submit(request_key("size", "1MiB"), "quick", parse_bytes,
                                                        "1MiB", "--sizes") for _ in range(3)])
            assert [doc for doc, _ in shared] == [2**20] * 3
            assert sorted(how for _, how in shared) == ["miss", "shared", "shared"]

        asyncio.run(scenario())
        assert not marker.exists()
    finally:
        jobs.stop()
