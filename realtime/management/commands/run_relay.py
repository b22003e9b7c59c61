import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand

from realtime.relay import relay_forever


class Command(BaseCommand):
    help = "Resend committed stream events that were not fanned out, and prune old ones."

    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        relay_forever(stop)
