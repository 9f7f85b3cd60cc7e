"""The one declared schema of every non-secret setting: name, type, default, description, bounds.

The settings file, the settings dialog's General page and `glmv-desktop config` are all derived
from `SCHEMA`. Secrets never appear here: API keys live in the OS keychain (see `secrets.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from desktop.config.shortcuts import Shortcut
from desktop.i18n import LANGUAGES, _

SCHEMA_VERSION = 1

# GLM-V's image processor rounds each side to a multiple of 28 px; one token per 28×28 block.
IMAGE_TOKEN_SIDE = 28
# A 1920×1080 screenshot is 2,691 tokens: the default sends a full-HD screen unscaled.
DEFAULT_IMAGE_TOKEN_BUDGET = 2700
# GLM-4.1V/4.5V/4.6V's processor caps an image at 28*28*15000 pixels over 2 temporal frames.
MAX_IMAGE_TOKEN_BUDGET = 7500
MIN_IMAGE_TOKEN_BUDGET = 256


@dataclass(frozen=True)
class Setting:
    """One setting: its dotted key, Python type, default, description and allowed values."""

    key: str
    type: type
    default: Any
    label: str
    description: str
    choices: tuple[tuple[str, str], ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    nullable: bool = False
    advanced: bool = False
    kind: str = ""  # a finer meaning of a str setting: "shortcut" (a key combination, empty = none)

    def coerce(self, value: Any) -> Any:
        """Return `value` converted to this setting's type, or raise ValueError saying why."""
        if value is None:
            if self.nullable:
                return None
            raise ValueError(_("{key} needs a value.").format(key=self.key))
        if self.type is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in {"true", "false", "yes", "no", "1", "0", "on", "off"}:
                return value.lower() in {"true", "yes", "1", "on"}
            raise ValueError(_("{key} must be true or false.").format(key=self.key))
        if self.type in (int, float):
            if isinstance(value, bool):
                raise ValueError(_("{key} must be a number.").format(key=self.key))
            try:
                number = self.type(value)
            except (TypeError, ValueError):
                raise ValueError(_("{key} must be a number.").format(key=self.key)) from None
            if self.type is int and isinstance(value, float) and not value.is_integer():
                raise ValueError(_("{key} must be a whole number.").format(key=self.key))
            if (self.minimum is not None and number < self.minimum) or (
                self.maximum is not None and number > self.maximum
            ):
                raise ValueError(
                    _("{key} must be between {low} and {high}.").format(
                        key=self.key, low=self.minimum, high=self.maximum
                    )
                )
            return number
        if self.type is str:
            if not isinstance(value, str):
                raise ValueError(_("{key} must be text.").format(key=self.key))
            if self.kind == "shortcut":
                return Shortcut.parse(value).portable() if value.strip() else ""
            if self.choices and value not in {c for c, _label in self.choices}:
                allowed = ", ".join(c for c, _label in self.choices)
                raise ValueError(_("{key} must be one of: {allowed}.").format(key=self.key, allowed=allowed))
            return value
        if self.type is list:
            if not isinstance(value, list):
                raise ValueError(_("{key} must be a list.").format(key=self.key))
            return value
        raise TypeError(f"unsupported setting type {self.type!r}")


