"""Take the README's screenshot of the real app: Ask about my screen, answered by the tiny GLM-V
model under `transformers serve`, on an Xvfb desktop with a tray.

    .venv/bin/python -m docs.screenshots.make_readme_screenshot
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mss
from PIL import Image

from tests.support import desktop_env
from tests.support.app_process import AppProcess, app_env
from tests.support.pictures import make_known_picture
from tests.support.tiny_glmv import TinyGlmvServer, build_tiny_glmv

OUT = Path(__file__).resolve().parent / "chat-tiny-model.png"


def main() -> int:
    """Set the desktop up, ask, and save the screen."""
    work = Path(tempfile.mkdtemp(prefix="glmv-shot-"))
    model_dir = work / "GLM-V-tiny"
    x = desktop_env.start_xvfb(1920, 1080)
    tray = desktop_env.start_tray(x)
    bus = desktop_env.start_session_bus(work / "data")
    picture = work / "picture.png"
    make_known_picture(picture, 1920, 1080)
    viewer_process = subprocess.Popen([sys.executable, "-m", "tests.support.show_picture", str(picture)],  # noqa: S603
                                      env=x.env(), stdout=subprocess.PIPE, text=True)
    assert viewer_process.stdout is not None
    viewer_process.stdout.readline()
    try:
        with TinyGlmvServer(build_tiny_glmv(model_dir)) as server:
            env = app_env(x, work, DBUS_SESSION_BUS_ADDRESS=bus.address)
            config = work / "config" / "glmv-desktop"
            config.mkdir(parents=True)
            profile = {"id": "tiny", "name": "Tiny GLM-V (transformers serve)", "flavor": "transformers",
                       "base_url": server.base_url, "model": server.model}
            (config / "settings.json").write_text(json.dumps({
                "schema_version": 1, "endpoint.profiles": [profile], "endpoint.active": "tiny",
                "endpoint.model": server.model, "ui.reasoning_expanded": True}))
            app = AppProcess(env)
            try:
                app.wait_for("tray-shown")
                app.cli("ask", "--screen", "--send", "What is on my screen?")
                app.wait_for("reply-finished", timeout=120)
                time.sleep(1.0)
                with mss.MSS(display=x.display) as grabber:
                    shot = grabber.grab(grabber.monitors[1])
                Image.frombytes("RGB", shot.size, shot.bgra, "raw", "BGRX").save(OUT, optimize=True)
                app.cli("quit")
                app.wait_exit()
            finally:
                app.kill()
    finally:
        viewer_process.terminate()
        viewer_process.wait()
        bus.stop()
        tray.stop()
        x.stop()
    print(OUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
