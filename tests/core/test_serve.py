"""core.serve: the web tier's process is daphne on uvloop. (The live tests run every
web server through it: tests/fixtures_live.py.)"""

import subprocess
import sys

from django.conf import settings

from core import processes

# A fresh interpreter whose daphne CLI only says which loop daphne made on import.
PROBE = """
import sys, types
cli = types.ModuleType("daphne.cli")
class CommandLineInterface:
    @staticmethod
    def entrypoint():
        import daphne.server
        print(type(daphne.server.twisted_loop).__module__, sys.argv[1:])
cli.CommandLineInterface = CommandLineInterface
sys.modules["daphne.cli"] = cli
sys.argv = ["serve", "config.asgi:application"]
from core import serve
serve.main()
"""


def test_it_gives_daphne_uvloops_event_loop():
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, cwd=settings.BASE_DIR, check=True)
    assert done.stdout.strip() == "uvloop ['config.asgi:application']"


def test_it_is_how_the_web_tier_starts():
    command = processes.daphne_command("127.0.0.1", 8000)
    assert command[1:3] == ["-m", "core.serve"]
    assert command[-1] == "config.asgi:application"