SCHEMA: tuple[Setting, ...] = (
    Setting(
        "endpoint.profiles", list, [], _("Endpoints"),
        _("The servers the app can ask: cloud, team or local. Keys are kept in the OS keychain."),
        advanced=True,
    ),
    Setting("endpoint.active", str, "", _("Active endpoint"), _("Id of the endpoint used for new questions."),
            advanced=True),
    Setting("endpoint.model", str, "", _("Model"),
            _("Model of the active endpoint for new questions; empty uses the endpoint's default."),
            advanced=True),
    Setting("ui.language", str, "system", _("Language"),
            _("The language of the app's windows, messages and command line. Takes effect when the app starts "
              "again."),
            choices=(("system", _("The system's language")), *LANGUAGES.items())),
    Setting("chat.thinking", bool, True, _("Thinking"),
            _("Let the model reason before answering (slower, often better); reasoning is shown folded.")),
    Setting("chat.max_tokens", int, None, _("Longest answer (tokens)"),
            _("Upper limit on the answer's length (reasoning included); empty leaves it to the server."),
            minimum=16, maximum=131072, nullable=True),
    Setting("chat.temperature", float, None, _("Temperature"),
            _("Sampling temperature; empty uses the model's recommended default."),
            minimum=0.0, maximum=2.0, nullable=True, advanced=True),
    Setting("chat.top_p", float, None, _("Top-p"), _("Nucleus sampling; empty uses the server's default."),
            minimum=0.0, maximum=1.0, nullable=True, advanced=True),
    Setting("chat.top_k", int, None, _("Top-k"),
            _("Sample from the k likeliest tokens; only servers that accept it (vLLM, SGLang, llama.cpp) get it."),
            minimum=1, maximum=1000, nullable=True, advanced=True),
    Setting("chat.repetition_penalty", float, None, _("Repetition penalty"),
            _("Discourage repeated text; only servers that accept it (vLLM, SGLang, llama.cpp) get it."),
            minimum=0.5, maximum=2.0, nullable=True, advanced=True),
    Setting("images.token_budget", int, DEFAULT_IMAGE_TOKEN_BUDGET, _("Image budget (tokens per image)"),
            _("Images larger than this are downscaled before sending (never upscaled). One token is about "
              "28×28 pixels: 2,700 keeps a full-HD screen sharp; 7,500 is the model's own limit."),
            minimum=MIN_IMAGE_TOKEN_BUDGET, maximum=MAX_IMAGE_TOKEN_BUDGET),
    Setting("images.format", str, "jpeg", _("Image format"),
            _("How images are encoded for the server: JPEG is small and fast, PNG is lossless."),
            choices=(("jpeg", _("JPEG (quality 92)")), ("png", _("PNG (lossless)")))),
    Setting("annotations.send_clean", bool, False, _("Send the unmarked picture too"),
            _("With an annotated picture, also send it without the drawings (blur and pixelate stay burned in), so "
              "the model sees what the marks cover.")),
    Setting("annotations.keep_original", bool, True, _("Keep the unredacted original"),
            _("Blurred and pixelated parts are never sent. Off: they are also burned into the picture kept on this "
              "computer (history, drafts) as soon as the editor closes, so the original is gone.")),
    Setting("annotations.colour", str, "#e62828", _("Annotation colour"),
            _("The colour the editor starts with (#rrggbb)."), advanced=True),
    Setting("annotations.width", int, 4, _("Annotation width"),
            _("The stroke width the editor starts with, in picture pixels (the mouse wheel changes it)."),
            minimum=1, maximum=40, advanced=True),
    Setting("recording.fps", int, 10, _("Recording frame rate"),
            _("Frames per second of a screen recording (more shows quick changes, costs more CPU and tokens)."),
            minimum=1, maximum=30),
    Setting("recording.max_seconds", int, 60, _("Longest recording (s)"),
            _("A screen recording stops by itself after this many seconds."), minimum=1, maximum=600),
    Setting("capture.scope", str, "pointer", _("Ask about my screen captures"),
            _("Which screen 'Ask about my screen' captures."),
            choices=(("pointer", _("The monitor under the mouse pointer")), ("all", _("All monitors, side by side")))),
    Setting("network.connect_timeout", float, 10.0, _("Connect timeout (s)"),
            _("How long to wait for a server to accept the connection."), minimum=1.0, maximum=120.0),
    Setting("network.read_timeout", float, 120.0, _("Read timeout (s)"),
            _("How long a server may stay silent mid-answer before the answer is marked interrupted."),
            minimum=5.0, maximum=3600.0),
    *(Setting(f"hotkeys.{action}", str, default, label,
              _("Global key combination, pressed in any program; empty turns it off. If another program holds it, "
                "Settings → Hotkeys & capture says so."), kind="shortcut")
      for action, default, label in (
          ("capture_region", "Ctrl+Alt+Shift+S", _("Hotkey: capture a region")),
          ("capture_window", "Ctrl+Alt+Shift+W", _("Hotkey: capture the window under the pointer")),
          ("capture_screen", "Ctrl+Alt+Shift+F", _("Hotkey: capture the screen under the pointer")),
          ("capture_all", "Ctrl+Alt+Shift+D", _("Hotkey: capture all monitors")),
          ("quick_ask", "Ctrl+Alt+Shift+Q", _("Hotkey: quick ask")),
          ("record", "Ctrl+Alt+Shift+R", _("Hotkey: record a region, or stop recording")),
      )),
    Setting("servers.ssh_hosts", list, [], _("SSH hosts for servers"),
            _("GPU servers reached over SSH, where the Local servers window can start a model (address, key file, "
              "Python); edited in that window."), advanced=True),
    Setting("quick_ask.history", list, [], _("Quick-ask history"),
            _("The last questions typed in the quick-ask popup (Up and Down recall them)."), advanced=True),
    Setting("local.models_dir", str, "", _("Folder for downloaded models"),
            _("Where model weights are downloaded to; empty uses the app's data folder. Large models need "
              "hundreds of GB."), advanced=True),
    Setting("local.download_source", str, "huggingface", _("Download models from"),
            _("Hugging Face, or ModelScope (faster from mainland China)."),
            choices=(("huggingface", _("Hugging Face")), ("modelscope", _("ModelScope")))),
    Setting("local.mirror", str, "", _("Model download mirror"),
            _("A mirror of the chosen hub (for example an HF_ENDPOINT address); empty uses the hub itself."),
            advanced=True),
    Setting("local.keep_running", bool, False, _("Keep the local server running when the app quits"),
            _("Otherwise the server is stopped on quit, and its GPU memory freed.")),
    Setting("local.model_folders", list, [], _("Model folders added by hand"),
            _("Model folders on this computer offered in the Local servers window beside the catalog."),
            advanced=True),
    *(Setting(f"local.engine_python.{engine}", str, "", _("Existing {engine} install").format(engine=label),
              _("The Python of an environment where {engine} is installed; empty uses the one the app "
                "installs.").format(engine=label), advanced=True)
      for engine, label in (("vllm", "vLLM"), ("sglang", "SGLang"), ("transformers", "transformers serve"))),
    Setting("local.llama_server", str, "", _("llama-server program"),
            _("The llama.cpp server program; empty looks for llama-server on the PATH."), advanced=True),
    Setting("history.save_new", bool, True, _("Keep new conversations in the history"),
            _("New conversations are saved on this computer as they happen (searchable in the chat window's "
              "history); each one can still be left out with 'Don't save this conversation'.")),
    Setting("history.retention", str, "forever", _("Keep history for"),
            _("Older conversations are deleted in the background when the app starts (pinned ones are kept)."),
            choices=(("forever", _("Forever")), ("90", _("90 days")), ("30", _("30 days")))),
    Setting("app.start_at_login", bool, False, _("Start when I log in"),
            _("Start GLM-V Desktop in the tray when you log in to this computer.")),
    Setting("ui.reasoning_expanded", bool, False, _("Show reasoning unfolded"),
            _("Open the reasoning panel of each answer by default.")),
    Setting("ui.history_sidebar", bool, True, _("Show the history beside the chat"),
            _("Whether the chat window shows its history sidebar (the button at its top left opens and closes it)."),
            advanced=True),
)

BY_KEY: dict[str, Setting] = {s.key: s for s in SCHEMA}

# Each migration turns a file of version N-1 into version N (key renames, changed meanings).
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}
