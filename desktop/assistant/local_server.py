"""Launch a planned local server and make it the endpoint new questions go to.

The glue between the backends (plan → command line → supervised process) and the endpoint
profiles: the server gets a free port on 127.0.0.1 and a fresh random key, and once it answers its
health check one profile — always the same id, updated on every launch — points at it and is made
active. The key is held for the session only (a new one is made at each launch), never written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from desktop.backends.catalog import Engine
from desktop.backends.engines import build_command, request_model_name, supports_api_key
from desktop.backends.log_advice import classify
from desktop.backends.planner import Plan
from desktop.backends.supervisor import ServerCommand, ServerSupervisor, SupervisorEvent, free_port, new_api_key
from desktop.config.profiles import EndpointProfile, Flavor, ProfileBook
from desktop.config.secrets import SecretStore
from desktop.i18n import _

LOCAL_PROFILE_ID = "local-server"
DEFAULT_READY_TIMEOUT_S = 900.0  # large models take minutes to load and compile
ENGINE_FLAVOR = {Engine.VLLM: Flavor.VLLM, Engine.SGLANG: Flavor.SGLANG, Engine.LLAMA_CPP: Flavor.LLAMACPP,
                 Engine.TRANSFORMERS: Flavor.TRANSFORMERS}


@dataclass
class LocalServer:
    """A running local server and the endpoint profile that points at it."""

    supervisor: ServerSupervisor
    command: ServerCommand
    profile: EndpointProfile


async def launch_local_server(plan: Plan, model_path: str, *, profiles: ProfileBook, secrets: SecretStore,
                              logs_dir: Path, state_path: Path | None = None, executable: str | Path | None = None,
                              served_name: str | None = None, extra_env: Mapping[str, str] | None = None,
                              on_event: Callable[[SupervisorEvent], None] | None = None,
                              ready_timeout_s: float = DEFAULT_READY_TIMEOUT_S) -> LocalServer:
    """Start `plan`'s engine on `model_path`, wait until it is ready, then point the active endpoint at it.

    Raises the supervisor's `ServerStartFailed` (with the log's advice and tail) when the server
    exits or is not ready in time; the process is stopped then, so nothing is left running.
    """
    engine = plan.engine
    port = free_port()
    key = new_api_key() if supports_api_key(engine) else None
    argv, env = build_command(plan, model_path, port=port, api_key=key, executable=executable,
                              served_name=served_name)
    command = ServerCommand(argv=tuple(argv), port=port, engine=engine.value, api_key=key,
                            env={**env, **(extra_env or {})}, model=plan.model.id)
    supervisor = ServerSupervisor(command, logs_dir / f"{plan.model.id}-{engine.value}.log", on_event=on_event,
                                  classify=lambda text: classify(text, engine), state_path=state_path)
    await supervisor.start()
    try:
        await supervisor.wait_ready(ready_timeout_s)
    except BaseException:
        await supervisor.stop()
        raise
    profile = profiles.upsert(EndpointProfile(
        name=_("This computer: {model} ({engine})").format(model=plan.model.name, engine=engine.label),
        flavor=ENGINE_FLAVOR[engine], base_url=command.base_url,
        model=request_model_name(plan, model_path, served_name), id=LOCAL_PROFILE_ID))
    if key is not None:
        secrets.set_for_session(profile.keychain_entry, key)
    profiles.set_active(profile.id, profile.model)
    return LocalServer(supervisor, command, profile)
