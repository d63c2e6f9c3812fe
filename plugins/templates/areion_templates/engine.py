"""``DefaultEngine``: Jinja2 rendering for Areion, safe by default and fast in production.

One engine per app. It owns one Jinja2 ``Environment`` (synchronous, for ``render``) and an
overlay of it with ``enable_async=True`` (for ``render_async`` and ``stream``). The overlay
shares the loader, globals, filters and tests, but compiles templates into coroutines, so it
keeps its own template cache and its own bytecode-cache files. Synchronous rendering stays
on the plain environment because Jinja2's async mode is slower for templates that never
await, and because ``Template.render`` of an async environment calls ``asyncio.run``, which
fails inside a running loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import jinja2

from areion_core import ConfigError, HttpRequest, HttpResponse, StreamingResponse, Telemetry

from .context import ContextProcessor, build_context, build_context_async
from .error_page import describe, error_page
from .hookspecs import ensure_hookspecs
from .loaders import TemplateLoader
from .settings import SECTION, PackageTemplates, TemplatesSettings, validate_options
from .static_urls import StaticUrls
from .suffixes import media_type_for, select_autoescape

if TYPE_CHECKING:
    from areion_core import App

logger = logging.getLogger("areion.templates")


_DICT_ATTRIBUTES = frozenset(dir(dict))
_NO_TELEMETRY = Telemetry()


class FastAttributeEnvironment(jinja2.Environment):
    """A Jinja2 environment whose ``row.field`` on a plain dict skips a raised AttributeError.

    Jinja2 resolves ``{{ row.name }}`` by trying ``getattr(row, "name")`` first and falling back
    to ``row["name"]``; for the dicts most contexts are made of, that raises and catches an
    AttributeError on every access. For an exact ``dict`` and a name that is not a dict
    attribute the outcome is known in advance, so look the key up directly. Same result in
    every case (``row.items`` is still the method); about twice as fast on a 100-row table.
    """

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)


class DefaultEngine:
    """Renders Jinja2 templates into responses; the engine behind ``request.render_template``.

    ``DefaultEngine("templates")`` keeps the 1.x API. Keyword arguments override the
    ``[plugins.templates]`` config section key by key (``strict`` is ``strict_undefined``);
    options left at ``None`` follow the app's development mode when the app starts. Globals in
    every template: ``request``, ``url_for(route_name, **params)``, ``static_url(path)``.
    """

    def __init__(
        self,
        templates_dir: str | os.PathLike[str] | None = None,
        *,
        directories: Iterable[str | os.PathLike[str]] | None = None,
        packages: Iterable[str | tuple[str, str]] | None = None,
        auto_reload: bool | None = None,
        strict: bool | None = None,
        error_page: bool | None = None,
        bytecode_cache: bool | None = None,
        bytecode_cache_dir: str | os.PathLike[str] | None = None,
        autoescape: bool | Iterable[str] | None = None,
        cache_size: int | None = None,
        stream_chunk_size: int | None = None,
        trim_blocks: bool | None = None,
        lstrip_blocks: bool | None = None,
        extensions: Iterable[str] | None = None,
        filters: Mapping[str, Callable[..., Any]] | None = None,
        globals: Mapping[str, Any] | None = None,
        tests: Mapping[str, Callable[..., bool]] | None = None,
        context_processors: Iterable[ContextProcessor] = (),
    ) -> None:
        given: dict[str, Any] = {
            "auto_reload": auto_reload, "strict_undefined": strict, "error_page": error_page,
            "bytecode_cache": bytecode_cache, "bytecode_cache_dir": bytecode_cache_dir,
            "autoescape": None if autoescape is None or isinstance(autoescape, bool) else list(autoescape),
            "cache_size": cache_size, "stream_chunk_size": stream_chunk_size,
            "trim_blocks": trim_blocks, "lstrip_blocks": lstrip_blocks,
            "extensions": None if extensions is None else list(extensions),
            "packages": None if packages is None else list(packages),
        }
        if isinstance(autoescape, bool):
            given["autoescape"] = autoescape
        if templates_dir is not None or directories is not None:
            given["directories"] = ([os.fspath(templates_dir)] if templates_dir is not None else []) + \
                [os.fspath(d) for d in directories or ()]
        #: The options given to the constructor; they win over the config section.
        self.explicit = validate_options({k: v for k, v in given.items() if v is not None}, "DefaultEngine")
        self._filters = dict(filters or {})
        self._globals = dict(globals or {})
        self._tests = dict(tests or {})
        self._own_processors: list[ContextProcessor] = list(context_processors)
        self._processors: tuple[ContextProcessor, ...] = tuple(self._own_processors)
        self._extra_packages: list[PackageTemplates] = []
        self.app: App | None = None
        self.settings: TemplatesSettings = TemplatesSettings().override(self.explicit).resolved(False)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._env: jinja2.Environment | None = None
        self._async_env: jinja2.Environment | None = None
        self.loader: TemplateLoader | None = None
        # Production only (auto_reload off): name -> Template without Jinja2's locked LRU.
        self._templates: dict[str, jinja2.Template] | None = None
        self._async_templates: dict[str, jinja2.Template] | None = None
        self._media_types: dict[str, str] = {}

    # --- lifecycle (called by the core) ------------------------------------------------------
    def startup(self, app: App) -> None:
        """Bind to ``app`` (the core calls this when the app starts, in every worker)."""
        self.bind(app)
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None

    def shutdown(self, app: App) -> None:
        """Forget the event loop (the core calls this when the app stops)."""
        self._loop = None

    def bind(self, app: App) -> None:
        """Read the app's config and mode, collect plugins' packages and processors, build Jinja2.

        Options: constructor arguments, then ``[plugins.templates]``, then defaults; ``None``
        options follow ``app.development``.
        """
        self.app = app
        section = TemplatesSettings.from_section(app.config.section(SECTION))
        settings = section.override(self.explicit).resolved(bool(app.development))
        packages = list(settings.packages) + self._extra_packages
        hook_processors: list[ContextProcessor] = []
        pm = getattr(app, "pm", None)
        if pm is not None:
            ensure_hookspecs(pm)
            for found in pm.hook.template_packages(app=app):
                packages.extend(PackageTemplates.parse("template_packages", p) for p in found or ())
            for found in pm.hook.template_context_processors(app=app):
                hook_processors.extend(found or ())
        self._processors = tuple(self._own_processors) + tuple(hook_processors)
        self.settings = settings
        self._build(settings, packages, app)

    def _ensure_env(self) -> jinja2.Environment:
        if self._env is None:
            # Used without an app (a script, a test): production defaults, no url_for.
            self._build(self.settings, list(self.settings.packages) + self._extra_packages, None)
        assert self._env is not None
        return self._env

    def _build(self, settings: TemplatesSettings, packages: list[PackageTemplates], app: App | None) -> None:
        unique = list(dict.fromkeys(packages))
        loader = TemplateLoader(settings.directories, [])
        for spec in unique:
            try:
                loader.add_package(spec)
            except (ImportError, ValueError) as exc:
                raise ConfigError(f"plugins.{SECTION}.packages", f"{spec.package}:{spec.path}",
                                  f"an importable package with a {spec.path!r} folder ({exc})") from exc
        sync_cache, async_cache = _bytecode_caches(settings)
        env = FastAttributeEnvironment(
            loader=loader,
            autoescape=select_autoescape(settings.autoescape),
            undefined=jinja2.StrictUndefined if settings.strict_undefined else jinja2.Undefined,
            auto_reload=bool(settings.auto_reload),
            cache_size=settings.cache_size,
            bytecode_cache=sync_cache,
            trim_blocks=settings.trim_blocks,
            lstrip_blocks=settings.lstrip_blocks,
            extensions=list(settings.extensions),
        )
        env.globals["url_for"] = self._url_for_in
        env.globals["static_url"] = _static_url_in(StaticUrls(app, bool(settings.auto_reload))) if app is not None \
            else _unbound_static_url
        env.globals.update(self._globals)
        env.filters.update(self._filters)
        env.tests.update(self._tests)
        self.loader = loader
        self._env = env
        # The overlay shares globals, filters and tests (the same dict objects) with env.
        self._async_env = env.overlay(enable_async=True, bytecode_cache=async_cache)
        self._templates = None if settings.auto_reload else {}
        self._async_templates = None if settings.auto_reload else {}

    # --- registration ------------------------------------------------------------------------
    @property
    def env(self) -> jinja2.Environment:
        """The Jinja2 environment (built on first use if the engine is not bound to an app yet)."""
        return self._ensure_env()

    @property
    def async_env(self) -> jinja2.Environment:
        """The async overlay of ``env`` used by ``render_async`` and ``stream``."""
        self._ensure_env()
        assert self._async_env is not None
        return self._async_env

    def context_processor(self, func: ContextProcessor) -> ContextProcessor:
        """Register ``func(request) -> Mapping`` (sync or async) for every render; usable as a decorator."""
        self._own_processors.append(func)
        self._processors = (*self._processors, func)
        return func

    def add_package(self, package: str, path: str = "templates") -> None:
        """Serve templates from ``package``'s ``path`` folder as ``"package:name"`` (and as fallbacks)."""
        spec = PackageTemplates.parse("add_package", (package, path))
        self._extra_packages.append(spec)
        if self.loader is not None:
            self.loader.add_package(spec)

    # --- rendering ---------------------------------------------------------------------------
    def get_template(self, template_name: str) -> jinja2.Template:
        """The compiled (synchronous) template; raises ``TemplateNotFoundError``."""
        cache = self._templates
        if cache is not None:
            template = cache.get(template_name)
            if template is not None:
                return template
        template = self._ensure_env().get_template(template_name)
        cache = self._templates  # _ensure_env may have just created it
        if cache is not None:
            cache[template_name] = template
        return template

    def get_async_template(self, template_name: str) -> jinja2.Template:
        """The compiled template from the async environment (for ``render_async``/``generate_async``)."""
        cache = self._async_templates
        if cache is not None:
            template = cache.get(template_name)
            if template is not None:
                return template
        template = self.async_env.get_template(template_name)
        cache = self._async_templates
        if cache is not None:
            cache[template_name] = template
        return template

    def media_type(self, template_name: str) -> str:
        """The Content-Type a template renders, from its suffix (``.html`` → text/html; charset=utf-8)."""
        media = self._media_types.get(template_name)
        if media is None:
            media = self._media_types[template_name] = media_type_for(template_name)
        return media

    def render_to_string(
        self, template_name: str, context: Mapping[str, Any] | None = None, *, request: Any = None,
    ) -> str:
        """Render synchronously to a string (e-mails, fragments)."""
        template = self.get_template(template_name)
        processors = self._processors
        if processors:
            ctx = build_context(processors, context, request, self._loop)
        elif context:
            ctx = {"request": request, **context}
        else:
            ctx = {"request": request}
        with self._telemetry().span("template.render", template=template_name):
            return template.render(ctx)

    def render(
        self, template_name: str, context: Mapping[str, Any] | None = None, *,
        request: HttpRequest | None = None, status_code: int = 200,
        headers: Mapping[str, object] | None = None, media_type: str | None = None,
    ) -> HttpResponse:
        """Render a template into an ``HttpResponse`` (what ``request.render_template`` calls)."""
        body = self.render_to_string(template_name, context, request=request).encode()
        return HttpResponse(body, status_code, media_type or self.media_type(template_name), headers)

    async def render_to_string_async(
        self, template_name: str, context: Mapping[str, Any] | None = None, *, request: Any = None,
    ) -> str:
        """Render with Jinja2's async mode: templates may call async functions (auto-awaited)."""
        template = self.get_async_template(template_name)
        ctx = await build_context_async(self._processors, context, request)
        with self._telemetry().span("template.render", template=template_name):
            return await template.render_async(ctx)

    def _telemetry(self) -> Telemetry:
        """The app's recorder (``app.telemetry``), read when rendering; the null one before startup."""
        return self.app.telemetry if self.app is not None else _NO_TELEMETRY

    async def render_async(
        self, template_name: str, context: Mapping[str, Any] | None = None, *,
        request: HttpRequest | None = None, status_code: int = 200,
        headers: Mapping[str, object] | None = None, media_type: str | None = None,
    ) -> HttpResponse:
        """``render`` for async handlers: async context processors and async template calls are awaited."""
        text = await self.render_to_string_async(template_name, context, request=request)
        return HttpResponse(text.encode(), status_code, media_type or self.media_type(template_name), headers)

    def stream(
        self, template_name: str, context: Mapping[str, Any] | None = None, *,
        request: HttpRequest | None = None, status_code: int = 200,
        headers: Mapping[str, object] | None = None, media_type: str | None = None,
        chunk_size: int | None = None,
    ) -> StreamingResponse:
        """A chunked response rendered while it is sent (``generate_async``), for large pages.

        The template is loaded (and a missing one raises) before this returns; context
        processors and the template run as the body is sent, in chunks of about
        ``chunk_size`` characters (``stream_chunk_size`` by default). An error after the
        first chunk cannot change the status any more: the connection is closed instead.
        """
        template = self.get_async_template(template_name)
        size = chunk_size or self.settings.stream_chunk_size
        processors = self._processors

        async def body() -> AsyncIterator[bytes]:
            ctx = await build_context_async(processors, context, request)
            pieces = template.generate_async(ctx)
            buffer: list[str] = []
            buffered = 0
            try:
                async for piece in pieces:
                    buffer.append(piece)
                    buffered += len(piece)
                    if buffered >= size:
                        yield "".join(buffer).encode()
                        buffer.clear()
                        buffered = 0
                if buffer:
                    yield "".join(buffer).encode()
            finally:
                await pieces.aclose()

        return StreamingResponse(body(), status_code, media_type or self.media_type(template_name), headers)

    # --- errors and tools --------------------------------------------------------------------
    def error_response(self, request: HttpRequest, exc: BaseException) -> HttpResponse | None:
        """The development error page for an exception raised by a template, else None."""
        if not self.settings.error_page:
            return None
        loader = self.loader
        info = describe(exc, loader.name_for if loader is not None else (lambda _: None))
        if info is None:
            return None
        where = info.name or info.filename or "?"
        logger.error("template error in %s (line %s) for %s %s", where, info.lineno, request.method,
                     request.raw_path, exc_info=exc)
        return error_page(info, exc, request.method, request.raw_path)

    def compile_all(self) -> tuple[list[str], list[tuple[str, str]]]:
        """Compile every template both ways (fills the bytecode cache); (compiled, [(name, error)])."""
        env = self._ensure_env()
        assert self.loader is not None and self._async_env is not None
        compiled: list[str] = []
        errors: list[tuple[str, str]] = []
        for name in self.loader.list_templates():
            try:
                env.get_template(name)
                self._async_env.get_template(name)
            except UnicodeDecodeError:
                continue  # not a text file (an image next to the templates): not a template
            except jinja2.TemplateSyntaxError as exc:
                errors.append((name, f"line {exc.lineno}: {exc.message}"))
                continue
            compiled.append(name)
        return compiled, errors

    def _url_for(self, route_name: str, /, *, request: Any = None, **params: Any) -> str:
        if self.app is None:
            raise RuntimeError("url_for() needs the engine to be bound to an app (it is once the app starts)")
        if isinstance(request, HttpRequest):
            # Under the request's root path: a trusted proxy's X-Forwarded-Prefix, or the app's.
            return self.app.url_for(route_name, request=request, **params)
        return self.app.url_for(route_name, **params)

    @property
    def _url_for_in(self) -> Callable[..., str]:
        """``url_for`` as a template global: it reads the ``request`` of the render's context."""
        url_for = self._url_for

        @jinja2.pass_context
        def url_for_in(context: jinja2.runtime.Context, route_name: str, /, **params: Any) -> str:
            return url_for(route_name, request=context.get("request"), **params)

        return url_for_in


