"""Endpoint profiles: where to send questions, and what each kind of server speaks.

`ServerTraits` holds protocol facts per server flavour (verified against each server's source):
how thinking is switched, which delta field carries reasoning, which extra sampling fields it
accepts, image limits, and whether its stream ends with `[DONE]`. A profile is what the user
edits: a name, a flavour, a URL and a model. Its API key is not here; it lives in the keychain.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any
from urllib.parse import urlparse

from desktop.config.settings import SettingsStore
from desktop.i18n import _


class Flavor(StrEnum):
    """The kind of server behind an endpoint."""

    ZAI = "zai"
    BIGMODEL = "bigmodel"
    VLLM = "vllm"
    SGLANG = "sglang"
    LLAMACPP = "llamacpp"
    TRANSFORMERS = "transformers"
    CUSTOM = "custom"


class ThinkingSwitch(StrEnum):
    """How a server is told to think or not."""

    CLOUD = "cloud"  # {"thinking": {"type": "enabled" | "disabled"}}
    TEMPLATE_KWARGS = "template_kwargs"  # {"chat_template_kwargs": {"enable_thinking": bool}}
    NONE = "none"  # no switch: the model decides


class VideoRoute(StrEnum):
    """How a server takes a video clip."""

    VIDEO_URL = "video_url"  # {"type": "video_url", "video_url": {"url": "data:video/mp4;base64,…"}} (vLLM, SGLang)
    INPUT_VIDEO = "input_video"  # {"type": "input_video", "input_video": {"data": base64, "format": "mp4"}} (llama.cpp)
    FRAMES = "frames"  # no inline video: sampled frames as pictures, their times in the text


# Fields outside the OpenAI schema that servers built on vLLM's sampling params accept.
LOCAL_SAMPLING_FIELDS = frozenset({"top_k", "repetition_penalty", "skip_special_tokens"})


@dataclass(frozen=True)
class ServerTraits:
    """Protocol facts about one server flavour."""

    label: str
    base_url: str
    models: tuple[str, ...]
    thinking_switch: ThinkingSwitch
    reasoning_fields: tuple[str, ...]
    extra_fields: frozenset[str]
    streams_done: bool
    stream_usage: bool
    needs_key: bool
    max_image_bytes: int | None = None
    max_image_side: int | None = None
    max_images: int | None = None
    # The cloud takes video only by URL (up to 200 MB), never inline: a clip goes there as frames.
    video: VideoRoute = VideoRoute.FRAMES


_CLOUD_MODELS = ("glm-4.6v", "glm-4.6v-flash", "glm-4.6v-flashx", "glm-4.5v", "glm-4.1v-thinking-flash")

TRAITS: dict[Flavor, ServerTraits] = {
    Flavor.ZAI: ServerTraits(
        label=_("Z.ai (international)"), base_url="https://api.z.ai/api/paas/v4", models=_CLOUD_MODELS,
        thinking_switch=ThinkingSwitch.CLOUD, reasoning_fields=("reasoning_content",),
        extra_fields=frozenset(), streams_done=True, stream_usage=False, needs_key=True,
        max_image_bytes=5 * 1024 * 1024, max_image_side=6000, max_images=50,
    ),
    Flavor.BIGMODEL: ServerTraits(
        label=_("BigModel (China)"), base_url="https://open.bigmodel.cn/api/paas/v4", models=_CLOUD_MODELS,
        thinking_switch=ThinkingSwitch.CLOUD, reasoning_fields=("reasoning_content",),
        extra_fields=frozenset(), streams_done=True, stream_usage=False, needs_key=True,
        max_image_bytes=5 * 1024 * 1024, max_image_side=6000, max_images=50,
    ),
    Flavor.VLLM: ServerTraits(
        label=_("vLLM (local)"), base_url="http://127.0.0.1:8000/v1", models=("zai-org/GLM-4.6V-Flash",),
        thinking_switch=ThinkingSwitch.TEMPLATE_KWARGS, reasoning_fields=("reasoning", "reasoning_content"),
        extra_fields=LOCAL_SAMPLING_FIELDS, streams_done=True, stream_usage=True, needs_key=False,
        video=VideoRoute.VIDEO_URL,
    ),
    Flavor.SGLANG: ServerTraits(
        label=_("SGLang (local)"), base_url="http://127.0.0.1:30000/v1", models=("zai-org/GLM-4.6V-Flash",),
        thinking_switch=ThinkingSwitch.TEMPLATE_KWARGS, reasoning_fields=("reasoning_content",),
        extra_fields=LOCAL_SAMPLING_FIELDS, streams_done=True, stream_usage=True, needs_key=False,
        video=VideoRoute.VIDEO_URL,
    ),
    Flavor.LLAMACPP: ServerTraits(
        label=_("llama.cpp (local)"), base_url="http://127.0.0.1:8080/v1", models=("GLM-4.6V-Flash",),
        thinking_switch=ThinkingSwitch.TEMPLATE_KWARGS, reasoning_fields=("reasoning_content",),
        extra_fields=frozenset({"top_k", "repetition_penalty"}), streams_done=True, stream_usage=True,
        needs_key=False, video=VideoRoute.INPUT_VIDEO,
    ),
    Flavor.TRANSFORMERS: ServerTraits(
        label=_("transformers serve (local)"), base_url="http://127.0.0.1:8000/v1", models=(),
        thinking_switch=ThinkingSwitch.TEMPLATE_KWARGS, reasoning_fields=("reasoning_content",),
        # Unknown fields are refused with HTTP 422, so nothing beyond the OpenAI schema is sent.
        extra_fields=frozenset(), streams_done=False, stream_usage=False, needs_key=False,
    ),
    Flavor.CUSTOM: ServerTraits(
        label=_("Custom OpenAI-compatible"), base_url="", models=(),
        thinking_switch=ThinkingSwitch.NONE, reasoning_fields=("reasoning_content", "reasoning"),
        extra_fields=frozenset(), streams_done=True, stream_usage=False, needs_key=False,
    ),
}


class ProfileError(ValueError):
    """A profile the user entered that cannot work, with the reason in words."""


@dataclass(frozen=True)
class EndpointProfile:
    """A server the user can ask: name, flavour, base URL, default model."""

    name: str
    flavor: Flavor
    base_url: str
    model: str
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    # Only for custom endpoints: which thinking switch the server understands.
    thinking_switch: ThinkingSwitch | None = None

    @property
    def traits(self) -> ServerTraits:
        """Protocol facts of this profile's flavour (with a custom thinking switch applied)."""
        traits = TRAITS[self.flavor]
        if self.thinking_switch is not None and self.thinking_switch != traits.thinking_switch:
            return replace(traits, thinking_switch=self.thinking_switch)
        return traits

    @property
    def keychain_entry(self) -> str:
        """Name of this profile's API key in the OS keychain."""
        return f"endpoint:{self.id}"

    def validated(self) -> EndpointProfile:
        """Return a cleaned copy, or raise ProfileError saying what to fix."""
        name = self.name.strip()
        url = self.base_url.strip().rstrip("/")
        if not name:
            raise ProfileError(_("Give the endpoint a name."))
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ProfileError(
                _("'{url}' is not a server address. Use a URL like http://127.0.0.1:8000/v1.").format(url=url)
            )
        if url.endswith("/chat/completions"):
            url = url[: -len("/chat/completions")]
        return replace(self, name=name, base_url=url, model=self.model.strip())

    def to_dict(self) -> dict[str, Any]:
        """The JSON form kept in the settings file (no secrets)."""
        data: dict[str, Any] = {
            "id": self.id, "name": self.name, "flavor": self.flavor.value,
            "base_url": self.base_url, "model": self.model,
        }
        if self.thinking_switch is not None:
            data["thinking_switch"] = self.thinking_switch.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EndpointProfile:
        """Read one profile from the settings file; raise ProfileError if it is malformed."""
        try:
            switch = data.get("thinking_switch")
            return cls(
                id=str(data["id"]), name=str(data["name"]), flavor=Flavor(data["flavor"]),
                base_url=str(data["base_url"]), model=str(data.get("model", "")),
                thinking_switch=ThinkingSwitch(switch) if switch else None,
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise ProfileError(_("An endpoint in the settings file is malformed: {error}").format(error=exc)) from exc


def preset(flavor: Flavor, *, name: str | None = None, base_url: str | None = None,
           model: str | None = None) -> EndpointProfile:
    """A new profile for `flavor` with its usual URL and first model filled in."""
    traits = TRAITS[flavor]
    return EndpointProfile(
        name=name or traits.label, flavor=flavor, base_url=base_url or traits.base_url,
        model=model if model is not None else (traits.models[0] if traits.models else ""),
    )


def default_profiles() -> list[EndpointProfile]:
    """What a fresh install offers: the two clouds and a local vLLM server."""
    return [preset(Flavor.ZAI), preset(Flavor.BIGMODEL), preset(Flavor.VLLM)]


class ProfileBook:
    """The user's endpoint profiles and which one is active, kept in the settings file."""

    def __init__(self, settings: SettingsStore) -> None:
        self._settings = settings
        self.skipped: list[str] = []
        self._profiles: list[EndpointProfile] = []
        raw = settings.get("endpoint.profiles")
        if not raw and not settings.path.exists():
            self._profiles = default_profiles()
            self._save()
            return
        for item in raw:
            try:
                self._profiles.append(EndpointProfile.from_dict(item))
            except ProfileError as exc:
                self.skipped.append(str(exc))

    def all(self) -> list[EndpointProfile]:
        """Every profile, in the user's order."""
        return list(self._profiles)

    def get(self, profile_id: str) -> EndpointProfile | None:
        """The profile with this id, if any."""
        return next((p for p in self._profiles if p.id == profile_id), None)

    def active(self) -> EndpointProfile | None:
        """The profile new questions go to (the first one if none was chosen)."""
        chosen = self.get(self._settings.get("endpoint.active"))
        return chosen or (self._profiles[0] if self._profiles else None)

    def active_model(self) -> str:
        """The model new questions ask for: the chosen one, else the active profile's default."""
        profile = self.active()
        chosen = self._settings.get("endpoint.model")
        if profile is None:
            return ""
        return chosen if chosen and self._settings.get("endpoint.active") == profile.id else profile.model

    def set_active(self, profile_id: str, model: str = "") -> None:
        """Make `profile_id` (and optionally a model of it) the target of new questions."""
        if self.get(profile_id) is None:
            raise ProfileError(_("That endpoint no longer exists."))
        self._settings.set("endpoint.active", profile_id)
        self._settings.set("endpoint.model", model)

    def upsert(self, profile: EndpointProfile) -> EndpointProfile:
        """Add `profile` or replace the one with its id; return the validated profile."""
        clean = profile.validated()
        for index, existing in enumerate(self._profiles):
            if existing.id == clean.id:
                self._profiles[index] = clean
                break
        else:
            self._profiles.append(clean)
        self._save()
        return clean

    def remove(self, profile_id: str) -> None:
        """Delete a profile (its keychain entry is the caller's to delete)."""
        self._profiles = [p for p in self._profiles if p.id != profile_id]
        self._save()

    def _save(self) -> None:
        self._settings.set("endpoint.profiles", [p.to_dict() for p in self._profiles])
