"""GLM-V Desktop: a system-tray assistant for the GLM-V vision-language models."""

__version__ = "0.1.0"
APP_ID = "glmv-desktop"
APP_NAME = "GLM-V Desktop"