def _static_url_in(urls: StaticUrls) -> Callable[..., str]:
    """``static_url`` as a template global: under the root path of the render's ``request``."""

    @jinja2.pass_context
    def static_url(context: jinja2.runtime.Context, path: str) -> str:
        request = context.get("request")
        return urls(path, request.root_path if isinstance(request, HttpRequest) else None)

    return static_url


def _unbound_static_url(path: str) -> str:
    raise RuntimeError("static_url() needs the engine to be bound to an app (it is once the app starts)")


def _bytecode_caches(settings: TemplatesSettings) -> tuple[jinja2.BytecodeCache | None, jinja2.BytecodeCache | None]:
    """Bytecode caches for the sync and async environments, or (None, None) when off.

    Jinja2 keys a cached template by name, file and source checksum only, not by how it was
    compiled; autoescaping is decided at compile time, so without the fingerprint in the file
    name a change of ``autoescape`` would keep serving code compiled under the old setting.
    The sync and async environments compile differently too, hence two file patterns.
    """
    if not settings.bytecode_cache:
        return None, None
    directory = settings.bytecode_cache_dir
    if directory is not None:
        # 0700: loading bytecode is running code; nobody else may write here.
        os.makedirs(directory, mode=0o700, exist_ok=True)
    fingerprint = hashlib.sha256(repr((
        jinja2.__version__, settings.autoescape, settings.extensions, settings.trim_blocks,
        settings.lstrip_blocks,
    )).encode()).hexdigest()[:12]
    return (
        jinja2.FileSystemBytecodeCache(directory, f"__areion_{fingerprint}_sync_%s.cache"),
        jinja2.FileSystemBytecodeCache(directory, f"__areion_{fingerprint}_async_%s.cache"),
    )


async def render_template_async(
    request: HttpRequest, template_name: str, context: Mapping[str, Any] | None = None, **kwargs: Any,
) -> HttpResponse:
    """``await render_template_async(request, "page.html", ctx)``: the async twin of ``request.render_template``."""
    return await _engine_of(request).render_async(template_name, context, request=request, **kwargs)


def stream_template(
    request: HttpRequest, template_name: str, context: Mapping[str, Any] | None = None, **kwargs: Any,
) -> StreamingResponse:
    """``return stream_template(request, "report.html", ctx)``: a chunked, streamed render."""
    return _engine_of(request).stream(template_name, context, request=request, **kwargs)


def _engine_of(request: HttpRequest) -> DefaultEngine:
    engine = request.app.template_engine if request.app is not None else None
    if not isinstance(engine, DefaultEngine):
        # RuntimeError like the core's render_template without an engine: the app's setup is
        # what is wrong, not an argument.
        raise RuntimeError(
            "this needs areion-templates' DefaultEngine as the app's template engine: enable the "
            "'templates' plugin or pass with_engine(DefaultEngine(...))"
        )
    return engine
