"""Server-rendered pages (jinja2): the contact-facing unsubscribe and preference pages and,
later, the console. Little or no JavaScript; plain forms."""

from __future__ import annotations

from pathlib import Path

from fastapi.templating import Jinja2Templates

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
STATIC_DIR = HERE / "static"
