"""Jinja2 templates for Areion: autoescaping, async and streamed rendering, url_for, static_url."""

from .context import AsyncProcessorError, ContextProcessor
from .engine import DefaultEngine, render_template_async, stream_template
from .hooks import TemplatesPlugin
from .loaders import TemplateLoader, TemplateNotFoundError
from .settings import PackageTemplates, TemplatesSettings

__all__ = [
    "AsyncProcessorError",
    "ContextProcessor",
    "DefaultEngine",
    "PackageTemplates",
    "TemplateLoader",
    "TemplateNotFoundError",
    "TemplatesPlugin",
    "TemplatesSettings",
    "render_template_async",
    "stream_template",
]
