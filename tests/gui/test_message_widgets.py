"""Small pieces of the message widgets."""

from __future__ import annotations

import pytest

from desktop.ui.message_widgets import short_model_name


@pytest.mark.parametrize(("model", "shown"), [
    ("/srv/models/GLM-V-tiny", "GLM-V-tiny"), ("/srv/models/GLM-V-tiny/", "GLM-V-tiny"),
    ("C:\\models\\glm-4.6v-flash", "glm-4.6v-flash"), ("zai-org/GLM-4.6V-Flash", "zai-org/GLM-4.6V-Flash"),
    ("glm-4.6v", "glm-4.6v"),
])
def test_model_paths_are_shown_by_their_folder_name(model: str, shown: str) -> None:
    assert short_model_name(model) == shown
