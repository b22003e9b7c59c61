"""The outbox relay loop: resend what was committed but never fanned out, prune old events."""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.db import close_old_connections

from realtime import metrics

logger = logging.getLogger(__name__)
PRUNE_EVERY_SECONDS = 300.0


def relay_forever(stop: threading.Event) -> None:
    from realtime.selectors import undispatched_summary
    from realtime.services import prune_outbox, relay_pending

    last_prune = 0.0
    logger.info("outbox relay started interval=%ss", settings.OUTBOX_RELAY_INTERVAL_SECONDS)
    while not stop.is_set():
        try:
            while relay_pending().sent:
                pass
            pending, lag = undispatched_summary()
            metrics.OUTBOX_PENDING.set(pending)
            metrics.OUTBOX_LAG.set(lag or 0.0)
            if time.monotonic() - last_prune > PRUNE_EVERY_SECONDS:
                prune_outbox()
                last_prune = time.monotonic()
        except Exception:
            logger.error("outbox relay pass failed; retrying", exc_info=True)
        finally:
            close_old_connections()
        stop.wait(settings.OUTBOX_RELAY_INTERVAL_SECONDS)
    logger.info("outbox relay stopped")


_thread: threading.Thread | None = None
_lock = threading.Lock()


def ensure_in_process_relay() -> None:
    """Embedded mode has no relay process: the web process runs one on a thread."""
    global _thread
    if not settings.OUTBOX_RELAY_IN_PROCESS:
        return
    with _lock:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(
                target=relay_forever, args=(threading.Event(),), name="outbox-relay", daemon=True
            )
            _thread.start()
