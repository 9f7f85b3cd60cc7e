"""Image-only GLM-4.1V processor, shipped inside the tiny model folder and loaded with trust_remote_code."""

from typing import Any

from transformers import Glm4vProcessor
from transformers.processing_utils import ProcessorMixin


class TinyGlmvProcessor(Glm4vProcessor):
    """Glm4vProcessor without the video processor, which needs torchvision."""

    def __init__(self, image_processor: Any = None, tokenizer: Any = None, chat_template: str | None = None) -> None:
        """Set up the GLM image and video token ids as Glm4vProcessor does, minus the video processor."""
        self.image_token = getattr(tokenizer, "image_token", "<|image|>")
        self.video_token = getattr(tokenizer, "video_token", "<|video|>")
        self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
        self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
        ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)
        self.video_start_id = tokenizer.convert_tokens_to_ids("<|begin_of_video|>")
        self.video_end_id = tokenizer.convert_tokens_to_ids("<|end_of_video|>")
