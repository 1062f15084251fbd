"""The Textual views: the app, its messages, panes, screens, and the one place text becomes renderables."""
