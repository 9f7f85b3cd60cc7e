"""The services the app is built from, created once by the composition root and injected."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from desktop.assistant.replies import ReplyRunner
from desktop.capture.chain import CaptureChain
from desktop.chat.attachments import Loading, Sending
from desktop.chat.client import ChatClient
from desktop.chat.request import sending_for
from desktop.config.profiles import ProfileBook
from desktop.config.secrets import SecretStore
from desktop.config.settings import SettingsStore


@dataclass(frozen=True)
class AppPaths:
    """Where the app keeps its files."""

    config: Path
    data: Path
    logs: Path

    @classmethod
    def for_user(cls) -> AppPaths:
        """The platform's per-user folders (XDG on Linux, AppData on Windows, Library on macOS)."""
        import platformdirs

        return cls(
            config=Path(platformdirs.user_config_dir("glmv-desktop", appauthor=False)),
            data=Path(platformdirs.user_data_dir("glmv-desktop", appauthor=False)),
            logs=Path(platformdirs.user_log_dir("glmv-desktop", appauthor=False)),
        )

    @property
    def settings_file(self) -> Path:
        """The settings file."""
        return self.config / "settings.json"

    @property
    def office_profile(self) -> Path:
        """LibreOffice's private profile for converting Office files (macros off; never the user's own)."""
        return self.data / "office-profile"

    @property
    def local_server_record(self) -> Path:
        """The record of a local server the app started and left running (see ServerManager)."""
        return self.data / "local-server.json"

    @property
    def remote_server_note(self) -> Path:
        """Which SSH host runs the server the app started there (see ServerManager)."""
        return self.data / "remote-server.json"

    @property
    def known_hosts(self) -> Path:
        """The SSH host keys the user trusted in the app (read with their own known_hosts)."""
        from desktop.backends.ssh import KnownHosts

        return self.data / KnownHosts.IN_DATA_DIR


@dataclass
class Services:
    """Everything the UI needs from the layers below it."""

    paths: AppPaths
    settings: SettingsStore
    profiles: ProfileBook
    secrets: SecretStore
    capture: CaptureChain
    client: ChatClient
    runner: ReplyRunner

    @classmethod
    def create(cls, paths: AppPaths, *, secrets: SecretStore | None = None,
               capture: CaptureChain | None = None, client: ChatClient | None = None,
               schedule_save: Callable[[Callable[[], None]], None] | None = None) -> Services:
        """Build the real services; tests inject their own keyring, capture or HTTP client.
        `schedule_save` defers settings writes (the app writes them off the UI thread)."""
        from desktop.capture.chain import default_chain
        from desktop.chat.client import Timeouts

        settings = SettingsStore(paths.settings_file, schedule_save)
        secrets = secrets or SecretStore()
        client = client or ChatClient(timeouts=Timeouts(settings.get("network.connect_timeout"),
                                                        settings.get("network.read_timeout")))

        def on_setting(key: str, value: object) -> None:
            if key.startswith("network."):
                client.timeouts = Timeouts(settings.get("network.connect_timeout"),
                                           settings.get("network.read_timeout"))

        settings.subscribe(on_setting)
        return cls(paths=paths, settings=settings, profiles=ProfileBook(settings), secrets=secrets,
                   capture=capture or default_chain(), client=client, runner=ReplyRunner(client, secrets))

    def sending(self, token_budget: int | None = None) -> Sending:
        """How attachments go to the active endpoint now: the budget (the window's, else the setting), the
        image format, and the endpoint's limits."""
        budget = self.settings.get("images.token_budget") if token_budget is None else token_budget
        return sending_for(self.profiles.active(), budget, self.settings.get("images.format"),
                           send_clean=self.settings.get("annotations.send_clean"))

    def loading(self, *, cancel: threading.Event | None = None, progress: Callable[[str], None] | None = None,
                password: str | None = None) -> Loading:
        """What reading a file needs here (LibreOffice's private profile), with a cancel switch and progress."""
        return Loading(office_profile=self.paths.office_profile, cancel=cancel, progress=progress, password=password)
