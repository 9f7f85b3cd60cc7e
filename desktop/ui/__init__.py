"""Every widget: tray, chat window, composer, message view, settings."""
