"""GLM-V Desktop: a system-tray assistant for the GLM-V vision-language models."""

__version__ = "0.1.0"
APP_ID = "glmv-desktop"
APP_NAME = "GLM-V Desktop"
# The reverse-DNS id desktops know the app by: the installed .desktop file's name (without
# ".desktop"), the Wayland app id, and the id the desktop portal's registry requires.
DESKTOP_ID = "io.github.glmv_desktop.GlmvDesktop"
