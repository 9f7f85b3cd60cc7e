"""What every window that asks a question needs: the endpoint to ask and the options to ask with."""

from __future__ import annotations

from desktop.chat.attachments import Attachment, fit
from desktop.chat.request import AskOptions, sending_for
from desktop.config.profiles import EndpointProfile, ProfileBook
from desktop.config.settings import SettingsStore
from desktop.errors import UserFacingError
from desktop.i18n import _


def ask_options(settings: SettingsStore, model: str, *, thinking: bool | None = None,
                token_budget: int | None = None) -> AskOptions:
    """The options for the next question from the settings; a window passes its own model, and its
    thinking switch and image budget where it shows them."""
    return AskOptions(
        model=model.strip(),
        thinking=settings.get("chat.thinking") if thinking is None else thinking,
        token_budget=settings.get("images.token_budget") if token_budget is None else token_budget,
        image_format=settings.get("images.format"),
        max_tokens=settings.get("chat.max_tokens") or None, temperature=settings.get("chat.temperature"),
        top_p=settings.get("chat.top_p"), top_k=settings.get("chat.top_k"),
        repetition_penalty=settings.get("chat.repetition_penalty"), send_clean=settings.get("annotations.send_clean"),
    )


def endpoint_to_ask(profiles: ProfileBook, options: AskOptions, where_to_pick_a_model: str) -> EndpointProfile:
    """The active endpoint, or UserFacingError saying what to set up first (`where_to_pick_a_model`
    is the hint for a missing model, in the asking window's words)."""
    return ready_to_ask(profiles.active(), options, where_to_pick_a_model)


def ready_to_ask(profile: EndpointProfile | None, options: AskOptions, where_to_pick_a_model: str) -> EndpointProfile:
    """`profile`, if a question can be sent to it with `options`; else UserFacingError saying what to set up."""
    if profile is None:
        raise UserFacingError(_("No endpoint is set up."), _("Add one in Settings → Endpoints."))
    if not options.model:
        raise UserFacingError(_("No model is chosen for '{name}'.").format(name=profile.name), where_to_pick_a_model)
    return profile


def check_fits(attachments: list[Attachment], options: AskOptions, profile: EndpointProfile) -> None:
    """Raise UserFacingError, before anything is sent, when the attachments hold more pictures than the
    endpoint takes in one request or more tokens than the model reads, saying what to do."""
    if not attachments:
        return
    problem = fit(attachments, sending_for(profile, options), max_images=profile.traits.max_images,
                  model=options.model).problem()
    if problem is not None:
        raise problem
