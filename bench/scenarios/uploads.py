"""Uploads: upload to ready, rounds of concurrent uploads."""

from __future__ import annotations

import io
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from bench.measure import UPLOAD_ROUNDS, Sampler, group_rss_mb, log, percentile
from bench.stack import Bench


def uploads(bench: Bench) -> dict:
    import httpx
    from PIL import Image

    rng = random.Random(7)
    noise = Image.frombytes("RGB", (190, 180), bytes(rng.getrandbits(8) for _ in range(190 * 180 * 3)))
    buffer = io.BytesIO()
    noise.save(buffer, "PNG")
    content = buffer.getvalue()  # ~100 KB of incompressible PNG
    base = f"http://127.0.0.1:{bench.ports['file']}/api/v1/attachments/"
    headers = {"Authorization": f"Bearer {bench.token}"}

    accepted: dict[str, float] = {}
    finished: dict[str, tuple[float, str]] = {}
    uploading = threading.Event()
    uploading.set()

    def one(_) -> None:
        response = httpx.post(
            base,
            headers=headers,
            data={"ticket_id": bench.ticket_id},
            files={"file": ("noise.png", content, "image/png")},
            timeout=30,
        )
        accepted[response.json()["id"]] = time.monotonic()

    def watch() -> None:
        """One observer of the attachments' rows (every 10 ms, one query for all), not twenty
        clients polling the API: at 20 ms each those were ~1,000 requests/s on the same 2 cores
        as the worker they were timing."""
        with bench.db("file", autocommit=True) as conn:
            while uploading.is_set() or len(finished) < len(accepted):
                waiting = [key for key in accepted if key not in finished]
                if waiting:
                    now = time.monotonic()
                    for key, status in conn.execute(
                        "SELECT id::text, status FROM attachments_attachment WHERE id = ANY(%s::uuid[]) "
                        "AND status IN ('ready', 'rejected')",
                        [waiting],
                    ):
                        finished[key] = (now, status)
                time.sleep(0.01)

    observer = threading.Thread(target=watch, daemon=True)
    observer.start()
    rounds = 1 if bench.args.smoke else UPLOAD_ROUNDS
    with Sampler(lambda: group_rss_mb(bench.pid("worker"))) as rss, ThreadPoolExecutor(20) as pool:
        for turn in range(rounds):  # 20 at once, the next 20 once these are all done
            list(pool.map(one, range(20)))
            deadline = time.monotonic() + 60
            while turn < rounds - 1 and len(finished) < len(accepted) and time.monotonic() < deadline:
                time.sleep(0.05)
        uploading.clear()
        observer.join(timeout=120)
    done = [((finished[key][0] - accepted[key]) * 1000, finished[key][1]) for key in accepted if key in finished]
    latencies = [ms for ms, _ in done]
    out = {
        "size": len(content),
        "rounds": rounds,
        "count": len(done),
        "ready": sum(s == "ready" for _, s in done),
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "worker_rss": rss.peak,
    }
    log(f"uploads: {rounds} x 20 x {len(content) // 1024} KB -> ready p50 {out['p50']:.0f} ms  p95 {out['p95']:.0f} ms")
    return out
